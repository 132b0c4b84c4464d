package izipay_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/izipay"
	"github.com/kassa-pay/kassa/internal/store"
)

// Token/Generate answers exactly Izipay's shape: top-level code, message,
// response; response token, userOrg, userScoring and nothing else (a
// strictly typed client fails on unknown properties). The token is an
// HS256 JWT with Izipay's claims, its exp 900 seconds after iat.
func TestTokenGenerateExactShape(t *testing.T) {
	g := start(t, store.SQLite)
	req, _ := http.NewRequest("POST", g.url+"/security/v1/Token/Generate",
		strings.NewReader(g.tokenBody("ONTE176431114", "1.00", g.creds.PublicKey)))
	req.Header.Set("Content-Type", "application/json")
	req.Header["transactionId"] = []string{"16881500822750"}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var out map[string]json.RawMessage
	if err := json.Unmarshal(raw, &out); err != nil || res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s %s", res.StatusCode, res.Header.Get("Content-Type"), raw)
	}
	if keys := sortedKeys(out); !slices.Equal(keys, []string{"code", "message", "response"}) ||
		string(out["code"]) != `"00"` || string(out["message"]) != `"OK"` {
		t.Fatalf("answer %s", raw)
	}
	var resp map[string]any
	json.Unmarshal(out["response"], &resp)
	if keys := sortedKeys(resp); !slices.Equal(keys, []string{"token", "userOrg", "userScoring"}) {
		t.Fatalf("response keys %v: %s", keys, raw)
	}
	parts := strings.Split(resp["token"].(string), ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWT", resp["token"])
	}
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	body, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		MerchantCode, TransactionID, TokenID string
		OrderNumber                          string `json:"OrderNumber"`
		Amount                               string `json:"Amount"`
		Nbf, Iat, Exp                        int64
	}
	if err := json.Unmarshal(body, &claims); err != nil || string(hdr) != `{"alg":"HS256","typ":"JWT"}` {
		t.Fatalf("JWT header %s claims %s: %v", hdr, body, err)
	}
	if claims.MerchantCode != g.creds.MerchantCode || claims.TransactionID != "16881500822750" || claims.OrderNumber != "ONTE176431114" ||
		claims.Amount != "1.00" || len(claims.TokenID) != 36 || claims.Exp-claims.Iat != 900 || claims.Nbf != claims.Iat ||
		time.Since(time.Unix(claims.Iat, 0)).Abs() > time.Minute {
		t.Fatalf("claims %s", body)
	}
	// The token opens the form it was made for.
	if status, out := g.loadForm(t, resp["token"].(string), "16881500822750", "ONTE176431114", "1.00", "redirect"); status != 200 || out["code"] != "00" {
		t.Fatalf("LoadForm with the JWT: %d %v", status, out)
	}
	// A JWT-shaped token Kassa did not issue (here, one with its claims
	// but another signature) opens nothing.
	forged := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	if status, out := g.loadForm(t, forged, "16881500822750", "ONTE176431114", "1.00", "redirect"); status != 401 || out["code"] != "T09" {
		t.Fatalf("forged token: %d %v, want 401 T09", status, out)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	slices.Sort(k)
	return k
}

