package api_test

import (
	"flag"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

// TestAPI runs the merchant API over real HTTP against SQLite and
// PostgreSQL. Each subtest uses merchants of its own, so their lists do not
// see each other's payments.
func TestAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		before := e.spec.checked.Load()
		t.Cleanup(func() {
			// Every exchange above went through specTransport.
			if n := e.spec.checked.Load() - before; n < 200 && flag.Lookup("test.run").Value.String() == "" {
				t.Errorf("only %d exchanges were checked against the OpenAPI document", n)
			}
		})
		t.Run("Tour", func(t *testing.T) { testTour(t, e) })
		t.Run("CreateAndConfirm", func(t *testing.T) { testCreateAndConfirm(t, e) })
		t.Run("Lists", func(t *testing.T) { testLists(t, e) })
		t.Run("Auth", func(t *testing.T) { testAuth(t, e) })
		t.Run("Errors", func(t *testing.T) { testErrors(t, e) })
		t.Run("Declines", func(t *testing.T) { testDeclines(t, e) })
		t.Run("Idempotency", func(t *testing.T) { testIdempotency(t, e) })
		t.Run("IdempotencyInFlight", func(t *testing.T) { testIdempotencyInFlight(t, e) })
		t.Run("OneOrderOneSuccess", func(t *testing.T) { testOneOrderOneSuccess(t, e) })
		t.Run("ThreeDSecure", func(t *testing.T) { testThreeDSecure(t, e) })
		t.Run("Meta", func(t *testing.T) { testMeta(t, e) })
	})
}

