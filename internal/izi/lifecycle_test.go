package izi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/izi"
	"github.com/kassa-pay/kassa/internal/processor"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

// TestIPNHashSeedExample is the worked example of seed document 002.
func TestIPNHashSeedExample(t *testing.T) {
	got := izi.IPNHash("5d8e6002b80b7b4cd75a6424", "inProgress", "2", "317.42", "ETH", "WMZ", "1571328406072", "SECRET123")
	if got != "af3acf947e6f0e0f2c267e300b8582e504dba12d1f2d058652b7414163c09f48" {
		t.Fatalf("hash %s", got)
	}
	// The spec's self-computed vector.
	if h := izi.IPNHash("6424bc4f1ebb0b8e0ddb494b", "done", "100", "0.0015", "CARDUAH", "BTC", "1700000000", "s3cr3t"); h != "5492abb50b85b4f75d853a93c053c9462809a89d7c24fb65a32ff0cd09bc602f" {
		t.Fatalf("hash %s", h)
	}
	f := url.Values{"orderId": {"5d8e6002b80b7b4cd75a6424"}, "newStatus": {"inProgress"}, "inAmount": {"2"}, "outAmount": {"317.42"},
		"xml_from": {"ETH"}, "xml_to": {"WMZ"}, "timestamp": {"1571328406072"}, "hash": {"af3acf947e6f0e0f2c267e300b8582e504dba12d1f2d058652b7414163c09f48"}}
	if !izi.VerifyIPN(f, "SECRET123") || izi.VerifyIPN(f, "SECRET124") {
		t.Fatal("VerifyIPN")
	}
	f.Set("outAmount", "317.420")
	if izi.VerifyIPN(f, "SECRET123") {
		t.Fatal("a re-formatted amount verified")
	}
}

// TestIPNFormSeedExample builds the IPN of the seed's worked example the
// way the gateway sends it (an order.updated snapshot, the clock at the
// example's timestamp) and checks every field byte for byte: amounts as
// String(number) ("2", not "2.00"), timestamp in Unix milliseconds,
// toValues[i][key|name|value], and the example's hash.
func TestIPNFormSeedExample(t *testing.T) {
	o := &kassa.OrderObject{ID: "5d8e6002b80b7b4cd75a6424", UID: 1409, Status: kassa.OrderInProgress,
		InAmount: "2.00", OutAmount: "317.420", XMLFrom: "ETH", XMLTo: "WMZ",
		ToValues: []kassa.OrderValue{{Key: "wallet", Name: "Wallet", Value: "Z123456789012"}}}
	f := izi.Form(o, time.UnixMilli(1571328406072), "SECRET123")
	want := "hash=af3acf947e6f0e0f2c267e300b8582e504dba12d1f2d058652b7414163c09f48&inAmount=2&newStatus=inProgress" +
		"&orderId=5d8e6002b80b7b4cd75a6424&orderUID=1409&outAmount=317.42&timestamp=1571328406072" +
		"&toValues%5B0%5D%5Bkey%5D=wallet&toValues%5B0%5D%5Bname%5D=Wallet&toValues%5B0%5D%5Bvalue%5D=Z123456789012" +
		"&xml_from=ETH&xml_to=WMZ"
	if got := f.Encode(); got != want {
		t.Fatalf("IPN body\n got %s\nwant %s", got, want)
	}
	for _, c := range []struct {
		minor    int64
		currency string
		want     string
	}{{200, "PEN", "2"}, {31742, "USD", "317.42"}, {10010, "PEN", "100.1"}, {10000, "PEN", "100"}, {5, "USD", "0.05"},
		{1500, "JPY", "1500"}, {1005, "KWD", "1.005"}, {1000, "KWD", "1"}, {0, "USD", "0"}} {
		if got := izi.Number(c.minor, c.currency); got != c.want {
			t.Errorf("Number(%d %s) = %q, want %q", c.minor, c.currency, got, c.want)
		}
	}
}