// The IPN goes through the notification engine: a urlIPN that fails is
// retried until it answers 2xx, every attempt with the transactionId
// header and the same signed payload.
func TestIPNRetried(t *testing.T) {
	dialects(t, func(t *testing.T, g *kassaGW) {
		g.ipnFail.Store(2)
		tid, order := "300000000001", "ORDER30001"
		tok := g.token(t, tid, order, "10.50")
		_, out := g.loadForm(t, tok, tid, order, "10.50", "redirect")
		secret := out["response"].(map[string]any)["clientSecret"].(string)
		body, _ := json.Marshal(map[string]any{"client_secret": secret, "card": map[string]any{
			"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
		res, err := http.Post(g.url+"/checkout/v1/confirm", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		ipn := g.waitFor(t, "IPN", &g.ipns)
		g.mu.Lock()
		failed := slices.Clone(g.ipnFailed)
		g.mu.Unlock()
		if len(failed) != 2 {
			t.Fatalf("%d refused attempts before the IPN was acknowledged, want 2", len(failed))
		}
		var want izipay.Result
		json.Unmarshal(ipn.body, &want)
		for _, f := range append(failed, ipn) {
			var r izipay.Result
			if err := json.Unmarshal(f.body, &r); err != nil || f.transactionID != tid || izipay.Verify(g.creds.HashKey, &r) != nil ||
				r.PayloadHTTP != want.PayloadHTTP {
				t.Fatalf("attempt: header %q, %v, body %s", f.transactionID, err, f.body)
			}
		}
	})
}

// Which answers acknowledge an IPN is an open choice: any 2xx by default,
// only 200 with Only200.
func TestIPNAcknowledgement(t *testing.T) {
	var f izipay.Format
	if !f.Delivered(200, nil, nil) || !f.Delivered(204, nil, nil) || f.Delivered(302, nil, nil) || f.Delivered(500, nil, nil) {
		t.Fatal("default: any 2xx acknowledges")
	}
	f.Only200 = true
	if !f.Delivered(200, nil, nil) || f.Delivered(204, nil, nil) {
		t.Fatal("Only200: 200 alone acknowledges")
	}
}

// language.init picks the form's language: ENG → English, ESP (and no
// value) → Spanish; anything else is a config error (V01) naming it.
func TestLoadFormLanguage(t *testing.T) {
	g := start(t, store.SQLite)
	for i, c := range []struct{ init, locale, lang string }{{"ENG", "en", `lang="en"`}, {"ESP", "es", `lang="es"`}, {"", "es", `lang="es"`}} {
		tid, order := fmt.Sprintf("40000000000%d", i), fmt.Sprintf("ORDER4000%d", i)
		tok := g.token(t, tid, order, "10.50")
		cfg := map[string]any{"transactionId": tid, "action": "pay", "merchantCode": g.creds.MerchantCode,
			"order":    map[string]any{"orderNumber": order, "currency": "PEN", "amount": "10.50"},
			"render":   map[string]any{"typeForm": "embedded", "container": "#x"},
			"language": map[string]any{"init": c.init, "showControlMultiLang": true}}
		b, _ := json.Marshal(map[string]any{"authorization": tok, "config": cfg})
		status, out := g.post(t, "/payments/v1/form", map[string]string{"Origin": g.shopURL}, string(b))
		resp, _ := out["response"].(map[string]any)
		if status != 200 || resp["locale"] != c.locale || !strings.HasSuffix(resp["formUrl"].(string), "?locale="+c.locale) {
			t.Fatalf("language.init %q: %d %v", c.init, status, out)
		}
		res, err := http.Get(resp["formUrl"].(string))
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.Contains(string(page), c.lang) {
			t.Fatalf("language.init %q: the form is not %s", c.init, c.lang)
		}
	}
	tok := g.token(t, "400000000009", "ORDER40009", "10.50")
	cfg := map[string]any{"transactionId": "400000000009", "merchantCode": g.creds.MerchantCode,
		"order":    map[string]any{"orderNumber": "ORDER40009", "currency": "PEN", "amount": "10.50"},
		"render":   map[string]any{"typeForm": "embedded"},
		"language": map[string]any{"init": "FRA"}}
	b, _ := json.Marshal(map[string]any{"authorization": tok, "config": cfg})
	status, out := g.post(t, "/payments/v1/form", map[string]string{"Origin": g.shopURL}, string(b))
	errs, _ := out["errors"].([]any)
	if status != 400 || out["code"] != "V01" || len(errs) == 0 || errs[0].(map[string]any)["field"] != "language.init" {
		t.Fatalf("language.init FRA: %d %v", status, out)
	}
}
