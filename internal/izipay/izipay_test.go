package izipay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/izipay"
	"github.com/kassa-pay/kassa/internal/processor"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

func dialects(t *testing.T, fn func(t *testing.T, g *kassaGW)) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) { fn(t, start(t, d)) })
	}
}

func (g *kassaGW) post(t *testing.T, path string, header map[string]string, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", g.url+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = []string{v}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("POST %s: %d %s", path, res.StatusCode, b)
	}
	return res.StatusCode, out
}

func (g *kassaGW) tokenBody(order, amount, publicKey string) string {
	b, _ := json.Marshal(map[string]string{"requestSource": "ECOMMERCE", "merchantCode": g.creds.MerchantCode,
		"orderNumber": order, "publicKey": publicKey, "amount": amount})
	return string(b)
}

func (g *kassaGW) token(t *testing.T, tid, order, amount string) string {
	t.Helper()
	code, out := g.post(t, "/security/v1/Token/Generate", map[string]string{"transactionId": tid}, g.tokenBody(order, amount, g.creds.PublicKey))
	resp, _ := out["response"].(map[string]any)
	if code != 200 || out["code"] != "00" || out["message"] != "OK" || resp["token"] == "" {
		t.Fatalf("Token/Generate: %d %v", code, out)
	}
	return resp["token"].(string)
}

func (g *kassaGW) loadForm(t *testing.T, token, tid, order, amount, typeForm string) (int, map[string]any) {
	cfg := map[string]any{"transactionId": tid, "action": "pay", "merchantCode": g.creds.MerchantCode,
		"order":   map[string]any{"orderNumber": order, "currency": "PEN", "amount": amount, "processType": "AT", "payMethod": "all"},
		"render":  map[string]any{"typeForm": typeForm, "container": "#x", "redirectUrls": map[string]string{"onSuccess": g.shopURL + "/success", "onError": g.shopURL + "/error", "onCancel": g.shopURL + "/cancel"}},
		"billing": map[string]any{"firstName": "Juan", "lastName": "Wick", "document": "12345678", "country": "PE"},
		"urlIPN":  g.shopURL + "/ipn", "appearance": map[string]any{"customTheme": map[string]any{"isModeAdvance": true}}}
	b, _ := json.Marshal(map[string]any{"authorization": token, "config": cfg})
	return g.post(t, "/payments/v1/form", map[string]string{"Origin": g.shopURL}, string(b))
}

func TestTokenGenerateErrors(t *testing.T) {
	dialects(t, func(t *testing.T, g *kassaGW) {
		for _, c := range []struct {
			name, tid, body string
			status          int
			code            string
		}{
			{"no transactionId", "", g.tokenBody("ORD00001", "1.00", g.creds.PublicKey), 400, "T01"},
			{"bad transactionId", "12-34-56", g.tokenBody("ORD00001", "1.00", g.creds.PublicKey), 400, "T01"},
			{"wrong publicKey", "1234567", g.tokenBody("ORD00001", "1.00", "VErethUtraQuxas57wuMuquprADrAHAb"), 401, "T02"},
			{"bad orderNumber", "1234567", g.tokenBody("ORD-1", "1.00", g.creds.PublicKey), 400, "T03"},
			{"three decimals", "1234567", g.tokenBody("ORD00001", "1.005", g.creds.PublicKey), 400, "T04"},
			{"zero", "1234567", g.tokenBody("ORD00001", "0.00", g.creds.PublicKey), 400, "T04"},
			{"not JSON", "1234567", "{", 400, "T06"},
			{"requestSource not ECOMMERCE", "1234567", strings.Replace(g.tokenBody("ORD00001", "1.00", g.creds.PublicKey), "ECOMMERCE", "POS", 1), 400, "T05"},
			{"merchantCode missing", "1234567", `{"requestSource":"ECOMMERCE","orderNumber":"ORD00001","publicKey":"k","amount":"1.00"}`, 400, "T05"},
			{"unknown merchantCode", "1234567", `{"requestSource":"ECOMMERCE","merchantCode":"4001834","orderNumber":"ORD00001","publicKey":"VErethUtraQuxas57wuMuquprADrAHAb","amount":"1.00"}`, 401, "T02"},
			{"amount with a comma", "1234567", g.tokenBody("ORD00001", "1,00", g.creds.PublicKey), 400, "T04"},
		} {
			status, out := g.post(t, "/security/v1/Token/Generate", map[string]string{"transactionId": c.tid}, c.body)
			if status != c.status || out["code"] != c.code || out["message"] == "" {
				t.Errorf("%s: %d %v, want %d code %s", c.name, status, out, c.status, c.code)
			}
		}
		g.token(t, "16881500822750", "ONTE17643", "1.00")
	})
}

func TestLoadFormTokenRules(t *testing.T) {
	dialects(t, func(t *testing.T, g *kassaGW) {
		tok := g.token(t, "100000000001", "ORDER00001", "10.50")
		// The amount in config differs from the token's: refused, nothing opened.
		if status, out := g.loadForm(t, tok, "100000000001", "ORDER00001", "10.51", "redirect"); status != 400 || out["code"] != "T08" {
			t.Fatalf("amount mismatch: %d %v, want T08", status, out)
		}
		if status, out := g.loadForm(t, tok, "100000000002", "ORDER00001", "10.50", "redirect"); status != 400 || out["code"] != "T08" {
			t.Fatalf("transactionId mismatch: %d %v, want T08", status, out)
		}
		// "10.5" is the same amount as "10.50": amounts are compared exactly, in céntimos.
		status, out := g.loadForm(t, tok, "100000000001", "ORDER00001", "10.5", "redirect")
		if status != 200 || out["code"] != "00" {
			t.Fatalf("LoadForm: %d %v", status, out)
		}
		// A bad config names its fields.
		if status, out := g.loadForm(t, tok, "100000000001", "ORDER00001", "10.50", "sideways"); status != 400 || out["code"] != "V01" {
			t.Fatalf("bad config: %d %v, want V01", status, out)
		}
		if status, out := g.loadForm(t, "izt_nope", "100000000001", "ORDER00001", "10.50", "redirect"); status != 401 || out["code"] != "T09" {
			t.Fatalf("unknown token: %d %v, want T09", status, out)
		}
		// 15 minutes later the token no longer opens a form.
		old := g.token(t, "100000000003", "ORDER00003", "10.50")
		g.offset.Store(int64(15*time.Minute + time.Second))
		if status, out := g.loadForm(t, old, "100000000003", "ORDER00003", "10.50", "redirect"); status != 401 || out["code"] != "T07" {
			t.Fatalf("expired token: %d %v, want T07", status, out)
		}
	})
}

