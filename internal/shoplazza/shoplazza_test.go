package shoplazza_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/shoplazza"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "true"
		}
		return "false"
	}
	return ""
}

// A direct card payment is charged at once and answered in the Notify
// format; the final result reaches callback_url, signed, once acknowledged;
// the same id again gets the same answer and charges nothing more.
func TestCardPaymentPaidNotifiedIdempotent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := startGateway(t, db, engine.ShoplazzaModelRedirect, shoplazza.Config{})
		g.shop.failN = 1 // the first notify attempt fails: Kassa must retry until 200
		form := g.paymentForm("7eb3fefb-6b43-4400-b40a-a2a0531364ae", "2711-WFT50903", "card", "4242424242424242")
		a := g.post("/shoplazza/payments", form, "")
		if a.Status != 200 || str(a.Body["status"]) != "paid" || str(a.Body["payment_id"]) != "7eb3fefb-6b43-4400-b40a-a2a0531364ae" ||
			str(a.Body["amount"]) != "254.20" || str(a.Body["currency"]) != "CAD" || str(a.Body["app_id"]) != appID ||
			str(a.Body["type"]) != "sale" || str(a.Body["transaction_no"]) == "" || a.Body["error_code"] != nil {
			t.Fatalf("card answer %d %s", a.Status, a.Raw)
		}
		if !strings.Contains(a.Raw, `"amount":254.20,`) {
			t.Fatalf("amount is not the exact JSON number 254.20: %s", a.Raw)
		}
		payID := str(a.Body["transaction_no"])
		var amount int64
		var order, meta string
		if err := db.SQL().QueryRow(`SELECT amount, order_id, metadata FROM payments WHERE id = $1`, payID).Scan(&amount, &order, &meta); err != nil {
			t.Fatal(err)
		}
		if amount != 25420 || order != "2711-WFT50903" {
			t.Fatalf("payment amount %d order %q", amount, order)
		}
		var extra string
		db.SQL().QueryRow(`SELECT extra FROM shoplazza_payments WHERE payment_id = $1`, payID).Scan(&extra)
		if !strings.Contains(extra, `"x_future_field":"kept"`) || !strings.Contains(extra, `"Customer-Cpf":"11111111111-11"`) {
			t.Fatalf("unknown fields and headers not kept: %s", extra)
		}

		// Replay: the same id, re-signed at a later timestamp.
		time.Sleep(1100 * time.Millisecond)
		form.Set("timestamp", form.Get("timestamp")) // same parameters
		b := g.post("/shoplazza/payments", g.refresh(form), "")
		if b.Status != 200 || b.Raw != a.Raw {
			t.Fatalf("replay answered %d %s, want the first answer %s", b.Status, b.Raw, a.Raw)
		}
		if n := g.count(`SELECT count(*) FROM transactions WHERE payment_id = $1`, payID); n != 1 {
			t.Fatalf("%d ledger rows after a replay, want 1", n)
		}
		if n := g.count(`SELECT count(*) FROM payments WHERE merchant_id = $1`, g.merchantID); n != 1 {
			t.Fatalf("%d payments after a replay, want 1", n)
		}

		calls := g.shop.waitCalls(t, "notify_callbacks", 2) // one refused with 500, then the retry
		n := calls[len(calls)-1].Body
		if str(n["status"]) != "paid" || str(n["payment_id"]) != "7eb3fefb-6b43-4400-b40a-a2a0531364ae" || str(n["amount"]) != "254.20" ||
			str(n["transaction_no"]) != payID || str(n["test"]) != "false" || str(n["timestamp"]) == "" {
			t.Fatalf("notify body %s", calls[len(calls)-1].Raw)
		}
		if g.shop.badSig != 0 {
			t.Fatalf("%d calls came with a bad signature or headers", g.shop.badSig)
		}
		var st string
		var attempts int
		waitFor(t, func() bool {
			db.SQL().QueryRow(`SELECT status, attempts FROM webhook_deliveries WHERE endpoint_id = $1`, "shoplazza:"+payID).Scan(&st, &attempts)
			return st == "delivered"
		})
		if attempts != 2 {
			t.Fatalf("delivered after %d attempts, want 2", attempts)
		}
	})
}