// testTour is the README's curl tour: create, confirm, capture part,
// refund part, then read the ledger.
func testTour(t *testing.T, e *env) {
	m := e.newMerchant("Tour shop")
	p := m.post(t, "/v1/payments", obj{
		"amount": 2500, "currency": "usd", "order_id": "tour-1", "capture_method": "manual",
		"description": "Two mugs", "customer": obj{"email": "ana@example.com", "name": "Ana"},
		"items":    []obj{{"name": "Mug", "quantity": 2, "unit_price": 1250, "sku": "MUG-1"}},
		"billing":  obj{"line1": "1 Main St", "city": "Lima", "country": "PE"},
		"metadata": obj{"cart": "c-77"}, "return_url": "https://shop.example/return",
	}).want(t, 201).payment(t)
	if p.Status != kassa.StatusRequiresPaymentMethod || p.Currency != "USD" || p.Amount != 2500 || p.OrderID != "tour-1" ||
		p.CaptureMethod != kassa.CaptureManual || p.Metadata["cart"] != "c-77" || len(p.Items) != 1 || p.Customer.Email != "ana@example.com" {
		t.Fatalf("created payment: %+v", p)
	}
	if !strings.HasPrefix(p.ClientSecret, p.ID+"_secret_") || !strings.HasPrefix(p.CheckoutURL, e.srv.URL+"/pay/") {
		t.Errorf("client_secret %q, checkout_url %q", p.ClientSecret, p.CheckoutURL)
	}

	c := m.post(t, "/v1/payments/"+p.ID+"/confirm", obj{"payment_method": card(visa)}).want(t, 200).payment(t)
	if c.Status != kassa.StatusRequiresCapture || c.AmountCapturable != 2500 || c.AmountCaptured != 0 ||
		c.Card == nil || c.Card.Brand != "visa" || c.Card.Last4 != "4242" {
		t.Fatalf("confirmed payment: %+v", c)
	}

	c = m.post(t, "/v1/payments/"+p.ID+"/capture", obj{"amount": 2000}).want(t, 200).payment(t)
	if c.Status != kassa.StatusSucceeded || c.AmountCaptured != 2000 || c.AmountCapturable != 0 || c.CheckoutURL != "" {
		t.Fatalf("captured payment: %+v", c)
	}

	var ref kassa.RefundObject
	m.post(t, "/v1/refunds", obj{"payment": p.ID, "amount": 500, "reason": "requested_by_customer", "metadata": obj{"ticket": "T-1"}}).
		want(t, 201).decode(t, &ref)
	if ref.Status != "succeeded" || ref.Amount != 500 || ref.Currency != "USD" || ref.Payment != p.ID || ref.Metadata["ticket"] != "T-1" {
		t.Fatalf("refund: %+v", ref)
	}
	m.post(t, "/v1/refunds", obj{"payment": p.ID, "amount": 1501}).wantError(t, 400, "invalid_request_error", "amount_too_large", "amount")

	g := m.get(t, "/v1/payments/"+p.ID).want(t, 200).payment(t)
	if g.AmountCaptured != 2000 || g.AmountRefunded != 500 || g.Status != kassa.StatusSucceeded {
		t.Errorf("payment after refund: %+v", g)
	}

	var txns struct {
		Object string                    `json:"object"`
		Data   []kassa.TransactionObject `json:"data"`
	}
	m.get(t, "/v1/payments/"+p.ID+"/transactions").want(t, 200).decode(t, &txns)
	if len(txns.Data) != 3 {
		t.Fatalf("transactions: %+v", txns)
	}
	auth, capt, refund := txns.Data[0], txns.Data[1], txns.Data[2]
	for _, c := range []struct {
		x      kassa.TransactionObject
		typ    kassa.TxnType
		amount int64
		parent string
	}{{auth, kassa.TxnAuthorize, 2500, ""}, {capt, kassa.TxnCapture, 2000, auth.ID}, {refund, kassa.TxnRefund, 500, capt.ID}} {
		x := c.x
		if x.Type != c.typ || x.Status != kassa.TxnSucceeded || x.Amount != c.amount || x.Parent != c.parent || x.Payment != p.ID || x.ProcessorRef == "" {
			t.Errorf("transaction %+v, want %s of %d with parent %q", x, c.typ, c.amount, c.parent)
		}
		// Pending first: each row was written pending before the processor call.
		if len(x.History) < 2 || x.History[0].Status != kassa.TxnPending || x.History[len(x.History)-1].Status != kassa.TxnSucceeded {
			t.Errorf("%s history %+v, want pending … succeeded", x.Type, x.History)
		}
	}
	if refund.ID != ref.Transaction {
		t.Errorf("refund.transaction %s, ledger row %s", ref.Transaction, refund.ID)
	}

	var got kassa.RefundObject
	m.get(t, "/v1/refunds/"+ref.ID).want(t, 200).decode(t, &got)
	if got.ID != ref.ID || got.Status != "succeeded" {
		t.Errorf("GET refund: %+v", got)
	}
	var refunds struct {
		Data    []kassa.RefundObject `json:"data"`
		HasMore bool                 `json:"has_more"`
	}
	m.get(t, "/v1/refunds?payment="+p.ID).want(t, 200).decode(t, &refunds)
	if len(refunds.Data) != 1 || refunds.Data[0].ID != ref.ID || refunds.HasMore {
		t.Errorf("refunds of the payment: %+v", refunds)
	}

	var events struct {
		Data []kassa.EventObject `json:"data"`
	}
	m.get(t, "/v1/events?payment="+p.ID+"&limit=100").want(t, 200).decode(t, &events)
	var types []string
	for _, ev := range events.Data {
		types = append(types, ev.Type)
	}
	want := []string{"refund.succeeded", "refund.created", "payment.succeeded", "payment.authorized", "payment.created"}
	if strings.Join(types, ",") != strings.Join(want, ",") {
		t.Errorf("events newest first: %v, want %v", types, want)
	}
	var ev kassa.EventObject
	m.get(t, "/v1/events/"+events.Data[2].ID).want(t, 200).decode(t, &ev)
	if ev.Type != "payment.succeeded" || !strings.Contains(string(ev.Data), `"status":"succeeded"`) || strings.Contains(string(ev.Data), "client_secret") {
		t.Errorf("event %s data %s", ev.Type, ev.Data)
	}
	m.get(t, "/v1/events?type=refund.created").want(t, 200).decode(t, &events)
	if len(events.Data) != 1 || events.Data[0].Type != "refund.created" {
		t.Errorf("events of type refund.created: %+v", events.Data)
	}
}