// TestIPN pays through the form's own JSON endpoint (no browser) and checks
// the IPN on both databases: the outbox row comes from migration 00007.
func TestIPN(t *testing.T) {
	dialects(t, func(t *testing.T, g *kassaGW) {
		tid, order := "200000000001", "ORDER20001"
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
		if ipn.transactionID != tid {
			t.Fatalf("IPN header transactionId %q", ipn.transactionID)
		}
		var r izipay.Result
		if err := json.Unmarshal(ipn.body, &r); err != nil {
			t.Fatal(err)
		}
		if err := izipay.Verify(g.creds.HashKey, &r); err != nil {
			t.Fatal(err)
		}
		p, err := verify(g.creds.HashKey, ipn.body)
		if err != nil {
			t.Fatal(err)
		}
		checkPayload(t, "IPN", p, tid, order, "00")
		// The callback's result for the same payment carries the same payload.
		_, cb := g.post(t, "/payments/v1/result", nil, `{"authorization":"`+tok+`"}`)
		if cb["payloadHttp"] != r.PayloadHTTP || cb["signature"] != r.Signature {
			t.Fatalf("callback result differs from the IPN:\n%v\n%s", cb["payloadHttp"], r.PayloadHTTP)
		}
		if izipay.Verify(g.creds.HashKey+"x", &r) == nil {
			t.Fatal("a wrong hash key verified")
		}
	})
}

// The self-computed vector of the spec (§A.6) pins the HMAC and base64 plumbing.
func TestSignVector(t *testing.T) {
	const payload = `{"code":"00","message":"OK","transactionId":"16881500822750","response":{"order":[{"orderNumber":"1687996765","amount":"10.00","currency":"PEN"}]}}`
	if got := izipay.Sign("EXAMPLE_HASH_KEY", payload); got != "SsZ6YKRMyJWe9u7ZH3kqsp6hIByT+OwzwLldBrgh5i8=" {
		t.Fatalf("Sign = %s", got)
	}
	if got := izipay.Sign("Jefe", "what do ya want for nothing?"); got != "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=" {
		t.Fatalf("RFC 4231 case 2: %s", got)
	}
}

// TestCredentialsRollAndSealing: rolling replaces both keys (the old public
// key stops working at once) and neither key is stored in clear.
func TestCredentialsRollAndSealing(t *testing.T) {
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			db := storetest.Open(t, d)
			eng := engine.New(db, processor.NewSimulator(db.SQL(), ""), engine.Config{}, nil)
			z, err := engine.NewIzipay(eng, bytes.Repeat([]byte{9}, 32))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			m, err := eng.CreateMerchant(ctx, "M", "")
			if err != nil {
				t.Fatal(err)
			}
			c1, err := z.IzipayCredentials(ctx, m.Merchant.ID)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := z.IzipayCredentials(ctx, m.Merchant.ID)
			if *again != *c1 || len(c1.MerchantCode) != 8 || len(c1.PublicKey) != 32 || len(c1.HashKey) < 32 {
				t.Fatalf("credentials not stable or malformed: %+v / %+v", c1, again)
			}
			var pubEnc, hashEnc string
			if err := db.SQL().QueryRowContext(ctx, `SELECT public_key_enc, hash_key_enc FROM izipay_credentials WHERE merchant_id = $1`,
				m.Merchant.ID).Scan(&pubEnc, &hashEnc); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(pubEnc, c1.PublicKey) || strings.Contains(hashEnc, c1.HashKey) || !strings.HasPrefix(hashEnc, "v1.") {
				t.Fatal("keys are stored in clear")
			}
			if _, err := z.AuthenticateIzipay(ctx, c1.MerchantCode, c1.PublicKey); err != nil {
				t.Fatal(err)
			}
			c2, err := z.RollIzipayCredentials(ctx, m.Merchant.ID)
			if err != nil {
				t.Fatal(err)
			}
			if c2.MerchantCode != c1.MerchantCode || c2.PublicKey == c1.PublicKey || c2.HashKey == c1.HashKey {
				t.Fatalf("roll: %+v after %+v", c2, c1)
			}
			if _, err := z.AuthenticateIzipay(ctx, c1.MerchantCode, c1.PublicKey); kassa.ErrorCode(err) != "izipay_credentials_invalid" {
				t.Fatalf("old public key after roll: %v", err)
			}
			if _, err := z.AuthenticateIzipay(ctx, c2.MerchantCode, c2.PublicKey); err != nil {
				t.Fatal(err)
			}
			// Another key cannot open what was sealed.
			other, _ := engine.NewIzipay(eng, bytes.Repeat([]byte{1}, 32))
			if _, err := other.AuthenticateIzipay(ctx, c2.MerchantCode, c2.PublicKey); err == nil {
				t.Fatal("credentials opened with another secret key")
			}
		})
	}
}