// TestOrderLifecycleOverHTTP runs an order from creation to payout over
// HTTP: order API, payment page, Kassa's card form (a decline, then a
// success), automatic payout, and an IPN for every status change, each
// checked by a real receiver (one IPN fails once and is retried).
func TestOrderLifecycleOverHTTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := startGateway(t, db)
		route := g.createRoute(`{"from":"PEN","to":"USD","rate":"0.27","fee_percent":"1","min":"10","max":"10000"}`)

		o := g.createOrder(g.orderForm(route, "100", "ACC12345678", "ipn-secret-1"))
		if o.InAmount.String() != "100" || o.OutAmount.String() != "26.73" || o.XMLFrom != "PEN" || o.XMLTo != "USD" {
			t.Fatalf("amounts %s → %s (%s→%s)", o.InAmount, o.OutAmount, o.XMLFrom, o.XMLTo)
		}
		if o.Status != "new" || o.UID < 1001 || len(o.Secret) < 20 || !strings.HasPrefix(o.ID, "ord_") {
			t.Fatalf("order %+v", o)
		}
		if o.PaymentURL != g.url+"/en/payment/"+strconv.FormatInt(o.UID, 10)+"/"+o.Secret ||
			o.OrderURL != g.url+"/en/order/"+strconv.FormatInt(o.UID, 10)+"/"+o.Secret {
			t.Fatalf("urls %s %s", o.PaymentURL, o.OrderURL)
		}
		g.ipn.failFirst(o.ID, "inProgress", 1)

		// The payment page shows what to pay.
		code, page, h := g.do("GET", strings.TrimPrefix(o.PaymentURL, g.url), "", "", false)
		if code != 200 || !strings.Contains(string(page), "100.00 PEN") || !strings.Contains(string(page), "26.73 USD") ||
			!strings.Contains(string(page), "ACC12345678") || !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Fatalf("payment page: %d %s", code, page)
		}

		// A declined card: errorPayment; then a good card pays.
		cs := g.startPayment(o)
		if st := g.status(o); st != "waitPayment" {
			t.Fatalf("after pay: %s", st)
		}
		if st := g.payCard(cs, processor.CardDeclined); st != "requires_payment_method" {
			t.Fatalf("declined card: payment %s", st)
		}
		if st := g.status(o); st != "errorPayment" {
			t.Fatalf("after decline: %s", st)
		}
		cs = g.startPayment(o)
		if st := g.payCard(cs, "4242424242424242"); st != "succeeded" {
			t.Fatalf("good card: payment %s", st)
		}
		g.waitStatus(o, "done")

		ipns := g.waitIPNs(o, "waitPayment", "errorPayment", "waitPayment", "inProgress", "inProgressPayout", "done")
		if n := g.ipn.attempts(o.ID, "inProgress"); n != 2 {
			t.Errorf("the inProgress IPN was tried %d times, want 2 (one failure, one retry)", n)
		}
		for _, f := range ipns {
			if f.Get("orderUID") != strconv.FormatInt(o.UID, 10) || f.Get("inAmount") != "100" || f.Get("outAmount") != "26.73" || !izi.VerifyIPN(f, "ipn-secret-1") ||
				f.Get("xml_from") != "PEN" || f.Get("xml_to") != "USD" || f.Get("toValues[0][key]") != "account" ||
				f.Get("toValues[0][value]") != "ACC12345678" || len(f.Get("timestamp")) != 13 {
				t.Errorf("IPN fields %v", f)
			}
		}

		// The order page: timeline and the way back with status=success.
		code, page, _ = g.do("GET", strings.TrimPrefix(o.OrderURL, g.url), "", "", false)
		body := string(page)
		for _, want := range []string{`data-status="done"`, `href="https://shop.example/back?cart=9&amp;status=success"`,
			`data-status="errorPayment"`, `data-status="inProgressPayout"`} {
			if !strings.Contains(body, want) {
				t.Errorf("order page lacks %s", want)
			}
		}
		if code != 200 {
			t.Fatalf("order page %d", code)
		}

		// The REST API sees the order with its payment, paid.
		var ob kassa.OrderObject
		g.api("GET", "/v1/orders/"+o.ID, "", &ob)
		if ob.Status != kassa.OrderDone || !ob.Paid || ob.PayoutStatus != kassa.PayoutSucceeded || len(ob.History) != 7 {
			t.Fatalf("order object %+v", ob)
		}
		var pay struct {
			Status         string
			AmountCaptured int64 `json:"amount_captured"`
			Currency       string
		}
		g.api("GET", "/v1/payments/"+ob.Payment, "", &pay)
		if pay.Status != "succeeded" || pay.AmountCaptured != 10000 || pay.Currency != "PEN" {
			t.Fatalf("payment %+v", pay)
		}

		// Final: nothing moves it any more.
		code, b, _ := g.do("POST", "/v1/orders/"+o.ID+"/hold", "", "", true)
		if code != http.StatusBadRequest || !strings.Contains(string(b), "order_transition_invalid") {
			t.Fatalf("hold of a done order: %d %s", code, b)
		}
	})
}