// testCreateAndConfirm: confirm: true charges in the create call; JPY has
// no minor unit, so 1050 is ¥1050.
func testCreateAndConfirm(t *testing.T, e *env) {
	m := e.newMerchant("One call shop")
	p := m.post(t, "/v1/payments", obj{"amount": 1050, "currency": "JPY", "confirm": true, "payment_method": card(visa)}).
		want(t, 201).payment(t)
	if p.Status != kassa.StatusSucceeded || p.Amount != 1050 || p.Currency != "JPY" || p.AmountCaptured != 1050 || p.CaptureMethod != kassa.CaptureAutomatic {
		t.Fatalf("payment: %+v", p)
	}
	m.post(t, "/v1/payments/"+p.ID+"/confirm", obj{"payment_method": card(visa)}).
		wantError(t, 400, "invalid_request_error", "payment_already_succeeded", "")

	// A full refund, then nothing is left.
	var ref kassa.RefundObject
	m.post(t, "/v1/refunds", obj{"payment": p.ID}).want(t, 201).decode(t, &ref)
	if ref.Amount != 1050 || ref.Status != "succeeded" {
		t.Errorf("full refund: %+v", ref)
	}
	m.post(t, "/v1/refunds", obj{"payment": p.ID}).wantError(t, 400, "invalid_request_error", "charge_already_refunded", "")

	// Cancel a payment awaiting the shopper; an authorization is voided.
	c := m.post(t, "/v1/payments", obj{"amount": 700, "currency": "EUR"}).want(t, 201).payment(t)
	c = m.post(t, "/v1/payments/"+c.ID+"/cancel", obj{"cancellation_reason": "abandoned"}).want(t, 200).payment(t)
	if c.Status != kassa.StatusCanceled || c.CanceledReason != "abandoned" {
		t.Errorf("canceled: %+v", c)
	}
	a := m.post(t, "/v1/payments", obj{"amount": 900, "currency": "KWD", "capture_method": "manual", "confirm": true, "payment_method": card(visa)}).
		want(t, 201).payment(t)
	if a.Status != kassa.StatusRequiresCapture || a.AmountCapturable != 900 {
		t.Fatalf("authorized: %+v", a)
	}
	a = m.do(t, request{method: "POST", path: "/v1/payments/" + a.ID + "/cancel"}).want(t, 200).payment(t) // no body at all
	if a.Status != kassa.StatusCanceled || a.AmountCapturable != 0 {
		t.Errorf("voided: %+v", a)
	}
	m.post(t, "/v1/payments/"+a.ID+"/capture", nil).wantError(t, 400, "invalid_request_error", "payment_unexpected_state", "")
}

type paymentList struct {
	Object  string                `json:"object"`
	Data    []kassa.PaymentObject `json:"data"`
	HasMore bool                  `json:"has_more"`
	URL     string                `json:"url"`
}

func ids(ps []kassa.PaymentObject) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.ID)
	}
	return strings.Join(s, ",")
}

