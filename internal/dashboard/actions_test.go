package dashboard_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

// paymentJSON is what the tests read back through the API.
type paymentJSON struct {
	ID             string
	Status         string
	AmountCaptured int64 `json:"amount_captured"`
	AmountRefunded int64 `json:"amount_refunded"`
}

// payManual authorizes a payment with manual capture through the API.
func (g *gateway) payManual(m merchantFixture, amount int64, order string) string {
	g.t.Helper()
	body := `{"amount":` + itoa(amount) + `,"currency":"USD","order_id":"` + order + `","capture_method":"manual","confirm":true,` +
		`"payment_method":{"card":{"number":"4242424242424242","exp_month":12,"exp_year":2040,"cvc":"123"}}}`
	var p paymentJSON
	g.api(m, "POST", "/v1/payments", body, &p)
	if p.Status != "requires_capture" {
		g.t.Fatalf("manual payment %s: %s", p.ID, p.Status)
	}
	return p.ID
}

func (g *gateway) apiPayment(m merchantFixture, id string) paymentJSON {
	g.t.Helper()
	var p paymentJSON
	if code := g.api(m, "GET", "/v1/payments/"+id, "", &p); code != 200 {
		g.t.Fatalf("GET payment %s: %d", id, code)
	}
	return p
}

// waitPage polls a dashboard page until it contains want.
func (b *browser) waitPage(path, want string) string {
	b.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, body := b.get(path)
		if strings.Contains(body, want) {
			return body
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s never showed %q:\n%s", path, want, body)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// TestDashboardMoneyActionsAndWebhooks: capture (partial), cancel and full
// refund from the payment page go through the engine (the API sees them);
// the payment's timeline shows its ledger transactions, events and every
// webhook delivery with the receiver's answer; an event is replayed from
// the timeline and from the endpoint's delivery log; the endpoint's secret
// is rolled; a viewer can do none of it. On SQLite and PostgreSQL.
func TestDashboardMoneyActionsAndWebhooks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var hits atomic.Int64
		receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			n := hits.Add(1)
			if n == 1 {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprint(w, "receiver-busy")
				return
			}
			fmt.Fprintf(w, "receiver-ok-%d", n)
		}))
		t.Cleanup(receiver.Close)
		g := startGatewayOpts(t, db, gatewayOpts{deliver: true})
		admin := g.newBrowser()
		admin.login(g.a.admin)

		// Add the endpoint from the dashboard before any payment.
		code, body := admin.post("/dashboard/webhooks", url.Values{"csrf": {admin.csr}, "url": {receiver.URL + "/hooks"}, "all": {"yes"}})
		secret := regexp.MustCompile(`whsec_[0-9A-Za-z+/=_-]+`).FindString(body)
		epID := regexp.MustCompile(`/dashboard/webhooks/(we_[0-9a-z]+)`).FindStringSubmatch(body)
		if code != 200 || secret == "" || epID == nil {
			t.Fatalf("add endpoint: %d %q %v", code, secret, epID)
		}

		// Partial capture of a manual payment.
		auth := g.payManual(g.a, 10000, "order-capture")
		if code, loc := admin.post("/dashboard/payments/"+auth+"/capture", url.Values{"csrf": {admin.csr}, "amount": {"60.00"}}); code != http.StatusSeeOther || !strings.Contains(loc, "done=captured") {
			t.Fatalf("capture: %d %s", code, loc)
		}
		if p := g.apiPayment(g.a, auth); p.Status != "succeeded" || p.AmountCaptured != 6000 {
			t.Fatalf("after a partial capture the API has %+v", p)
		}
		// Full refund (empty amount) of what was captured.
		if code, loc := admin.post("/dashboard/payments/"+auth+"/refund", url.Values{"csrf": {admin.csr}, "amount": {""}, "reason": {"requested_by_customer"}}); code != http.StatusSeeOther || !strings.Contains(loc, "done=refunded") {
			t.Fatalf("full refund: %d %s", code, loc)
		}
		if p := g.apiPayment(g.a, auth); p.AmountRefunded != 6000 {
			t.Fatalf("after a full refund the API has %+v", p)
		}
		// A bad amount is refused with the field's message and changes nothing.
		if code, body := admin.post("/dashboard/payments/"+auth+"/refund", url.Values{"csrf": {admin.csr}, "amount": {"1.234"}}); code != http.StatusUnprocessableEntity || !strings.Contains(body, `id="error"`) {
			t.Fatalf("refund of 1.234 USD: %d", code)
		}
		// Cancel another authorization.
		auth2 := g.payManual(g.a, 2500, "order-cancel")
		if code, loc := admin.post("/dashboard/payments/"+auth2+"/cancel", url.Values{"csrf": {admin.csr}, "reason": {"abandoned"}}); code != http.StatusSeeOther || !strings.Contains(loc, "done=canceled") {
			t.Fatalf("cancel: %d %s", code, loc)
		}
		if p := g.apiPayment(g.a, auth2); p.Status != "canceled" {
			t.Fatalf("after cancel the API has %+v", p)
		}
		// Cancel again: the engine's conflict, shown on the page.
		if code, _ := admin.post("/dashboard/payments/"+auth2+"/cancel", url.Values{"csrf": {admin.csr}}); code < 400 || code >= 500 {
			t.Fatalf("second cancel: %d", code)
		}

		// The timeline: ledger rows, events, and deliveries with the
		// receiver's answers (the first one failed with 503).
		page := admin.waitPage("/dashboard/payments/"+auth, "refund.succeeded → ")
		for _, want := range []string{"authorize 100.00 USD", "capture 60.00 USD", "refund 60.00 USD", "payment.succeeded", "refund.succeeded",
			"HTTP 503", "receiver-busy", "HTTP 200", "receiver-ok-"} {
			if !strings.Contains(page, want) {
				t.Fatalf("the payment's timeline lacks %q", want)
			}
		}
		// Replay from the timeline: one more delivery of that event.
		ev := regexp.MustCompile(`action="/dashboard/events/(evt_[0-9a-z]+)/redeliver"`).FindStringSubmatch(page)
		if ev == nil {
			t.Fatal("no Send again button on the timeline")
		}
		before := strings.Count(page, "→ "+receiver.URL)
		if code, loc := admin.post("/dashboard/events/"+ev[1]+"/redeliver", url.Values{"csrf": {admin.csr}, "back": {"/dashboard/payments/" + auth}}); code != http.StatusSeeOther || loc != "/dashboard/payments/"+auth+"?done=redelivered" {
			t.Fatalf("redeliver: %d %s", code, loc)
		}
		deadline := time.Now().Add(15 * time.Second)
		for {
			_, page = admin.get("/dashboard/payments/" + auth)
			if strings.Count(page, "→ "+receiver.URL) > before {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the replayed delivery never appeared on the timeline")
			}
			time.Sleep(30 * time.Millisecond)
		}

		// The endpoint's delivery log, replay from it, and rolling its secret.
		_, ep := admin.get("/dashboard/webhooks/" + epID[1])
		if !strings.Contains(ep, "receiver-busy") || !strings.Contains(ep, secret) || !strings.Contains(ep, ">Replay<") {
			t.Fatal("the endpoint page lacks its deliveries, secret or Replay")
		}
		if code, loc := admin.post("/dashboard/events/"+ev[1]+"/redeliver", url.Values{"csrf": {admin.csr}, "back": {"/dashboard/webhooks/" + epID[1]}}); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/dashboard/webhooks/"+epID[1]) {
			t.Fatalf("replay from the endpoint page: %d %s", code, loc)
		}
		code, ep = admin.post("/dashboard/webhooks/"+epID[1]+"/roll", url.Values{"csrf": {admin.csr}, "grace": {"24h"}})
		rolled := regexp.MustCompile(`id="endpoint-secret">(whsec_[^<]+)<`).FindStringSubmatch(ep)
		if code != 200 || rolled == nil || rolled[1] == secret || !strings.Contains(ep, "previous secret also signs") {
			t.Fatalf("roll secret: %d %v", code, rolled)
		}

		// A viewer sees the log but neither secret nor buttons, and cannot act.
		viewer := g.newBrowser()
		viewer.login(g.a.viewer)
		_, ep = viewer.get("/dashboard/webhooks/" + epID[1])
		if !strings.Contains(ep, "receiver-busy") || strings.Contains(ep, "whsec_") || strings.Contains(ep, ">Replay<") {
			t.Fatal("viewer's endpoint page shows a secret or a Replay button, or lacks the log")
		}
		_, page = viewer.get("/dashboard/payments/" + auth)
		if strings.Contains(page, "Send again") || !strings.Contains(page, "receiver-ok-") {
			t.Fatal("viewer's timeline")
		}
		for path, form := range map[string]url.Values{
			"/dashboard/events/" + ev[1] + "/redeliver": {"back": {"/dashboard/"}},
			"/dashboard/webhooks/" + epID[1] + "/roll":  {},
			"/dashboard/webhooks":                       {"url": {receiver.URL}, "all": {"yes"}},
			"/dashboard/payments/" + auth + "/refund":   {"amount": {"1.00"}},
		} {
			form.Set("csrf", viewer.csr)
			if code, _ := viewer.post(path, form); code != http.StatusForbidden {
				t.Fatalf("viewer POST %s: %d", path, code)
			}
		}
		if _, ep := admin.get("/dashboard/webhooks/" + epID[1]); !strings.Contains(ep, rolled[1]) {
			t.Fatal("a viewer's roll changed the secret")
		}
	})
}

