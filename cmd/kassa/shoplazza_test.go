package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/shoplazza"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

// The operator reaches every open choice of the Shoplazza protocol through
// the environment (docs/shoplazza.md §4); unset keeps the documented
// defaults, and a malformed value is refused, naming the variable.
func TestShoplazzaConfigFromEnv(t *testing.T) {
	c, err := shoplazzaConfig(func(string) string { return "" })
	if err != nil || c.Signature != (shoplazza.SigScheme{}) || c.TimestampWindow != 0 || c.FailureStatus != 0 || c.NotifySchedule != nil {
		t.Fatalf("empty environment: %+v, %v (want the zero Config: the adapter's defaults)", c, err)
	}
	env := map[string]string{
		"KASSA_SHOPLAZZA_SIGNATURE":             "merchant_key+sorted_params+base64",
		"KASSA_SHOPLAZZA_ACCEPT_ANY_SIGNATURE":  "true",
		"KASSA_SHOPLAZZA_TIMESTAMP_WINDOW":      "5m",
		"KASSA_SHOPLAZZA_FAILURE_STATUS":        "200",
		"KASSA_SHOPLAZZA_IFRAME_KEYS":           "iframe_width, iframe_height",
		"KASSA_SHOPLAZZA_IFRAME_DEFAULT":        "500x600",
		"KASSA_SHOPLAZZA_IFRAME_MAX":            "1200x800",
		"KASSA_SHOPLAZZA_COMPLETE_STATUS":       "paid",
		"KASSA_SHOPLAZZA_AMOUNT":                "string",
		"KASSA_SHOPLAZZA_REFUND_PENDING_STATUS": "processing",
		"KASSA_SHOPLAZZA_NOTIFY_RETRIES":        "5s, 1m",
	}
	c, err = shoplazzaConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := shoplazza.SigScheme{KeySource: shoplazza.KeyMerchantKey, Canonical: shoplazza.CanonicalSortedParams, Encoding: shoplazza.EncodingBase64}
	if c.Signature != want || !c.AcceptAnyScheme || c.TimestampWindow != 5*time.Minute || c.FailureStatus != 200 ||
		c.IframeWidthKey != "iframe_width" || c.IframeHeightKey != "iframe_height" || c.IframeDefault != [2]int{500, 600} ||
		c.IframeMax != [2]int{1200, 800} || c.CompleteStatus != "paid" || !c.AmountAsString || c.RefundPendingStatus != "processing" ||
		len(c.NotifySchedule) != 2 || c.NotifySchedule[1] != time.Minute {
		t.Fatalf("config %+v", c)
	}
	if c, err := shoplazzaConfig(func(k string) string {
		if k == "KASSA_SHOPLAZZA_TIMESTAMP_WINDOW" {
			return "off"
		}
		return ""
	}); err != nil || c.TimestampWindow >= 0 {
		t.Fatalf("off: %v %v", c.TimestampWindow, err)
	}
	for k, v := range map[string]string{
		"KASSA_SHOPLAZZA_SIGNATURE":            "client_secret+raw_body+rot13",
		"KASSA_SHOPLAZZA_ACCEPT_ANY_SIGNATURE": "maybe",
		"KASSA_SHOPLAZZA_TIMESTAMP_WINDOW":     "-1m",
		"KASSA_SHOPLAZZA_FAILURE_STATUS":       "302",
		"KASSA_SHOPLAZZA_IFRAME_KEYS":          "width",
		"KASSA_SHOPLAZZA_IFRAME_MAX":           "200x100",
		"KASSA_SHOPLAZZA_AMOUNT":               "float",
		"KASSA_SHOPLAZZA_NOTIFY_RETRIES":       "5s,soon",
	} {
		_, err := shoplazzaConfig(func(key string) string {
			if key == k {
				return v
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: %v, want an error naming the variable", k, v, err)
		}
	}
}

// As an operator and a shop would: `kassa merchant create`, `kassa
// shoplazza bind`, `kassa izipay credentials`, then `kassa serve` with a
// Shoplazza choice set in the environment; a signed direct-card payment
// request and an Izipay Token/Generate go through serve's wiring, and the
// secrets are sealed in the database.
func TestShoplazzaBindAndIzipayCredentialsThroughServe(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.DSN(t, store.SQLite)
	t.Setenv("KASSA_SHOPLAZZA_AMOUNT", "string")
	t.Setenv("KASSA_WEBHOOK_ALLOW_PRIVATE", "true")
	var out bytes.Buffer
	if err := run(ctx, []string{"merchant", "create", "--name", "Shop", "--json", "--db", dsn}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var m struct{ ID string }
	json.Unmarshal(out.Bytes(), &m)

	const secret, token, app = "cs-SECRET-123", "tok-SECRET-456", "db5fc9a6-2a64-11ec-8d3d-0242ac130003"
	out.Reset()
	err := run(ctx, []string{"shoplazza", "bind", "--db", dsn, "--merchant", m.ID, "--app-id", app, "--client-secret", secret,
		"--shop-domain", "Acme.myshoplaza.com", "--access-token", token, "--account-id", "TIOnETZE", "--json"}, &out, io.Discard)
	if err != nil || !strings.Contains(out.String(), `"shop_domain":"acme.myshoplaza.com"`) || strings.Contains(out.String(), "SECRET") {
		t.Fatalf("bind: %v %s", err, out.String())
	}
	if err := run(ctx, []string{"shoplazza", "bind", "--db", dsn, "--merchant", m.ID, "--app-id", app}, io.Discard, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "client_secret") {
		t.Fatalf("bind without a client secret: %v", err)
	}
	var creds [2]struct{ MerchantCode, PublicKey, HashKey string }
	for i := range creds {
		out.Reset()
		if err := run(ctx, []string{"izipay", "credentials", "--db", dsn, "--merchant", m.ID, "--json"}, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		var keys map[string]string
		json.Unmarshal(out.Bytes(), &keys)
		if len(keys) != 3 || keys["merchantCode"] == "" || keys["publicKey"] == "" || keys["hashKey"] == "" {
			t.Fatalf("credentials --json printed %s, want exactly merchantCode, publicKey, hashKey", out.String())
		}
		json.Unmarshal(out.Bytes(), &creds[i])
	}
	if creds[0] != creds[1] {
		t.Fatalf("credentials changed between calls: %+v", creds)
	}

	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{}`) }))
	t.Cleanup(shop.Close)
	base, _, stop := runServe(t, "serve", "--addr", "127.0.0.1:0", "--db", dsn)

	form := url.Values{"id": {"pay-1"}, "app_id": {app}, "account_id": {"TIOnETZE"}, "shoplazza_order_id": {"2711-WFT50903"},
		"amount": {"254.20"}, "currency": {"CAD"}, "products": {`[{"name":"name","quantity":"2","unit_price":"20.00"}]`},
		"cancel_url": {shop.URL + "/cancel"}, "complete_url": {shop.URL + "/complete"}, "callback_url": {shop.URL + "/notify"},
		"type": {"card"}, "timestamp": {strconv.FormatInt(time.Now().Unix(), 10)},
		"cards": {`{"first_name":"Percy ","last_name":"Parker ","card_number":"4242424242424242 ","expire_year":"2034 ","expire_month":"12 ","card_cvv":"123"}`}}
	for _, f := range []string{"address1", "last_name", "first_name", "province", "city", "postal_code", "country_code", "company", "state", "phone"} {
		form.Set("customer_billing_"+f, "x")
		if f != "phone" {
			form.Set("customer_shipping_"+f, "x")
		}
	}
	body := form.Encode()
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	req, _ := http.NewRequest("POST", base+"/shoplazza/payments", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Shoplazza-Shop-Domain", "acme.myshoplaza.com")
	req.Header.Set("Shoplazza-Hmac-Sha256", hex.EncodeToString(mac.Sum(nil)))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ans, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(ans), `"amount":"254.20"`) || !strings.Contains(string(ans), `"status":"paid"`) {
		t.Fatalf("payment through serve (KASSA_SHOPLAZZA_AMOUNT=string): %d %s", res.StatusCode, ans)
	}

	tb, _ := json.Marshal(map[string]string{"requestSource": "ECOMMERCE", "merchantCode": creds[0].MerchantCode,
		"orderNumber": "ONTE176431114", "publicKey": creds[0].PublicKey, "amount": "1.00"})
	req, _ = http.NewRequest("POST", base+"/security/v1/Token/Generate", bytes.NewReader(tb))
	req.Header.Set("Content-Type", "application/json")
	req.Header["transactionId"] = []string{"16881500822750"}
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(string(tok), `{"code":"00","message":"OK","response":{"token":"eyJ`) {
		t.Fatalf("Token/Generate through serve: %d %s", res.StatusCode, tok)
	}
	stop()

	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var sealed string
	db.SQL().QueryRow(`SELECT client_secret_enc || access_token_enc FROM shoplazza_shops`).Scan(&sealed)
	var izi string
	db.SQL().QueryRow(`SELECT public_key_enc || hash_key_enc FROM izipay_credentials`).Scan(&izi)
	if sealed == "" || strings.Contains(sealed, "SECRET") || izi == "" || strings.Contains(izi, creds[0].HashKey) || strings.Contains(izi, creds[0].PublicKey) {
		t.Fatalf("secrets not sealed at rest: %q %q", sealed, izi)
	}
}