// testLists: cursor pagination and every filter of GET /v1/payments.
func testLists(t *testing.T, e *env) {
	m := e.newMerchant("List shop")
	var created []kassa.PaymentObject // oldest first
	for i := range 5 {
		if i > 0 {
			e.advance(100 * time.Second) // distinct creation seconds for the created[…] filters
		}
		// Even ones await a card and share an order; odd ones are paid, each its own order.
		body := obj{"amount": 100 + i, "currency": "PEN", "order_id": "list-even"}
		if i%2 == 1 {
			body["order_id"], body["confirm"], body["payment_method"] = fmt.Sprintf("list-odd-%d", i), true, card(visa)
		}
		created = append(created, m.post(t, "/v1/payments", body).want(t, 201).payment(t))
	}
	newest := func(ps ...kassa.PaymentObject) string {
		var r []kassa.PaymentObject
		for i := len(ps) - 1; i >= 0; i-- {
			r = append(r, ps[i])
		}
		return ids(r)
	}
	list := func(query string) paymentList {
		t.Helper()
		var l paymentList
		m.get(t, "/v1/payments"+query).want(t, 200).decode(t, &l)
		if l.Object != "list" || l.URL != "/v1/payments" {
			t.Errorf("list envelope: %+v", l)
		}
		return l
	}

	all := list("")
	if ids(all.Data) != newest(created...) || all.HasMore {
		t.Fatalf("all payments: %s has_more=%v, want %s", ids(all.Data), all.HasMore, newest(created...))
	}
	// Pages of two, following the cursor.
	var pages []string
	cursor := ""
	for range 4 {
		q := "?limit=2"
		if cursor != "" {
			q += "&starting_after=" + cursor
		}
		l := list(q)
		pages = append(pages, ids(l.Data))
		if !l.HasMore {
			break
		}
		cursor = l.Data[len(l.Data)-1].ID
	}
	want := []string{newest(created[3:]...), newest(created[1:3]...), newest(created[0])}
	if strings.Join(pages, " | ") != strings.Join(want, " | ") {
		t.Errorf("pages:\n got %v\nwant %v", pages, want)
	}

	if l := list("?status=succeeded"); ids(l.Data) != newest(created[1], created[3]) {
		t.Errorf("status=succeeded: %s", ids(l.Data))
	}
	if l := list("?status=requires_payment_method&order_id=list-even"); ids(l.Data) != newest(created[0], created[2], created[4]) {
		t.Errorf("status and order_id: %s", ids(l.Data))
	}
	if l := list("?order_id=list-even&limit=1"); ids(l.Data) != created[4].ID || !l.HasMore {
		t.Errorf("order_id=list-even&limit=1: %s has_more=%v", ids(l.Data), l.HasMore)
	}
	if l := list("?order_id=list-odd-3"); ids(l.Data) != created[3].ID || l.HasMore {
		t.Errorf("order_id=list-odd-3: %s has_more=%v", ids(l.Data), l.HasMore)
	}
	if l := list("?status=succeeded&order_id=list-even"); len(l.Data) != 0 {
		t.Errorf("status=succeeded&order_id=list-even: %s", ids(l.Data))
	}
	c := func(i int) int64 { return created[i].Created }
	if l := list(fmt.Sprintf("?created[gte]=%d", c(3))); ids(l.Data) != newest(created[3:]...) {
		t.Errorf("created[gte]: %s", ids(l.Data))
	}
	if l := list(fmt.Sprintf("?created[lte]=%d", c(1))); ids(l.Data) != newest(created[:2]...) {
		t.Errorf("created[lte]: %s", ids(l.Data))
	}
	q := url.Values{"created[gte]": {fmt.Sprint(c(1))}, "created[lte]": {fmt.Sprint(c(3))}, "limit": {"2"}}
	if l := list("?" + q.Encode()); ids(l.Data) != newest(created[2:4]...) || !l.HasMore {
		t.Errorf("created range, escaped brackets: %s has_more=%v", ids(l.Data), l.HasMore)
	}
	if l := list(fmt.Sprintf("?created[gte]=%d", c(4)+1)); len(l.Data) != 0 || l.HasMore {
		t.Errorf("created after the last: %s", ids(l.Data))
	}

	for _, c := range []struct{ query, code, param string }{
		{"?limit=0", "parameter_invalid", "limit"},
		{"?limit=101", "parameter_invalid", "limit"},
		{"?limit=ten", "parameter_invalid", "limit"},
		{"?status=paid", "parameter_invalid", "status"},
		{"?created[gte]=yesterday", "parameter_invalid", "created[gte]"},
		{"?state=succeeded", "parameter_unknown", "state"},
	} {
		m.get(t, "/v1/payments"+c.query).wantError(t, 400, "invalid_request_error", c.code, c.param)
	}
	m.get(t, "/v1/refunds?payments=x").wantError(t, 400, "invalid_request_error", "parameter_unknown", "payments")
	m.get(t, "/v1/events?limit=-1").wantError(t, 400, "invalid_request_error", "parameter_invalid", "limit")
}