// refresh re-signs the same parameters with a new timestamp.
func (g *gateway) refresh(form url.Values) url.Values {
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	f.Set("timestamp", time.Now().Format(time.RFC3339))
	return f
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("condition not met in time")
}

// A declined direct card answers failed with error_code and message, and
// the failed result is notified.
func TestCardDeclined(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := startGateway(t, db, engine.ShoplazzaModelRedirect, shoplazza.Config{})
		a := g.post("/shoplazza/payments", g.paymentForm("pay-declined-1", "ORD-DECL", "card", "4000000000009995"), "")
		if a.Status != 200 || str(a.Body["status"]) != "failed" || str(a.Body["error_code"]) != "insufficient_funds" || str(a.Body["message"]) == "" {
			t.Fatalf("declined answer %d %s", a.Status, a.Raw)
		}
		c := g.shop.waitCalls(t, "notify_callbacks", 1)
		if str(c[0].Body["status"]) != "failed" || str(c[0].Body["error_code"]) != "insufficient_funds" || str(c[0].Body["payment_id"]) != "pay-declined-1" {
			t.Fatalf("failed notify %s", c[0].Raw)
		}
		// The order is free again: another request may pay it.
		b := g.post("/shoplazza/payments", g.paymentForm("pay-declined-2", "ORD-DECL", "card", "4242424242424242"), "")
		if str(b.Body["status"]) != "paid" {
			t.Fatalf("retry with another card: %s", b.Raw)
		}
	})
}

// Refusals: each with its exact answer, and nothing stored.
func TestRefusalsStoreNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := startGateway(t, db, engine.ShoplazzaModelRedirect, shoplazza.Config{})
		stored := func() int {
			return g.count(`SELECT count(*) FROM shoplazza_payments`) + g.count(`SELECT count(*) FROM payments`) +
				g.count(`SELECT count(*) FROM shoplazza_refunds`) + g.count(`SELECT count(*) FROM refunds`)
		}
		check := func(name string, a answer, status int, code string) {
			t.Helper()
			if a.Status != status || str(a.Body["code"]) != code || str(a.Body["message"]) == "" || len(a.Body) != 2 {
				t.Fatalf("%s: %d %s, want %d {code:%s, message}", name, a.Status, a.Raw, status, code)
			}
		}
		form := g.paymentForm("p-1", "ORD-1", "card", "4242424242424242")
		check("bad signature", g.post("/shoplazza/payments", form, strings.Repeat("ab", 32)), 401, "invalid_signature")
		check("missing signature", g.post("/shoplazza/payments", form, "-"), 401, "invalid_signature")
		stale := g.paymentForm("p-1", "ORD-1", "card", "4242424242424242")
		stale.Set("timestamp", "1697704968") // the seed's own, from 2023
		check("stale timestamp", g.post("/shoplazza/payments", stale, ""), 401, "request_expired")
		missing := g.paymentForm("p-1", "ORD-1", "card", "4242424242424242")
		missing.Del("customer_billing_city")
		a := g.post("/shoplazza/payments", missing, "")
		check("missing field", a, 400, "parameter_missing")
		if !strings.Contains(a.Raw, "customer_billing_city") {
			t.Fatalf("missing field not named: %s", a.Raw)
		}
		badAmount := g.paymentForm("p-1", "ORD-1", "card", "4242424242424242")
		badAmount.Set("amount", "254.205")
		check("amount with 3 decimals", g.post("/shoplazza/payments", badAmount, ""), 400, "amount_invalid")
		if n := stored(); n != 0 {
			t.Fatalf("%d rows stored after refusals", n)
		}

		// Paid order: a second payment (another tab, another id) is refused
		// before anything is stored.
		if a := g.post("/shoplazza/payments", form, ""); str(a.Body["status"]) != "paid" {
			t.Fatalf("first payment: %s", a.Raw)
		}
		before := stored()
		check("second payment of a paid order", g.post("/shoplazza/payments", g.paymentForm("p-2", "ORD-1", "card", "4242424242424242"), ""), 409, "order_already_paid")
		check("second sale of a paid order", g.post("/shoplazza/payments", g.paymentForm("p-3", "ORD-1", "sale", ""), ""), 409, "order_already_paid")
		// Replayed id with other parameters.
		other := g.paymentForm("p-1", "ORD-1", "card", "4242424242424242")
		other.Set("amount", "1.00")
		check("replayed id, other parameters", g.post("/shoplazza/payments", other, ""), 400, "idempotency_key_reused")
		if n := stored(); n != before {
			t.Fatalf("rows went from %d to %d after refusals", before, n)
		}

		// Refund above the paid amount.
		check("refund above paid", g.post("/shoplazza/refunds", g.refundForm("r-1", "p-1", "254.21"), ""), 400, "amount_too_large")
		check("refund of unknown payment", g.post("/shoplazza/refunds", g.refundForm("r-1", "nope", "1.00"), ""), 400, "payment_not_found")
		check("refund bad signature", g.post("/shoplazza/refunds", g.refundForm("r-1", "p-1", "1.00"), "00"), 401, "invalid_signature")
		if n := stored(); n != before {
			t.Fatalf("rows went from %d to %d after refund refusals", before, n)
		}
	})
}

