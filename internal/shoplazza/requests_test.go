package shoplazza_test

import (
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/shoplazza"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

// requiredFields are the fields the seed table (seeds 001/004) marks Y.
var requiredFields = []string{"id", "app_id", "account_id", "shoplazza_order_id", "amount", "currency", "products",
	"cancel_url", "complete_url", "callback_url",
	"customer_billing_address1", "customer_billing_last_name", "customer_billing_first_name", "customer_billing_province",
	"customer_billing_city", "customer_billing_postal_code", "customer_billing_country_code", "customer_billing_company",
	"customer_billing_state", "customer_billing_phone",
	"customer_shipping_address1", "customer_shipping_last_name", "customer_shipping_first_name", "customer_shipping_province",
	"customer_shipping_city", "customer_shipping_postal_code", "customer_shipping_country_code", "customer_shipping_company",
	"customer_shipping_state", "type", "timestamp"}

// storedRows counts every row a payment or refund request could leave,
// notification subscriptions and queued deliveries included.
func (g *gateway) storedRows() int {
	n := 0
	for _, table := range []string{"shoplazza_payments", "shoplazza_refunds", "payments", "refunds", "transactions",
		"notification_subscriptions", "webhook_deliveries", "events"} {
		n += g.count(`SELECT count(*) FROM ` + table)
	}
	return n
}

func (g *gateway) checkRefusal(t *testing.T, name string, a answer, status int, code, mentions string) {
	t.Helper()
	if a.Status != status || str(a.Body["code"]) != code || str(a.Body["message"]) == "" || len(a.Body) != 2 ||
		!strings.Contains(str(a.Body["message"]), mentions) {
		t.Fatalf("%s: %d %s, want %d {code:%s, message naming %q}", name, a.Status, a.Raw, status, code, mentions)
	}
}

// Each required field of the seed table, missing (and, for the ones that
// must carry a value, empty), is refused with 400 parameter_missing naming
// it, and nothing is stored; the optional fields may be left out.
func TestEveryRequiredFieldChecked(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := startGateway(t, db, engine.ShoplazzaModelRedirect, shoplazza.Config{})
		for _, f := range requiredFields {
			form := g.paymentForm("req-1", "ORD-REQ", "sale", "")
			form.Del(f)
			g.checkRefusal(t, "without "+f, g.post("/shoplazza/payments", form, ""), 400, "parameter_missing", f)
		}
		for _, f := range []string{"id", "app_id", "account_id", "shoplazza_order_id", "amount", "currency", "products",
			"cancel_url", "complete_url", "callback_url", "type", "timestamp"} {
			form := g.paymentForm("req-1", "ORD-REQ", "sale", "")
			form.Set(f, "  ")
			g.checkRefusal(t, "empty "+f, g.post("/shoplazza/payments", form, ""), 400, "parameter_missing", f)
		}
		card := g.paymentForm("req-1", "ORD-REQ", "card", "4242424242424242")
		card.Del("cards")
		g.checkRefusal(t, "type card without cards", g.post("/shoplazza/payments", card, ""), 400, "parameter_missing", "cards")
		for _, c := range []struct{ field, value, code, mentions string }{
			{"type", "authorization", "parameter_invalid", "type"},
			{"app_id", "another-app", "app_mismatch", "app_id"},
			{"account_id", "another-account", "account_mismatch", "account_id"},
			{"currency", "XYZ", "currency_unsupported", "XYZ"},
			{"amount", "0.00", "amount_invalid", "amount"},
			{"amount", "25,420", "amount_invalid", "amount"},
			{"products", `{"name":"not an array"}`, "parameter_invalid", "products"},
			{"products", `[{"name":"x","quantity":"two"}]`, "parameter_invalid", "quantity"},
			{"cancel_url", "javascript:alert(1)", "url_invalid", "cancel_url"},
			{"timestamp", "yesterday", "parameter_invalid", "timestamp"},
		} {
			form := g.paymentForm("req-1", "ORD-REQ", "sale", "")
			form.Set(c.field, c.value)
			a := g.post("/shoplazza/payments", form, "")
			g.checkRefusal(t, c.field+"="+c.value, a, 400, c.code, c.mentions)
		}
		if n := g.storedRows(); n != 0 {
			t.Fatalf("%d rows stored after refusals", n)
		}
		// The optional fields (N in the table) may all be left out.
		form := g.paymentForm("req-2", "ORD-OPT", "sale", "")
		for _, f := range []string{"customer_email", "customer_phone_number", "customer_billing_address2", "customer_shipping_address2",
			"customer_shipping_phone", "test", "cards", "x_future_field"} {
			form.Del(f)
		}
		form.Set("customer_billing_company", "") // required, but a shopper may have no company
		if a := g.post("/shoplazza/payments", form, ""); a.Status != 200 || str(a.Body["redirect_url"]) == "" {
			t.Fatalf("without the optional fields: %d %s", a.Status, a.Raw)
		}
	})
}