// testAuth: secret keys only, as Bearer or Basic; each merchant sees only its own payments.
func testAuth(t *testing.T, e *env) {
	a, b := e.newMerchant("Shop A"), e.newMerchant("Shop B")
	p := a.post(t, "/v1/payments", obj{"amount": 1000, "currency": "USD"}).want(t, 201).payment(t)

	r := a.do(t, request{method: "GET", path: "/v1/payments", auth: "none"})
	r.wantError(t, 401, "authentication_error", "api_key_missing", "")
	if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 without WWW-Authenticate: %v", r.header)
	}
	a.do(t, request{method: "POST", path: "/v1/payments", auth: "none", body: obj{"amount": 1, "currency": "USD"}}).
		wantError(t, 401, "authentication_error", "api_key_missing", "")
	a.do(t, request{method: "GET", path: "/v1/payments", auth: "Bearer sk_test_" + strings.Repeat("0", 39)}).
		wantError(t, 401, "authentication_error", "invalid_api_key", "")
	a.do(t, request{method: "GET", path: "/v1/payments", auth: "Bearer " + a.sk + "x"}).
		wantError(t, 401, "authentication_error", "invalid_api_key", "")
	a.do(t, request{method: "GET", path: "/v1/payments", auth: "Bearer " + a.pk}).
		wantError(t, 401, "authentication_error", "secret_key_required", "")
	a.do(t, request{method: "GET", path: "/v1/payments", auth: "Token " + a.sk}).
		wantError(t, 401, "authentication_error", "api_key_missing", "")

	// curl -u sk_…: sends Basic with an empty password.
	var l paymentList
	a.do(t, request{method: "GET", path: "/v1/payments/" + p.ID, auth: "basic"}).want(t, 200)
	a.do(t, request{method: "GET", path: "/v1/payments", auth: "basic"}).want(t, 200).decode(t, &l)
	if ids(l.Data) != p.ID {
		t.Errorf("A's list with Basic auth: %s", ids(l.Data))
	}

	// B cannot see or touch A's payment: it does not exist for B.
	b.get(t, "/v1/payments/"+p.ID).wantError(t, 404, "invalid_request_error", "resource_missing", "")
	b.get(t, "/v1/payments/"+p.ID+"/transactions").wantError(t, 404, "invalid_request_error", "resource_missing", "")
	b.post(t, "/v1/payments/"+p.ID+"/confirm", obj{"payment_method": card(visa)}).wantError(t, 404, "invalid_request_error", "resource_missing", "")
	b.post(t, "/v1/payments/"+p.ID+"/cancel", nil).wantError(t, 404, "invalid_request_error", "resource_missing", "")
	b.post(t, "/v1/refunds", obj{"payment": p.ID}).wantError(t, 404, "invalid_request_error", "resource_missing", "payment")
	b.get(t, "/v1/payments").want(t, 200).decode(t, &l)
	if len(l.Data) != 0 {
		t.Errorf("B lists A's payments: %s", ids(l.Data))
	}
	var events struct {
		Data []kassa.EventObject `json:"data"`
	}
	a.get(t, "/v1/events?payment="+p.ID).want(t, 200).decode(t, &events)
	if len(events.Data) == 0 {
		t.Fatal("A has no events")
	}
	b.get(t, "/v1/events/"+events.Data[0].ID).wantError(t, 404, "invalid_request_error", "resource_missing", "")
	// A's payment is untouched.
	if g := a.get(t, "/v1/payments/"+p.ID).want(t, 200).payment(t); g.Status != kassa.StatusRequiresPaymentMethod {
		t.Errorf("A's payment after B's attempts: %s", g.Status)
	}
}