// Partial then full refunds through the engine, idempotent on id, with
// refund_success notifies.
func TestRefunds(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := startGateway(t, db, engine.ShoplazzaModelRedirect, shoplazza.Config{})
		if a := g.post("/shoplazza/payments", g.paymentForm("p-1", "ORD-R", "card", "4242424242424242"), ""); str(a.Body["status"]) != "paid" {
			t.Fatalf("payment: %s", a.Raw)
		}
		g.shop.waitCalls(t, "notify_callbacks", 1)
		a := g.post("/shoplazza/refunds", g.refundForm("r-1", "p-1", "100.00"), "")
		if a.Status != 200 || str(a.Body["status"]) != "refund_success" || str(a.Body["message"]) != "success" || str(a.Body["refund_id"]) == "" || len(a.Body) != 3 {
			t.Fatalf("partial refund: %d %s", a.Status, a.Raw)
		}
		if b := g.post("/shoplazza/refunds", g.refundForm("r-1", "p-1", "100.00"), ""); b.Raw != a.Raw {
			t.Fatalf("replayed refund answered %s, want %s", b.Raw, a.Raw)
		}
		full := g.post("/shoplazza/refunds", g.refundForm("r-2", "p-1", "154.20"), "")
		if str(full.Body["status"]) != "refund_success" {
			t.Fatalf("refund of the rest: %s", full.Raw)
		}
		if n := g.count(`SELECT count(*) FROM refunds`); n != 2 {
			t.Fatalf("%d refunds, want 2", n)
		}
		if over := g.post("/shoplazza/refunds", g.refundForm("r-3", "p-1", "0.01"), ""); over.Status != 400 || str(over.Body["code"]) != "charge_already_refunded" {
			t.Fatalf("refund of a fully refunded payment: %d %s", over.Status, over.Raw)
		}
		calls := g.shop.waitCalls(t, "notify_callbacks", 3)
		var seen []string
		for _, c := range calls[1:] {
			if str(c.Body["type"]) != "refund" || str(c.Body["status"]) != "refund_success" || str(c.Body["payment_id"]) != "p-1" {
				t.Fatalf("refund notify %s", c.Raw)
			}
			ext, _ := c.Body["extension"].(map[string]any)
			seen = append(seen, str(ext["refund_id"])+"="+str(c.Body["amount"]))
		}
		if strings.Join(seen, ",") != "r-1=100.00,r-2=154.20" && strings.Join(seen, ",") != "r-2=154.20,r-1=100.00" {
			t.Fatalf("refund notifies %v", seen)
		}
	})
}