// products and cards arrive as JSON strings whose values carry stray
// spaces (the seed example has "Percy ", "4242424242424242 ", "2023 ");
// they are trimmed, and the prices parsed exactly.
func TestJSONStringFieldsWithStraySpaces(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	g := startGateway(t, db, engine.ShoplazzaModelRedirect, shoplazza.Config{})
	form := g.paymentForm("spaces-1", "ORD-SPACES", "card", "4242424242424242")
	form.Set("products", `[{"name":" Mug ","quantity":" 2 ","unit_price":" 20.00 ","sku":" 2023 ","url":"http://a.bc/def","desc":"desc"},`+
		`{"name":"Tee","quantity":3,"unit_price":"71.40 ","sku":"T1"}]`)
	form.Set("cards", `{"first_name":" Percy ","last_name":"Parker ","card_number":" 4242 4242 4242 4242 ","expire_year":" 34 ","expire_month":" 06 ","card_cvv":" 123 "}`)
	a := g.post("/shoplazza/payments", form, "")
	if a.Status != 200 || str(a.Body["status"]) != "paid" || !strings.Contains(a.Raw, `"amount":254.20,`) {
		t.Fatalf("answer %d %s", a.Status, a.Raw)
	}
	var items string
	if err := db.SQL().QueryRow(`SELECT items FROM payments WHERE id = $1`, str(a.Body["transaction_no"])).Scan(&items); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"name":"Mug"`, `"quantity":2`, `"unit_price":2000`, `"sku":"2023"`, `"quantity":3`, `"unit_price":7140`} {
		if !strings.Contains(items, want) {
			t.Fatalf("items %s lack %s", items, want)
		}
	}
}

// The timestamp window is configurable: a wider one takes a request an
// hour old, a negative one switches the check off; the default (15 min)
// refuses it with 401 request_expired, storing nothing.
func TestTimestampWindowConfigurable(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	hourAgo := func(g *gateway, id string) answer {
		form := g.paymentForm(id, "ORD-"+id, "sale", "")
		form.Set("timestamp", time.Now().Add(-time.Hour).Format(time.RFC3339))
		return g.post("/shoplazza/payments", form, "")
	}
	g := startGateway(t, db, engine.ShoplazzaModelRedirect, shoplazza.Config{})
	g.checkRefusal(t, "an hour old, default window", hourAgo(g, "ts-1"), 401, "request_expired", "15m0s")
	if n := g.storedRows(); n != 0 {
		t.Fatalf("%d rows after a stale request", n)
	}
	wide := startGateway(t, storetest.Open(t, store.SQLite), engine.ShoplazzaModelRedirect, shoplazza.Config{TimestampWindow: 2 * time.Hour})
	if a := hourAgo(wide, "ts-2"); a.Status != 200 {
		t.Fatalf("2h window: %d %s", a.Status, a.Raw)
	}
	off := startGateway(t, storetest.Open(t, store.SQLite), engine.ShoplazzaModelRedirect, shoplazza.Config{TimestampWindow: -1})
	form := off.paymentForm("ts-3", "ORD-ts-3", "sale", "")
	form.Set("timestamp", "1697704968") // the seed's own, from 2023
	if a := off.post("/shoplazza/payments", form, ""); a.Status != 200 {
		t.Fatalf("check off: %d %s", a.Status, a.Raw)
	}
}

// With FailureStatus 200 (an open choice) refusals answer 200 with the same
// {code, message}; authentication failures stay 401.
func TestFailureStatusConfigurable(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	g := startGateway(t, db, engine.ShoplazzaModelRedirect, shoplazza.Config{FailureStatus: 200})
	form := g.paymentForm("fs-1", "ORD-FS", "sale", "")
	form.Del("currency")
	g.checkRefusal(t, "missing currency", g.post("/shoplazza/payments", form, ""), 200, "parameter_missing", "currency")
	g.checkRefusal(t, "bad signature", g.post("/shoplazza/payments", form, strings.Repeat("0", 64)), 401, "invalid_signature", "Shoplazza-Hmac-Sha256")
}

// A refused refund request (above what was paid) leaves no Notify
// subscription behind, nor anything else.
func TestRefusedRefundLeavesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := startGateway(t, db, engine.ShoplazzaModelRedirect, shoplazza.Config{})
		if a := g.post("/shoplazza/payments", g.paymentForm("p-1", "ORD-RR", "card", "4242424242424242"), ""); str(a.Body["status"]) != "paid" {
			t.Fatalf("payment: %s", a.Raw)
		}
		g.shop.waitCalls(t, "notify_callbacks", 1)
		before := g.storedRows()
		g.checkRefusal(t, "refund above paid", g.post("/shoplazza/refunds", g.refundForm("r-big", "p-1", "254.21"), ""), 400, "amount_too_large", "")
		bad := g.refundForm("r-cur", "p-1", "1.00")
		bad.Set("currency", "USD")
		g.checkRefusal(t, "refund in another currency", g.post("/shoplazza/refunds", bad, ""), 400, "currency_mismatch", "USD")
		for _, f := range []string{"id", "app_id", "payment_id", "amount", "currency", "callback_url"} {
			form := g.refundForm("r-miss", "p-1", "1.00")
			form.Del(f)
			g.checkRefusal(t, "refund without "+f, g.post("/shoplazza/refunds", form, ""), 400, "parameter_missing", f)
		}
		if after := g.storedRows(); after != before {
			t.Fatalf("rows went from %d to %d after refused refunds", before, after)
		}
		// The same id may then be used for a valid refund.
		if a := g.post("/shoplazza/refunds", g.refundForm("r-big", "p-1", "254.20"), ""); str(a.Body["status"]) != "refund_success" {
			t.Fatalf("full refund after the refusal: %s", a.Raw)
		}
	})
}

// seedExample is the request example of seeds 001/004, byte for byte but
// for the shop's URLs (the stand-in shop's) and the timestamp (fresh): the
// docs display the form body as JSON, and Kassa takes that encoding too.
const seedExample = `{
"id": "7eb3fefb-6b43-4400-b40a-a2a0531364ae",
"app_id": "db5fc9a6-2a64-11ec-8d3d-0242ac130003",
"account_id": "TIOnETZE",
"shoplazza_order_id": "2711-WFT50903",
"amount": "254.20",
"currency": "CAD",
"products": "[{\"name\":\"name\",\"quantity\":\"2\",\"unit_price\":\"20.00\",\"sku\":\"2023\",\"url\":\"http://a.bc/def\",\"desc\":\"desc\"}]",
"cancel_url": "SHOP/checkout/3444-222GOA08029",
"complete_url": "SHOP/openapi/2021-07/payments_apps/complete_callbacks?version=1.0",
"callback_url": "SHOP/openapi/2021-07/payments_apps/notify_callbacks?version=1.0",
"customer_email": "[email protected]",
"customer_phone_number": "18202787518",
"customer_billing_address1": "Address detail 1",
"customer_billing_address2": "Address detail 2",
"customer_billing_last_name": "lv",
"customer_billing_first_name": "jianxing",
"customer_billing_province": "Liaoning",
"customer_billing_city": "Heishan County",
"customer_billing_postal_code": "123123",
"customer_billing_country_code": "CN",
"customer_billing_company": "shoplazza",
"customer_billing_state": "LN",
"customer_billing_phone": "13922235670",
"customer_shipping_address1": "Shipping_address 1",
"customer_shipping_address2": "Shipping_address 2",
"customer_shipping_last_name": "jiaxing",
"customer_shipping_first_name": "lv",
"customer_shipping_province": "Liaoning",
"customer_shipping_city": "Heishan County",
"customer_shipping_postal_code": "123123",
"customer_shipping_country_code": "CN",
"customer_shipping_company": "Shoplazza",
"customer_shipping_state": "LN",
"customer_shipping_phone": "13922235670",
"test": false,
"type": "card",
"cards": "{\"first_name\":\"Percy \",\"last_name\":\"Parker \",\"card_number\":\"4242424242424242 \",\"expire_year\":\"2023 \",\"expire_month\":\"12 \",\"card_cvv\":\"123\"}",
"timestamp": "1697704968"
}`

// postJSON sends body as application/json, signed like a form body (hex
// HMAC-SHA256 of the raw bytes with the client secret).
func (g *gateway) postJSON(path, body string) answer {
	g.t.Helper()
	return g.postRaw(path, "application/json", body)
}

// The seed's own example, sent as the JSON the docs display: its card
// expired in 2023, so it is refused before anything is stored; with a
// card valid today the same request is paid, its 254.20 CAD exact.
func TestSeedExampleAsJSON(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := startGateway(t, db, engine.ShoplazzaModelRedirect, shoplazza.Config{})
		body := strings.ReplaceAll(seedExample, "SHOP", g.shop.srv.URL)
		body = strings.Replace(body, `"timestamp": "1697704968"`, `"timestamp": "`+strconv.FormatInt(time.Now().Unix(), 10)+`"`, 1)
		g.checkRefusal(t, "the seed's expired card", g.postJSON("/shoplazza/payments", body), 400, "expired_card", "")
		if n := g.storedRows(); n != 0 {
			t.Fatalf("%d rows after the refusal", n)
		}
		a := g.postJSON("/shoplazza/payments", strings.Replace(body, `\"expire_year\":\"2023 \"`, `\"expire_year\":\"2034 \"`, 1))
		if a.Status != 200 || str(a.Body["status"]) != "paid" || !strings.Contains(a.Raw, `"amount":254.20,`) ||
			str(a.Body["payment_id"]) != "7eb3fefb-6b43-4400-b40a-a2a0531364ae" || str(a.Body["test"]) != "false" {
			t.Fatalf("seed example with a valid card: %d %s", a.Status, a.Raw)
		}
		var amount int64
		var currency string
		if err := db.SQL().QueryRow(`SELECT amount, currency FROM payments WHERE id = $1`, str(a.Body["transaction_no"])).Scan(&amount, &currency); err != nil ||
			amount != 25420 || !strings.EqualFold(currency, "CAD") {
			t.Fatalf("payment %d %s, %v; want 25420 CAD", amount, currency, err)
		}
	})
}