// testErrors: each bad request gets its exact type, code and param, and
// the document refuses the same bodies the server refuses.
func testErrors(t *testing.T, e *env) {
	m := e.newMerchant("Error shop")
	ok := `{"amount":1000,"currency":"USD"}`
	cases := []struct {
		name, path, body, contentType string
		status                        int
		typ, code, param              string
		specRefuses                   bool // the document's request schema refuses the body too
	}{
		{"malformed JSON", "/v1/payments", `{"amount": 100,`, "", 400, "invalid_request_error", "body_invalid", "", true},
		{"not an object", "/v1/payments", `[{"amount":100}]`, "", 400, "invalid_request_error", "body_invalid", "", true},
		{"two objects", "/v1/payments", ok + ok, "", 400, "invalid_request_error", "body_invalid", "", false},
		{"empty body", "/v1/payments", ``, "", 400, "invalid_request_error", "body_missing", "", false},
		{"text/plain", "/v1/payments", ok, "text/plain", 415, "invalid_request_error", "unsupported_media_type", "", true},
		{"form encoded", "/v1/payments", "amount=1000&currency=USD", "application/x-www-form-urlencoded", 415, "invalid_request_error", "unsupported_media_type", "", true},
		{"unknown field", "/v1/payments", `{"amount":1000,"currency":"USD","amount_cents":5}`, "", 400, "invalid_request_error", "parameter_unknown", "amount_cents", true},
		{"unknown card field", "/v1/payments", `{"amount":1000,"currency":"USD","confirm":true,"payment_method":{"card":{"number":"4242424242424242","exp_month":12,"exp_year":2040,"cvc":"123","foo":1}}}`, "", 400, "invalid_request_error", "parameter_unknown", "payment_method[card][foo]", true},
		{"unknown payment_method field", "/v1/payments", `{"amount":1000,"currency":"USD","payment_method":{"type":"card"}}`, "", 400, "invalid_request_error", "parameter_unknown", "payment_method[type]", true},
		{"unknown item field", "/v1/payments", `{"amount":1000,"currency":"USD","items":[{"name":"a","quantity":1},{"name":"b","quantity":1,"color":"red"}]}`, "", 400, "invalid_request_error", "parameter_unknown", "items[1][color]", true},
		{"unknown address field", "/v1/payments", `{"amount":1000,"currency":"USD","billing":{"line1":"x","zip":"1"}}`, "", 400, "invalid_request_error", "parameter_unknown", "billing[zip]", true},
		{"amount as string", "/v1/payments", `{"amount":"10","currency":"USD"}`, "", 400, "invalid_request_error", "parameter_invalid_type", "amount", true},
		{"amount with decimals", "/v1/payments", `{"amount":10.5,"currency":"USD"}`, "", 400, "invalid_request_error", "parameter_invalid_type", "amount", true},
		{"exp_month as string", "/v1/payments/{id}/confirm", `{"payment_method":{"card":{"number":"4242424242424242","exp_month":"12","exp_year":2040,"cvc":"123"}}}`, "", 400, "invalid_request_error", "parameter_invalid_type", "payment_method[card][exp_month]", true},
		{"metadata value not a string", "/v1/payments", `{"amount":1000,"currency":"USD","metadata":{"n":1}}`, "", 400, "invalid_request_error", "parameter_invalid_type", "metadata", true},
		{"missing amount", "/v1/payments", `{"currency":"USD"}`, "", 400, "invalid_request_error", "parameter_missing", "amount", true},
		{"zero amount", "/v1/payments", `{"amount":0,"currency":"USD"}`, "", 400, "invalid_request_error", "amount_invalid", "amount", true},
		{"missing currency", "/v1/payments", `{"amount":1000}`, "", 400, "invalid_request_error", "parameter_missing", "currency", true},
		{"unknown currency", "/v1/payments", `{"amount":1000,"currency":"XXX"}`, "", 400, "invalid_request_error", "currency_unsupported", "currency", false},
		{"bad capture_method", "/v1/payments", `{"amount":1000,"currency":"USD","capture_method":"later"}`, "", 400, "invalid_request_error", "parameter_invalid", "capture_method", true},
		{"bad return_url", "/v1/payments", `{"amount":1000,"currency":"USD","return_url":"javascript:alert(1)"}`, "", 400, "invalid_request_error", "url_invalid", "return_url", false},
		{"card without confirm", "/v1/payments", `{"amount":1000,"currency":"USD","payment_method":{"card":{"number":"4242424242424242","exp_month":12,"exp_year":2040,"cvc":"123"}}}`, "", 400, "invalid_request_error", "parameter_invalid", "confirm", true},
		{"confirm without card", "/v1/payments", `{"amount":1000,"currency":"USD","confirm":true}`, "", 400, "invalid_request_error", "parameter_missing", "payment_method", true},
		{"confirm without body", "/v1/payments/{id}/confirm", ``, "", 400, "invalid_request_error", "parameter_missing", "payment_method", false},
		{"bad cancellation_reason", "/v1/payments/{id}/cancel", `{"cancellation_reason":"bored"}`, "", 400, "invalid_request_error", "parameter_invalid", "cancellation_reason", true},
		{"refund without payment", "/v1/refunds", `{"amount":100}`, "", 400, "invalid_request_error", "parameter_missing", "payment", true},
		{"refund of an unknown payment", "/v1/refunds", `{"payment":"pay_nope"}`, "", 404, "invalid_request_error", "resource_missing", "payment", false},
		{"refund before capture", "/v1/refunds", `{"payment":"{id}"}`, "", 400, "invalid_request_error", "payment_unexpected_state", "", false},
		{"bad refund reason", "/v1/refunds", `{"payment":"{id}","reason":"because"}`, "", 400, "invalid_request_error", "parameter_invalid", "reason", true},
		{"bad card number", "/v1/payments", `{"amount":1000,"currency":"USD","confirm":true,"payment_method":{"card":{"number":"4242424242424241","exp_month":12,"exp_year":2040,"cvc":"123"}}}`, "", 402, "card_error", "incorrect_number", "payment_method[card][number]", false},
		{"bad CVC", "/v1/payments/{id}/confirm", `{"payment_method":{"card":{"number":"4242424242424242","exp_month":12,"exp_year":2040,"cvc":"12"}}}`, "", 402, "card_error", "invalid_cvc", "payment_method[card][cvc]", true},
		{"expired card", "/v1/payments/{id}/confirm", `{"payment_method":{"card":{"number":"4242424242424242","exp_month":1,"exp_year":2020,"cvc":"123"}}}`, "", 402, "card_error", "expired_card", "payment_method[card][exp_year]", false},
	}
	target := m.post(t, "/v1/payments", obj{"amount": 1000, "currency": "USD"}).want(t, 201).payment(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := strings.ReplaceAll(c.path, "{id}", target.ID)
			body := strings.ReplaceAll(c.body, "{id}", target.ID)
			ct := c.contentType
			if ct == "" {
				ct = "application/json"
			}
			r := m.do(t, request{method: "POST", path: path, body: body, header: map[string]string{"Content-Type": ct}})
			r.wantError(t, c.status, c.typ, c.code, c.param)
			if c.specRefuses {
				refused, why := e.spec.requestRefused("POST", path, ct, body)
				if !refused {
					t.Errorf("the server refuses %s but the OpenAPI document accepts it", body)
				}
				// The document refuses it for the same field.
				field := c.param[strings.LastIndex(c.param, "[")+1:]
				if field = strings.TrimSuffix(field, "]"); !strings.Contains(why, field) {
					t.Errorf("the document refuses %s, but not because of %s:%s", body, c.param, why)
				}
			}
		})
	}
	// No write happened: the target is untouched and the merchant has one payment.
	var l paymentList
	m.get(t, "/v1/payments").want(t, 200).decode(t, &l)
	if len(l.Data) != 1 || l.Data[0].Status != kassa.StatusRequiresPaymentMethod || l.Data[0].Card != nil {
		t.Errorf("after the refused requests: %+v", l.Data)
	}

	t.Run("oversized body", func(t *testing.T) {
		big := `{"amount":1000,"currency":"USD","description":"` + strings.Repeat("x", 70<<10) + `"}`
		m.post(t, "/v1/payments", big).wantError(t, 413, "invalid_request_error", "body_too_large", "")
		m.do(t, request{method: "POST", path: "/v1/payments", body: big, header: map[string]string{"Idempotency-Key": "big-1"}}).
			wantError(t, 413, "invalid_request_error", "body_too_large", "")
	})
	t.Run("field too long", func(t *testing.T) {
		m.post(t, "/v1/payments", obj{"amount": 1, "currency": "USD", "order_id": strings.Repeat("o", 256)}).
			wantError(t, 400, "invalid_request_error", "parameter_too_long", "order_id")
	})
	t.Run("unknown route", func(t *testing.T) {
		for _, rq := range []request{
			{method: "GET", path: "/v1/nope"},
			{method: "POST", path: "/v1/payments/" + target.ID + "/refund"},
			{method: "DELETE", path: "/v1/payments/" + target.ID},
			{method: "GET", path: "/v1/charges?limit=1"},
		} {
			rq.notInSpec = true
			m.do(t, rq).wantError(t, 404, "invalid_request_error", "route_not_found", "")
		}
	})
	t.Run("unknown objects", func(t *testing.T) {
		m.get(t, "/v1/payments/pay_nope").wantError(t, 404, "invalid_request_error", "resource_missing", "")
		m.get(t, "/v1/refunds/re_nope").wantError(t, 404, "invalid_request_error", "resource_missing", "")
		m.get(t, "/v1/events/evt_nope").wantError(t, 404, "invalid_request_error", "resource_missing", "")
		m.post(t, "/v1/payments/pay_nope/capture", nil).wantError(t, 404, "invalid_request_error", "resource_missing", "")
	})
}