// TestOrderOperatorActions covers manual routes, hold/release/approve,
// payout failure and hold by the payout processor, return (refund) and
// delete, with the IPN of every change.
func TestOrderOperatorActions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := startGateway(t, db)
		manual := g.createRoute(`{"from":"PEN","to":"USD","rate":"0.27","min":"1","payout_mode":"manual"}`)
		act := func(o *orderData, action string) (int, string) {
			code, b, _ := g.do("POST", "/v1/orders/"+o.ID+"/"+action, "", "", true)
			return code, string(b)
		}
		mustAct := func(o *orderData, action string) {
			t.Helper()
			if code, b := act(o, action); code != 200 {
				t.Fatalf("%s: %d %s", action, code, b)
			}
		}
		pay := func(o *orderData) {
			t.Helper()
			if st := g.payCard(g.startPayment(o), "4242424242424242"); st != "succeeded" {
				t.Fatalf("payment %s", st)
			}
		}

		// Manual route: paid orders wait for approval; hold/release on the way.
		a := g.createOrder(g.orderForm(manual, "50.00", "ACC12345678", "s-a"))
		pay(a)
		if st := g.status(a); st != "inProgress" {
			t.Fatalf("manual route after payment: %s", st)
		}
		mustAct(a, "hold")
		if code, b := act(a, "approve"); code != 400 || !strings.Contains(b, "order_transition_invalid") {
			t.Fatalf("approve while held: %d %s", code, b)
		}
		mustAct(a, "release")
		if st := g.status(a); st != "inProgress" {
			t.Fatalf("released to %s", st)
		}
		mustAct(a, "approve")
		g.waitStatus(a, "done")
		g.waitIPNs(a, "waitPayment", "inProgress", "hold", "inProgress", "inProgressPayout", "done")

		// A recipient the payout processor rejects: errorPayout, then returned.
		b := g.createOrder(g.orderForm(manual, "20", "ACC1234"+processor.PayoutFailSuffix, "s-b"))
		pay(b)
		mustAct(b, "approve")
		g.waitStatus(b, "errorPayout")
		if code, body := act(b, "delete"); code != 400 || !strings.Contains(body, "order_transition_invalid") {
			t.Fatalf("delete of a paid order: %d %s", code, body)
		}
		mustAct(b, "return")
		if st := g.status(b); st != "returned" {
			t.Fatalf("after return: %s", st)
		}
		var ob kassa.OrderObject
		g.api("GET", "/v1/orders/"+b.ID, "", &ob)
		var p struct {
			AmountRefunded int64 `json:"amount_refunded"`
		}
		g.api("GET", "/v1/payments/"+ob.Payment, "", &p)
		if p.AmountRefunded != 2000 {
			t.Fatalf("returned order refunded %d, want 2000", p.AmountRefunded)
		}
		g.waitIPNs(b, "waitPayment", "inProgress", "inProgressPayout", "errorPayout", "returned")

		// A recipient the payout processor holds for review: hold; release
		// retries the payout (held again); the operator returns it.
		auto := g.createRoute(`{"from":"PEN","to":"USD","rate":"0.27","min":"1"}`)
		c := g.createOrder(g.orderForm(auto, "30", "ACC1234"+processor.PayoutHoldSuffix, "s-c"))
		pay(c)
		g.waitStatus(c, "hold")
		mustAct(c, "release")
		g.waitStatus(c, "hold")
		mustAct(c, "return")
		g.waitIPNs(c, "waitPayment", "inProgress", "inProgressPayout", "hold", "inProgressPayout", "hold", "returned")

		// An unpaid order is deleted; its payment is canceled and can no longer be paid.
		d := g.createOrder(g.orderForm(auto, "40", "ACC12345678", "s-d"))
		cs := g.startPayment(d)
		mustAct(d, "delete")
		if st := g.status(d); st != "deleted" {
			t.Fatalf("after delete: %s", st)
		}
		if code, body := act(d, "return"); code != 400 || !strings.Contains(body, "order_transition_invalid") {
			t.Fatalf("return of a deleted order: %d %s", code, body)
		}
		if st := g.payCard(cs, "4242424242424242"); st == "succeeded" {
			t.Fatal("a deleted order's payment was paid")
		}
		g.waitIPNs(d, "waitPayment", "deleted")

		// Another merchant's key sees none of these orders.
		other, err := g.eng.CreateMerchant(context.Background(), "Other", "")
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("POST", g.url+"/v1/orders/"+a.ID+"/hold", nil)
		req.Header.Set("Authorization", "Bearer "+other.SecretKey)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 404 {
			t.Fatalf("another merchant's hold: %d", res.StatusCode)
		}
	})
}

