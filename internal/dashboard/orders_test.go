package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

// order creates an order of m on a manual-payout PEN → USD route (rate
// 0.27, fee 1 %), paid by card when paid is set.
func (g *gateway) order(m merchantFixture, amount, account string, paid bool) *kassa.Order {
	g.t.Helper()
	ctx := context.Background()
	r, err := g.eng.CreateRoute(ctx, m.pr.MerchantID, kassa.Route{From: "PEN", To: "USD", Rate: "0.27", FeePercent: "1",
		Min: 100, PayoutMode: kassa.PayoutManual})
	if err != nil {
		g.t.Fatal(err)
	}
	o, err := g.eng.CreateOrder(ctx, m.pr, engine.OrderParams{RouteID: r.ID, Amount: amount, Agreement: true,
		ToValues: []kassa.OrderValue{{Key: "account", Value: account}}})
	if err != nil {
		g.t.Fatal(err)
	}
	if paid {
		if _, err := g.eng.ConfirmPayment(ctx, m.pr, o.PaymentID, &kassa.Card{Number: "4242424242424242", ExpMonth: 12,
			ExpYear: 2040, CVC: "123"}); err != nil {
			g.t.Fatal(err)
		}
	}
	return g.orderNow(m, o.ID)
}

func (g *gateway) orderNow(m merchantFixture, id string) *kassa.Order {
	g.t.Helper()
	o, err := g.eng.Order(context.Background(), m.pr, id)
	if err != nil {
		g.t.Fatal(err)
	}
	return o
}

func uidLink(o *kassa.Order) string {
	return `href="/dashboard/orders/` + o.ID + `">` + strconv.FormatInt(o.UID, 10) + `<`
}