// testDeclines: a decline is a 402 card_error carrying the payment, which
// is back in requires_payment_method so another card can be tried.
func testDeclines(t *testing.T, e *env) {
	m := e.newMerchant("Decline shop")
	p := m.post(t, "/v1/payments", obj{"amount": 1234, "currency": "USD", "order_id": "decl-1"}).want(t, 201).payment(t)
	for _, c := range []struct{ number, code, decline string }{
		{"4000000000000002", "card_declined", "generic_decline"},
		{"4000000000009995", "card_declined", "insufficient_funds"},
		{"4000000000000127", "incorrect_cvc", "incorrect_cvc"},
	} {
		r := m.post(t, "/v1/payments/"+p.ID+"/confirm", obj{"payment_method": card(c.number)})
		er := r.wantError(t, 402, "card_error", c.code, "")
		if er.Error.DeclineCode != c.decline {
			t.Errorf("%s: decline_code %q, want %q", c.number, er.Error.DeclineCode, c.decline)
		}
		got := er.Error.Payment
		if got == nil || got.ID != p.ID || got.Status != kassa.StatusRequiresPaymentMethod || got.LastError == nil ||
			got.LastError.Code != c.code || got.LastError.DeclineCode != c.decline || got.Card == nil || got.Card.Last4 != c.number[12:] {
			t.Errorf("%s: payment attached to the decline: %+v", c.number, got)
		}
	}
	// The order was released by each decline: a good card still pays it.
	ok := m.post(t, "/v1/payments/"+p.ID+"/confirm", obj{"payment_method": card(visa)}).want(t, 200).payment(t)
	if ok.Status != kassa.StatusSucceeded || ok.LastError != nil || ok.AmountCaptured != 1234 {
		t.Errorf("after declines, a good card: %+v", ok)
	}

	// Declined in the create call: 402 with the new payment attached.
	r := m.post(t, "/v1/payments", obj{"amount": 500, "currency": "USD", "confirm": true, "payment_method": card("4000000000000002")})
	er := r.wantError(t, 402, "card_error", "card_declined", "")
	if er.Error.Payment == nil || er.Error.Payment.Status != kassa.StatusRequiresPaymentMethod || er.Error.DeclineCode != "generic_decline" {
		t.Errorf("create+confirm decline: %s", r)
	}
}

// testMeta: /healthz and /openapi.json need no key.
func testMeta(t *testing.T, e *env) {
	m := e.newMerchant("Meta shop")
	m.do(t, request{method: "GET", path: "/healthz", auth: "none"}).want(t, 200)
	r := m.do(t, request{method: "GET", path: "/openapi.json", auth: "none"}).want(t, 200)
	if !strings.Contains(string(r.body), `"openapi": "3.1.0"`) {
		t.Errorf("GET /openapi.json: %.100s", r.body)
	}
	if r.header.Get("Content-Type") != "application/json" {
		t.Errorf("GET /openapi.json Content-Type %q", r.header.Get("Content-Type"))
	}
}