// TestOrderBadInputs checks that every bad input gets a clear izi error
// envelope (success false, numeric errorCode, Kassa code and param) and
// creates nothing.
func TestOrderBadInputs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := startGateway(t, db)
		route := g.createRoute(`{"from":"PEN","to":"USD","rate":"0.27","min":"10","max":"10000",
			"to_fields":[{"key":"account","name":"Account","pattern":"[0-9]{8,12}"},{"key":"bank","name":"Bank","optional":true}]}`)
		good := func() url.Values { return g.orderForm(route, "100", "12345678", "sec") }
		cases := []struct {
			name   string
			change func(url.Values)
			status int
			code   string
			ec     int
			param  string
		}{
			{"unknown route", func(f url.Values) { f.Set("routeId", "rte_nope") }, 404, "route_not_found", 106, "routeId"},
			{"no route", func(f url.Values) { f.Del("routeId") }, 400, "parameter_missing", 100, "routeId"},
			{"amount below min", func(f url.Values) { f.Set("amount", "9.99") }, 400, "amount_out_of_range", 103, "amount"},
			{"amount above max", func(f url.Values) { f.Set("amount", "10000.01") }, 400, "amount_out_of_range", 103, "amount"},
			{"amount not a number", func(f url.Values) { f.Set("amount", "1e3") }, 400, "amount_invalid", 102, "amount"},
			{"amount too precise", func(f url.Values) { f.Set("amount", "100.001") }, 400, "amount_invalid", 102, "amount"},
			{"agreement missing", func(f url.Values) { f.Del("agreement") }, 400, "agreement_required", 104, "agreement"},
			{"agreement false", func(f url.Values) { f.Set("agreement", "false") }, 400, "agreement_required", 104, "agreement"},
			{"toValues missing", func(f url.Values) { f.Del("toValues[0][key]"); f.Del("toValues[0][value]") }, 400, "to_values_invalid", 105, "toValues"},
			{"toValues bad value", func(f url.Values) { f.Set("toValues[0][value]", "12ab") }, 400, "to_values_invalid", 105, "toValues[0][value]"},
			{"toValues unknown key", func(f url.Values) { f.Set("toValues[1][key]", "wallet"); f.Set("toValues[1][value]", "x") }, 400, "to_values_invalid", 105, "toValues[1][key]"},
			{"toValues gap", func(f url.Values) { f.Set("toValues[2][key]", "bank"); f.Set("toValues[2][value]", "x") }, 400, "parameter_missing", 100, "toValues[1]"},
			{"toValues twice", func(f url.Values) { f.Set("toValues[1][key]", "account"); f.Set("toValues[1][value]", "12345678") }, 400, "to_values_invalid", 105, "toValues[1][key]"},
			{"bad ipnUrl", func(f url.Values) { f.Set("ipnUrl", "ftp://x") }, 400, "url_invalid", 108, "ipnUrl"},
			{"ipnUrl without secret", func(f url.Values) { f.Del("ipnSecret") }, 400, "parameter_missing", 100, "ipnSecret"},
			{"bad boolean", func(f url.Values) { f.Set("hideOutData", "maybe") }, 400, "parameter_invalid", 101, "hideOutData"},
		}
		for _, c := range cases {
			f := good()
			c.change(f)
			a := g.izi("/public/exchanger/order/create", f, true)
			if a.Success || a.Error == nil || a.status != c.status || a.Error.Code != c.code || a.Error.ErrorCode != c.ec ||
				a.Error.Param != c.param || !a.Error.APIError || a.Error.Message == "" || a.RequestID == "" {
				t.Errorf("%s: %d %+v", c.name, a.status, a.Error)
				continue
			}
			if c.code == "to_values_invalid" && (a.Error.Object == nil || a.Error.Object.Type != "toValues" ||
				!strings.HasPrefix(a.Error.Message, "Param toValues isn't valid: ")) {
				t.Errorf("%s: object %+v message %q", c.name, a.Error.Object, a.Error.Message)
			}
		}
		// Bad routes through the API: 400 with the code and the field.
		for _, c := range []struct{ body, code, param string }{
			{`{"from":"PEN","to":"USD","rate":"0,27"}`, "parameter_invalid", "rate"},
			{`{"from":"PEN","to":"USD","rate":"0"}`, "parameter_invalid", "rate"},
			{`{"from":"PEN","to":"USD","rate":"1e2"}`, "parameter_invalid", "rate"},
			{`{"from":"PEN","to":"USD","rate":"0.27","fee_percent":"100"}`, "parameter_invalid", "fee_percent"},
			{`{"from":"XXX","to":"USD","rate":"0.27"}`, "currency_unsupported", "from"},
			{`{"from":"PEN","to":"","rate":"0.27"}`, "parameter_missing", "to"},
			{`{"from":"PEN","to":"USD","rate":"0.27","min":"10","max":"5"}`, "parameter_invalid", "min"},
			{`{"from":"PEN","to":"USD","rate":"0.27","min":"1.001"}`, "amount_invalid", "min"},
			{`{"from":"PEN","to":"USD","rate":"0.27","payout_mode":"sometimes"}`, "parameter_invalid", "payout_mode"},
			{`{"from":"PEN","to":"USD","rate":"0.27","to_fields":[{"key":"iban","pattern":"[A-Z"}]}`, "parameter_invalid", "to_fields[0][pattern]"},
		} {
			code, b, _ := g.do("POST", "/v1/routes", "application/json", c.body, true)
			var e struct{ Error struct{ Code, Param string } }
			json.Unmarshal(b, &e)
			if code != 400 || e.Error.Code != c.code || e.Error.Param != c.param {
				t.Errorf("route %s: %d %s; want 400 %s on %s", c.body, code, b, c.code, c.param)
			}
		}

		// Credentials.
		if a := g.izi("/public/exchanger/order/create", good(), false); a.status != 401 || a.Error.ErrorCode != 401 {
			t.Errorf("no key: %d %+v", a.status, a.Error)
		}
		// Nothing was created by the refused requests.
		var list struct{ Data []any }
		g.api("GET", "/v1/orders", "", &list)
		if len(list.Data) != 0 {
			t.Fatalf("refused requests created %d orders", len(list.Data))
		}

		// JSON bodies work too, with the amount as a JSON number kept exact.
		code, body, _ := g.do("POST", "/public/exchanger/order/create", "application/json",
			`{"routeId":"`+route+`","amount":100.10,"agreement":true,"lang":"es","hideOutData":true,
			  "toValues":[{"key":"account","value":"12345678"}],"partner":"ref-7",
			  "fromValues":[{"key":"email","value":"payer@example.com"}],"routeValues":[{"key":"phone","value":"+51 999"}]}`, true)
		if code != 200 || !strings.Contains(string(body), `"inAmount":100.1,`) || !strings.Contains(string(body), `"outAmount":27.02`) ||
			!strings.Contains(string(body), `"fromValues":[{"key":"email","value":"payer@example.com"}]`) ||
			!strings.Contains(string(body), `"routeValues":[{"key":"phone","value":"+51 999"}]`) || !strings.Contains(string(body), `"partner":"ref-7"`) {
			t.Fatalf("JSON create: %d %s", code, body)
		}
		var a iziAnswer
		a.Success, a.Data = true, extractData(t, body)
		o := a.order(t)

		// A wrong secret shows nothing of the order, anywhere.
		for _, secret := range []string{wrongSecret(o.Secret), "", o.Secret + "0", o.Secret[:len(o.Secret)-1]} {
			f := url.Values{"orderUID": {strconv.FormatInt(o.UID, 10)}, "orderSecret": {secret}}
			r := g.izi("/public/exchanger/order/get", f, false)
			if r.Success || r.status == 200 || string(r.Data) != "" {
				t.Errorf("order/get with secret %q: %d %s", secret, r.status, r.Data)
			}
			for _, kind := range []string{"payment", "order"} {
				code, page, _ := g.do("GET", "/es/"+kind+"/"+strconv.FormatInt(o.UID, 10)+"/"+secret, "", "", false)
				if secret == "" {
					continue // not a page path at all
				}
				if code != 404 || strings.Contains(string(page), "100,10") || strings.Contains(string(page), "12345678") || strings.Contains(string(page), o.ID) {
					t.Errorf("%s page with a wrong secret: %d %s", kind, code, page)
				}
			}
		}
		// Pressing pay with a wrong secret changes nothing.
		code, _, _ = g.do("POST", "/es/payment/"+strconv.FormatInt(o.UID, 10)+"/"+o.Secret+"x", "", "", false)
		if code != 404 || g.status(o) != "new" {
			t.Fatalf("pay with a wrong secret: %d, order %s", code, g.status(o))
		}
		// hideOutData: order/get and the pages leave the recipient out.
		f := url.Values{"orderUID": {strconv.FormatInt(o.UID, 10)}, "orderSecret": {o.Secret}}
		if r := g.izi("/public/exchanger/order/get", f, false); strings.Contains(string(r.Data), "12345678") {
			t.Errorf("order/get shows hidden recipient data: %s", r.Data)
		}
		for _, kind := range []string{"payment", "order"} {
			code, page, _ := g.do("GET", "/es/"+kind+"/"+strconv.FormatInt(o.UID, 10)+"/"+o.Secret, "", "", false)
			if code != 200 || strings.Contains(string(page), "12345678") || !strings.Contains(string(page), "100,10 PEN") {
				t.Errorf("%s page of a hideOutData order: %d %s", kind, code, page)
			}
		}
	})
}