var paymentLinkRE = regexp.MustCompile(`href="/dashboard/payments/(pay_[0-9a-z]+)"`)

// listPayments returns the payment IDs of a list page and its Next link.
func (b *browser) listPayments(path string) (ids []string, next string, code int) {
	b.t.Helper()
	code, body := b.get(path)
	for _, m := range paymentLinkRE.FindAllStringSubmatch(body, -1) {
		ids = append(ids, m[1])
	}
	if m := regexp.MustCompile(`<a href="([^"]+)" id="next"`).FindStringSubmatch(body); m != nil {
		next = strings.ReplaceAll(m[1], "&amp;", "&")
	}
	return ids, next, code
}

// TestDashboardPaymentListFilters: the payment list's search (payment ID,
// order ID, email, last 4), filters (status, date range, amount) and cursor
// pagination through the page's own Next link, which keeps the filters;
// never another merchant's payments. On SQLite and PostgreSQL.
func TestDashboardPaymentListFilters(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := startGateway(t, db)
		all := map[string]bool{}
		for i := 0; i < 50; i++ {
			all[g.pay(g.a, 1000, fmt.Sprintf("bulk-%d", i), fmt.Sprintf("s%d@a.example", i))] = true
		}
		var mc paymentJSON
		g.api(g.a, "POST", "/v1/payments", `{"amount":7777,"currency":"USD","order_id":"order-mc","customer":{"email":"MC@a.example"},"confirm":true,`+
			`"payment_method":{"card":{"number":"5555555555554444","exp_month":12,"exp_year":2040,"cvc":"123"}}}`, &mc)
		var declined paymentJSON
		g.api(g.a, "POST", "/v1/payments", `{"amount":500,"currency":"USD","order_id":"order-declined"}`, &declined)
		g.api(g.a, "POST", "/v1/payments/"+declined.ID+"/confirm", `{"payment_method":{"card":{"number":"4000000000000002","exp_month":12,"exp_year":2040,"cvc":"123"}}}`, nil)
		declined = g.apiPayment(g.a, declined.ID)
		if mc.Status != "succeeded" || declined.Status != "requires_payment_method" {
			t.Fatalf("fixtures: %+v %+v", mc, declined)
		}
		all[mc.ID], all[declined.ID] = true, true
		other := g.pay(g.b, 7777, "order-mc", "mc@a.example") // same order, email and amount at another merchant

		admin := g.newBrowser()
		admin.login(g.a.admin)
		only := func(query string, want ...string) {
			t.Helper()
			ids, _, code := admin.listPayments("/dashboard/payments?" + query)
			if code != 200 || strings.Join(ids, ",") != strings.Join(want, ",") {
				t.Fatalf("?%s: %d %v, want %v", query, code, ids, want)
			}
		}
		only("q="+mc.ID, mc.ID)
		only("q=order-mc", mc.ID)
		only("q="+url.QueryEscape("mc@A.example"), mc.ID)
		only("q=4444", mc.ID)
		only("q=" + other) // another merchant's payment ID
		only("status=requires_payment_method", declined.ID)
		only("currency=usd&min=77.00&max=78.00", mc.ID)
		only("currency=USD&min=5.00&max=5.00", declined.ID)
		day := func(d int) string { return time.Now().UTC().AddDate(0, 0, d).Format("2006-01-02") }
		only("to=" + day(-2))
		only("from=" + day(1))
		if ids, _, _ := admin.listPayments("/dashboard/payments?status=succeeded&from=" + day(-1) + "&to=" + day(1) + "&q=4444"); len(ids) != 1 {
			t.Fatalf("combined filters: %v", ids)
		}
		for _, bad := range []string{"from=2026-13-01", "min=1", "currency=XYZ", "currency=USD&min=abc", "status=lost"} {
			if code, body := admin.get("/dashboard/payments?" + bad); code != http.StatusUnprocessableEntity || !strings.Contains(body, `id="error"`) {
				t.Fatalf("?%s: %d", bad, code)
			}
		}

		// Cursor pagination: 50 on the first page, the rest on the next,
		// no repeats, the filter kept.
		walk := func(start string) []string {
			t.Helper()
			var seen []string
			next := start
			for pages := 0; next != ""; pages++ {
				if pages > 3 {
					t.Fatal("pagination does not end")
				}
				var ids []string
				ids, next, _ = admin.listPayments(next)
				if next != "" && len(ids) != 50 {
					t.Fatalf("a full page has %d rows", len(ids))
				}
				seen = append(seen, ids...)
			}
			return seen
		}
		seen := walk("/dashboard/payments")
		uniq := map[string]bool{}
		for _, id := range seen {
			if !all[id] || uniq[id] {
				t.Fatalf("page walk: %s unknown or repeated", id)
			}
			uniq[id] = true
		}
		if len(uniq) != len(all) {
			t.Fatalf("page walk saw %d of %d payments", len(uniq), len(all))
		}
		if succeeded := walk("/dashboard/payments?status=succeeded"); len(succeeded) != 51 {
			t.Fatalf("succeeded across pages: %d", len(succeeded))
		}
	})
}