// Shoplazza retrying one id while its first request still runs: one
// charge; every answer is the first's, or 409 request_in_progress.
func TestSameIDConcurrently(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := startGateway(t, db, engine.ShoplazzaModelRedirect, shoplazza.Config{})
		form := g.paymentForm("same-id", "ORD-SAME", "card", "4242424242424242")
		const n = 5
		answers := make([]answer, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() { defer wg.Done(); answers[i] = g.post("/shoplazza/payments", form, "") }()
		}
		wg.Wait()
		paid := ""
		for _, a := range answers {
			switch {
			case a.Status == 200 && str(a.Body["status"]) == "paid":
				if paid != "" && a.Raw != paid {
					t.Fatalf("two different answers to one id:\n%s\n%s", paid, a.Raw)
				}
				paid = a.Raw
			case a.Status == 409 && str(a.Body["code"]) == "request_in_progress":
			default:
				t.Fatalf("answer %d %s", a.Status, a.Raw)
			}
		}
		if n := g.count(`SELECT count(*) FROM transactions WHERE type = 'sale'`); n != 1 {
			t.Fatalf("%d charges for one id, want 1", n)
		}
		if a := g.post("/shoplazza/payments", form, ""); a.Status != 200 || str(a.Body["status"]) != "paid" || paid != "" && a.Raw != paid {
			t.Fatalf("replay after the race: %s, want %s", a.Raw, paid)
		}
	})
}