// TestIPNSingleTry: with ipnSingleTry each IPN is sent once, failure or
// not, as izi.exchange does; without it a failing receiver gets retries.
func TestIPNSingleTry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := startGateway(t, db)
		route := g.createRoute(`{"from":"PEN","to":"USD","rate":"0.27","min":"1","payout_mode":"manual"}`)
		once := g.orderForm(route, "10", "ACC12345678", "s-once")
		once.Set("ipnSingleTry", "true")
		o1 := g.createOrder(once)
		o2 := g.createOrder(g.orderForm(route, "10", "ACC12345678", "s-retry"))
		g.ipn.failFirst(o1.ID, "waitPayment", 100)
		g.ipn.failFirst(o2.ID, "waitPayment", 100)
		g.startPayment(o1)
		g.startPayment(o2)

		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) && g.ipn.attempts(o2.ID, "waitPayment") < len(fast)+1 {
			time.Sleep(20 * time.Millisecond)
		}
		if n := g.ipn.attempts(o2.ID, "waitPayment"); n != len(fast)+1 {
			t.Fatalf("retrying IPN: %d attempts, want %d", n, len(fast)+1)
		}
		// The single-try delivery is final after one attempt.
		failed := waitDeliveryFailed(t, g, o1)
		if failed.Attempts != 1 || g.ipn.attempts(o1.ID, "waitPayment") != 1 {
			t.Fatalf("single-try IPN: %d attempts recorded, %d received", failed.Attempts, g.ipn.attempts(o1.ID, "waitPayment"))
		}
	})
}

func waitDeliveryFailed(t *testing.T, g *gateway, o *orderData) struct{ Attempts int } {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		evs, _, err := g.db.ListEvents(ctx, g.pr, kassa.EventFilter{Page: kassa.Page{Limit: 100}, Type: kassa.EventOrderUpdated})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			ds, err := g.db.EventDeliveries(ctx, ev.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range ds {
				if d.EndpointID == "ipn:"+o.ID && d.Status == "failed" {
					if d.Format != engine.FormatIziIPNOnce {
						t.Fatalf("format %s", d.Format)
					}
					return struct{ Attempts int }{d.Attempts}
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the single-try IPN delivery did not fail")
	return struct{ Attempts int }{}
}