// Several tabs pay one order at the same moment: one is paid, the others
// are refused, and the order's money moves once.
func TestConcurrentTabsPayOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := startGateway(t, db, engine.ShoplazzaModelRedirect, shoplazza.Config{})
		const tabs = 6
		var wg sync.WaitGroup
		answers := make([]answer, tabs)
		for i := range tabs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				answers[i] = g.post("/shoplazza/payments", g.paymentForm("tab-"+string(rune('a'+i)), "ORD-TABS", "card", "4242424242424242"), "")
			}()
		}
		wg.Wait()
		paid := 0
		for _, a := range answers {
			switch {
			case a.Status == 200 && str(a.Body["status"]) == "paid":
				paid++
			case a.Status == 409 && str(a.Body["code"]) == "order_already_paid":
			default:
				t.Fatalf("tab answered %d %s", a.Status, a.Raw)
			}
		}
		if paid != 1 {
			t.Fatalf("%d tabs paid, want 1", paid)
		}
		if n := g.count(`SELECT count(*) FROM transactions WHERE type = 'sale' AND status = 'succeeded'`); n != 1 {
			t.Fatalf("%d successful sales, want 1", n)
		}
	})
}

// Sale answers a redirect to the hosted checkout; the iframe model adds
// the size, clamped to at least 300×200 and at most the configured maximum.
func TestSaleAndIframeAnswers(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	g := startGateway(t, db, engine.ShoplazzaModelIframe, shoplazza.Config{IframeMax: [2]int{1200, 800}})
	a := g.post("/shoplazza/payments", g.paymentForm("s-1", "ORD-S", "sale", ""), "")
	if a.Status != 200 || !strings.HasPrefix(str(a.Body["redirect_url"]), g.url+"/pay/pay_") ||
		str(a.Body["width"]) != "300" || str(a.Body["height"]) != "800" || len(a.Body) != 3 {
		t.Fatalf("iframe answer %d %s", a.Status, a.Raw)
	}
}

// Binding through the merchant API; secrets are sealed at rest and never shown.
func TestBindingAPI(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	g := startGateway(t, db, engine.ShoplazzaModelRedirect, shoplazza.Config{})
	do := func(method, body string) (int, string) {
		req, _ := http.NewRequest(method, g.url+"/v1/shoplazza/bindings", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+g.secretKey)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	code, b := do("POST", `{"app_id":"app-2","client_secret":"cs-SECRET-2","shop_domain":"HTTPS://Second.myshoplaza.com/","access_token":"tok-SECRET-2","account_id":"acct-2","model":"iframe","iframe_width":640,"iframe_height":480}`)
	if code != 200 || !strings.Contains(b, `"shop_domain":"second.myshoplaza.com"`) || strings.Contains(b, "SECRET") {
		t.Fatalf("bind: %d %s", code, b)
	}
	if code, b := do("POST", `{"app_id":"app-2","shop_domain":"x.myshoplaza.com","access_token":"t","account_id":"a"}`); code != 400 || !strings.Contains(b, `"param":"client_secret"`) {
		t.Fatalf("bind without secret: %d %s", code, b)
	}
	code, b = do("GET", "")
	if code != 200 || strings.Count(b, `"object":"shoplazza_binding"`) != 2 || strings.Contains(b, "SECRET") || strings.Contains(b, clientSecret) {
		t.Fatalf("list: %d %s", code, b)
	}
	var sealed string
	db.SQL().QueryRow(`SELECT client_secret_enc || access_token_enc FROM shoplazza_shops WHERE shop_domain = 'second.myshoplaza.com'`).Scan(&sealed)
	if !strings.HasPrefix(sealed, "v1.") || strings.Contains(sealed, "SECRET") {
		t.Fatalf("secrets not sealed at rest: %q", sealed)
	}
}