func TestDashboardOrders(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := startGateway(t, db)
		unpaid := g.order(g.a, "100", "ACC-UNPAID-1", false)
		paid := g.order(g.a, "250.50", "ACC-PAID-2", true)
		toReturn := g.order(g.a, "10", "ACC-RETURN-3", true)
		other := g.order(g.b, "100", "ACC-OTHER-9", false)
		if paid.Status != kassa.OrderInProgress || !paid.Paid {
			t.Fatalf("paid order is %s", paid.Status)
		}

		admin := g.newBrowser()
		admin.login(g.a.admin)
		// The list: the merchant's orders only, with amounts, route and recipient.
		code, list := admin.get("/dashboard/orders")
		if code != 200 || !strings.Contains(list, uidLink(unpaid)) || !strings.Contains(list, uidLink(paid)) ||
			strings.Contains(list, other.ID) || strings.Contains(list, "ACC-OTHER-9") {
			t.Fatalf("order list: %d", code)
		}
		if !strings.Contains(list, "250.50 PEN") || !strings.Contains(list, "66.95 USD") || !strings.Contains(list, "ACC-PAID-2") {
			t.Fatal("order list lacks the amounts or the recipient") // 250.50 × 0.27 × 0.99 = 66.958… → 66.95
		}
		// Status filter and cursor.
		if _, body := admin.get("/dashboard/orders?status=inProgress"); !strings.Contains(body, uidLink(paid)) || strings.Contains(body, uidLink(unpaid)) {
			t.Fatal("status filter")
		}
		if _, body := admin.get("/dashboard/orders?after=" + url.QueryEscape(paid.ID)); !strings.Contains(body, uidLink(unpaid)) ||
			strings.Contains(body, uidLink(paid)) || strings.Contains(body, uidLink(toReturn)) {
			t.Fatal("the page after the paid order should hold only the older unpaid order")
		}
		if code, _ := admin.get("/dashboard/orders?status=bogus"); code != http.StatusUnprocessableEntity {
			t.Fatalf("unknown status: %d", code)
		}

		// The order page: amounts, recipient, lifecycle, payment, links and buttons.
		code, page := admin.get("/dashboard/orders/" + unpaid.ID)
		for _, want := range []string{"100.00 PEN", "26.73 USD", "ACC-UNPAID-1", `id="timeline"`, ">new<", unpaid.PaymentID,
			`id="payment-link"`, "/payment/" + strconv.FormatInt(unpaid.UID, 10) + "/", `id="order-hold"`, `id="order-delete"`} {
			if !strings.Contains(page, want) {
				t.Fatalf("order page (%d) lacks %q", code, want)
			}
		}
		if strings.Contains(page, `id="order-approve"`) || strings.Contains(page, `id="order-return"`) {
			t.Fatal("an unpaid order offers approve or return")
		}
		// By UID too, as the API accepts.
		if code, _ := admin.get("/dashboard/orders/" + strconv.FormatInt(unpaid.UID, 10)); code != 200 {
			t.Fatalf("order by UID: %d", code)
		}

		// Hold and release call the engine: the API sees each step.
		act := func(o *kassa.Order, action string, reason string) (int, string) {
			return admin.post("/dashboard/orders/"+o.ID+"/"+action, url.Values{"csrf": {admin.csr}, "reason": {reason}})
		}
		if code, loc := act(unpaid, "hold", "checking the sender"); code != http.StatusSeeOther || !strings.HasSuffix(loc, "done=hold") {
			t.Fatalf("hold: %d %s", code, loc)
		}
		var obj kassa.OrderObject
		g.api(g.a, "GET", "/v1/orders/"+unpaid.ID, "", &obj)
		if obj.Status != kassa.OrderHold || obj.History[len(obj.History)-1].Reason != "checking the sender" {
			t.Fatalf("after hold the API shows %+v", obj)
		}
		if _, page := admin.get("/dashboard/orders/" + unpaid.ID + "?done=hold"); !strings.Contains(page, "The order is on hold.") ||
			!strings.Contains(page, "checking the sender") || !strings.Contains(page, `id="order-release"`) {
			t.Fatal("held order page")
		}
		if code, _ := act(unpaid, "release", ""); code != http.StatusSeeOther {
			t.Fatalf("release: %d", code)
		}
		g.api(g.a, "GET", "/v1/orders/"+unpaid.ID, "", &obj)
		if obj.Status != kassa.OrderNew || len(obj.History) != 3 {
			t.Fatalf("after release the API shows %s with %d steps", obj.Status, len(obj.History))
		}
		// An illegal move is refused with the engine's message and changes nothing.
		if code, body := act(unpaid, "approve", ""); code != http.StatusUnprocessableEntity || !strings.Contains(body, "cannot be paid out") {
			t.Fatalf("approve unpaid: %d", code)
		}
		if code, _ := act(unpaid, "bogus", ""); code != http.StatusNotFound {
			t.Fatalf("unknown action: %d", code)
		}
		// Approve pays out (queued for the payout runner), return refunds the card.
		if code, _ := act(paid, "approve", ""); code != http.StatusSeeOther {
			t.Fatalf("approve: %d", code)
		}
		if o := g.orderNow(g.a, paid.ID); o.Status != kassa.OrderInProgressPayout {
			t.Fatalf("approved order is %s", o.Status)
		}
		if code, body := act(toReturn, "return", "sender asked"); code != http.StatusSeeOther {
			t.Fatalf("return: %d %s", code, body)
		}
		if o := g.orderNow(g.a, toReturn.ID); o.Status != kassa.OrderReturned {
			t.Fatalf("returned order is %s", o.Status)
		}
		var p struct {
			AmountRefunded int64 `json:"amount_refunded"`
		}
		g.api(g.a, "GET", "/v1/payments/"+toReturn.PaymentID, "", &p)
		if p.AmountRefunded != 1000 {
			t.Fatalf("the returned order's payment refunded %d", p.AmountRefunded)
		}
		if code, _ := act(unpaid, "delete", ""); code != http.StatusSeeOther {
			t.Fatalf("delete: %d", code)
		}
		if _, page := admin.get("/dashboard/orders/" + unpaid.ID); !strings.Contains(page, "No action is possible") || strings.Contains(page, `id="payment-link"`) {
			t.Fatal("a deleted order still offers actions or its payment link")
		}

		// Another merchant's order does not exist here; CSRF is checked.
		if code, body := admin.get("/dashboard/orders/" + other.ID); code != http.StatusNotFound || strings.Contains(body, "ACC-OTHER-9") {
			t.Fatalf("other merchant's order: %d", code)
		}
		if code, _ := act(other, "hold", ""); code != http.StatusNotFound {
			t.Fatalf("hold another merchant's order: %d", code)
		}
		if code, _ := admin.post("/dashboard/orders/"+paid.ID+"/hold", url.Values{}); code != http.StatusForbidden {
			t.Fatalf("hold without CSRF token: %d", code)
		}
		if o := g.orderNow(g.b, other.ID); o.Status != kassa.OrderNew {
			t.Fatalf("other merchant's order moved to %s", o.Status)
		}

		// A viewer reads orders but has no buttons, no secret links, and is refused.
		viewer := g.newBrowser()
		viewer.login(g.a.viewer)
		fresh := g.order(g.a, "100", "ACC-FRESH-4", false)
		_, page = viewer.get("/dashboard/orders/" + fresh.ID)
		if !strings.Contains(page, "ACC-FRESH-4") || strings.Contains(page, `action="/dashboard/orders/`) ||
			strings.Contains(page, fresh.Secret) {
			t.Fatal("viewer's order page shows actions or the order's secret")
		}
		if code, _ := viewer.post("/dashboard/orders/"+fresh.ID+"/hold", url.Values{"csrf": {viewer.csr}}); code != http.StatusForbidden {
			t.Fatalf("viewer hold: %d", code)
		}
		if o := g.orderNow(g.a, fresh.ID); o.Status != kassa.OrderNew {
			t.Fatalf("viewer moved the order to %s", o.Status)
		}
	})
}
