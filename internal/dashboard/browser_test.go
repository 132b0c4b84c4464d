package dashboard_test

import (
	"context"
	"github.com/kassa-pay/kassa/internal/browsertest"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

// Browser tests run the dashboard in headless Chromium (Debian's package):
// skipped when it is missing, failed under CI=true. Every page visited is
// saved as a PNG under testoutput/screenshots/dashboard/.

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := filepath.Join("..", "..", "testoutput", "screenshots", "dashboard")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func bodyText(t *testing.T, ctx context.Context) string {
	return eval[string](t, ctx, `document.body.innerText`)
}

func browserLogin(t *testing.T, ctx context.Context, base, email string) {
	t.Helper()
	browsertest.Do(t, ctx,
		chromedp.Navigate(base+"/dashboard/login"),
		chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), password(email)),
		chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("#logout")),
	)
}

// focused describes the element that has the keyboard focus: its id (or
// tag and text) and whether a focus indicator is drawn (an outline of at
// least 2 px).
type focused struct {
	ID      string `json:"id"`
	Outline bool   `json:"outline"`
}

const focusJS = `(() => { const e = document.activeElement; const cs = getComputedStyle(e);
	return {id: e.id || (e.tagName.toLowerCase() + ":" + (e.innerText || e.name || "").trim().slice(0, 30)),
		outline: cs.outlineStyle !== "none" && parseFloat(cs.outlineWidth) >= 2}; })()`

func focus(t *testing.T, ctx context.Context) focused {
	t.Helper()
	return eval[focused](t, ctx, focusJS)
}

// tab presses Tab and checks that the focus lands on want (an id, or
// tag:text) and is visibly marked.
func tab(t *testing.T, ctx context.Context, want string) {
	t.Helper()
	browsertest.Do(t, ctx, chromedp.KeyEvent("\t"))
	if f := focus(t, ctx); f.ID != want || !f.Outline {
		t.Fatalf("after Tab the focus is on %q (outline %v), want %q with a visible outline", f.ID, f.Outline, want)
	}
}

// keyboardLogin logs in with the keyboard only: the email field has the
// focus on arrival, Tab goes to the password, then to the button, and
// Enter submits.
func keyboardLogin(t *testing.T, ctx context.Context, base, email string) {
	t.Helper()
	browsertest.Do(t, ctx, chromedp.Navigate(base+"/dashboard/login"), chromedp.WaitVisible(chromedp.CSS("#email")))
	if f := focus(t, ctx); f.ID != "email" {
		t.Fatalf("the login page opens with the focus on %q, not the email field", f.ID)
	}
	browsertest.Do(t, ctx, chromedp.KeyEvent(email))
	tab(t, ctx, "password")
	browsertest.Do(t, ctx, chromedp.KeyEvent(password(email)))
	tab(t, ctx, "login")
	browsertest.Do(t, ctx, chromedp.KeyEvent("\r"), chromedp.WaitVisible(chromedp.CSS("#logout")))
}

// tabWalk presses Tab through the whole page (at most 80 stops) and checks
// that every stop is visibly focused and that the order is the document's
// (no positive tabindex, so Tab follows what the reader sees). The first
// stop is the skip link, which is on screen while focused.
func tabWalk(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	if n := eval[int64](t, ctx, `document.querySelectorAll('[tabindex]:not([tabindex="-1"]):not([tabindex="0"])').length`); n != 0 {
		t.Errorf("%s: %d elements with a positive tabindex", page, n)
	}
	browsertest.Do(t, ctx, chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)`))
	browsertest.Do(t, ctx, chromedp.KeyEvent("\t"))
	if skip := eval[bool](t, ctx, `(() => { const e = document.activeElement, r = e.getBoundingClientRect();
		return e.classList.contains("skip") && r.left >= 0 && r.top >= 0 && r.width > 0; })()`); !skip {
		t.Errorf("%s: the first Tab stop is not a visible skip link (%+v)", page, focus(t, ctx))
	}
	// Each stop must come after the previous one in document order.
	browsertest.Do(t, ctx, chromedp.Evaluate[chromedp.Void](`window.__prev = document.activeElement`))
	for i := 0; i < 80; i++ {
		browsertest.Do(t, ctx, chromedp.KeyEvent("\t"))
		if i == 79 {
			t.Errorf("%s: more than 80 Tab stops", page)
		}
		st := eval[struct {
			Done    bool   `json:"done"`
			Forward bool   `json:"forward"`
			ID      string `json:"id"`
			Outline bool   `json:"outline"`
		}](t, ctx, `(() => { const e = document.activeElement, p = window.__prev; window.__prev = e;
			if (!e || e === document.body) return {done: true};
			const cs = getComputedStyle(e);
			return {done: false, forward: !!(p.compareDocumentPosition(e) & Node.DOCUMENT_POSITION_FOLLOWING),
				id: e.id || (e.tagName.toLowerCase() + ":" + (e.innerText || e.name || "").trim().slice(0, 30)),
				outline: cs.outlineStyle !== "none" && parseFloat(cs.outlineWidth) >= 2}; })()`)
		if st.Done || !st.Forward {
			if i < 2 {
				t.Errorf("%s: Tab reaches only %d elements after the skip link", page, i)
			}
			return // wrapped to the browser's UI or back to the top
		}
		if !st.Outline {
			t.Errorf("%s: Tab stop %d (%s) has no visible focus indicator", page, i+1, st.ID)
		}
	}
}

// postWithoutToken submits a refund from the page's own origin with the
// session cookie but without the CSRF token, and returns the HTTP status.
const postWithoutToken = `fetch(location.pathname + "/refund", {method: "POST", body: new URLSearchParams({amount: "1.00"})}).then(r => r.status)`

// postWithToken does the same with the token the page carries.
const postWithToken = `fetch(location.pathname + "/refund", {method: "POST", body: new URLSearchParams({amount: "1.00",
	csrf: document.querySelector('input[name=csrf]').value})}).then(r => r.status)`

func TestBrowserDashboard(t *testing.T) {
	ctx := browsertest.New(t, 90*time.Second)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"received":true}`)
	}))
	t.Cleanup(receiver.Close)
	g := startGatewayOpts(t, storetest.Open(t, store.SQLite), gatewayOpts{integrations: true, deliver: true})
	ep, err := g.ntf.CreateEndpoint(context.Background(), g.a.pr, notify.EndpointParams{URL: receiver.URL + "/kassa", Description: "shop backend"})
	if err != nil {
		t.Fatal(err)
	}
	payA := g.pay(g.a, 5000, "order-a-1", "ann@a.example")
	g.pay(g.a, 1999, "order-a-2", "amy@a.example")
	// A decline and another currency, so the overview has decline reasons
	// and two currencies to draw.
	var declined struct{ ID string }
	g.api(g.a, "POST", "/v1/payments", `{"amount":1500,"currency":"USD","order_id":"order-a-3"}`, &declined)
	g.api(g.a, "POST", "/v1/payments/"+declined.ID+"/confirm", `{"payment_method":{"card":{"number":"4000000000009995","exp_month":12,"exp_year":2040,"cvc":"123"}}}`, nil)
	g.api(g.a, "POST", "/v1/payments", `{"amount":3000,"currency":"EUR","order_id":"order-a-4","confirm":true,`+
		`"payment_method":{"card":{"number":"5555555555554444","exp_month":12,"exp_year":2040,"cvc":"123"}}}`, nil)
	payB := g.pay(g.b, 7000, "order-b-1", "bob@b.example")

	// Logged out: a payment's URL lands on the login page and shows no data.
	browsertest.Do(t, ctx, chromedp.Navigate(g.url+"/dashboard/payments/"+payA), chromedp.WaitVisible(chromedp.CSS("#email")))
	if txt := bodyText(t, ctx); strings.Contains(txt, "ann@a.example") || strings.Contains(txt, payA) {
		t.Fatal("logged-out page shows payment data")
	}
	shot(t, ctx, "login")

	keyboardLogin(t, ctx, g.url, g.a.admin)
	browsertest.Do(t, ctx, chromedp.Navigate(g.url+"/dashboard/"), chromedp.WaitVisible(chromedp.CSS("svg.chart")))
	if txt := bodyText(t, ctx); !strings.Contains(txt, "69.99 USD") || !strings.Contains(txt, "30.00 EUR") || !strings.Contains(txt, "insufficient funds") {
		t.Fatalf("overview lacks today's volume per currency or the decline reason: %s", txt)
	}
	shot(t, ctx, "overview")

	// Find the payment by the shopper's email.
	browsertest.Do(t, ctx,
		chromedp.Navigate(g.url+"/dashboard/payments"),
		chromedp.WaitVisible(chromedp.CSS("#q")),
	)
	shot(t, ctx, "payments")
	browsertest.Do(t, ctx,
		chromedp.SendKeys(chromedp.CSS("#q"), "ann@a.example"),
		chromedp.Click(chromedp.CSS("#search")),
		// Two rows before the search, one after.
		chromedp.WaitVisible(chromedp.CSS(`#payments tbody tr:only-child a[href="/dashboard/payments/`+payA+`"]`)),
	)
	if n := eval[int64](t, ctx, `document.querySelectorAll("#payments tbody tr").length`); n != 1 {
		t.Fatalf("search found %d rows", n)
	}
	shot(t, ctx, "payments-search")

	// Refund part of it.
	browsertest.Do(t, ctx,
		chromedp.Click(chromedp.CSS(`a[href="/dashboard/payments/`+payA+`"]`)),
		chromedp.WaitVisible(chromedp.CSS("#refund-amount")),
	)
	// A same-origin request with the session cookie but no CSRF token is refused.
	if st := eval[int64](t, ctx, postWithoutToken); st != 403 {
		t.Fatalf("refund without CSRF token: HTTP %d", st)
	}
	// By keyboard: amount, Tab to the reason, Tab to the button, Enter.
	browsertest.Do(t, ctx, chromedp.Focus(chromedp.CSS("#refund-amount")), chromedp.KeyEvent("12.34"))
	tab(t, ctx, "refund-reason")
	tab(t, ctx, "refund")
	browsertest.Do(t, ctx, chromedp.KeyEvent("\r"), chromedp.WaitVisible(chromedp.CSS(".notice")))
	refunded, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#refunded")))
	if err != nil || refunded != "12.34 USD" {
		t.Fatalf("refunded shows %q (%v)", refunded, err)
	}
	timeline, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#timeline")))
	if err != nil || !strings.Contains(timeline, "refund 12.34 USD") || !strings.Contains(timeline, "refund.succeeded") {
		t.Fatalf("timeline lacks the refund: %q (%v)", timeline, err)
	}
	shot(t, ctx, "payment-refunded")
	var p struct {
		AmountRefunded int64 `json:"amount_refunded"`
	}
	g.api(g.a, "GET", "/v1/payments/"+payA, "", &p)
	if p.AmountRefunded != 1234 {
		t.Fatalf("the API shows amount_refunded %d", p.AmountRefunded)
	}
	var refunds struct {
		Data []struct{ Amount int64 }
	}
	g.api(g.a, "GET", "/v1/refunds?payment="+payA, "", &refunds)
	if len(refunds.Data) != 1 || refunds.Data[0].Amount != 1234 {
		t.Fatalf("the API lists refunds %+v", refunds.Data)
	}

	// Another merchant's payment does not exist for this merchant's staff.
	browsertest.Do(t, ctx, chromedp.Navigate(g.url+"/dashboard/payments/"+payB), chromedp.WaitVisible(chromedp.CSS("#error")))
	if txt := bodyText(t, ctx); strings.Contains(txt, "bob@b.example") || strings.Contains(txt, "70.00") {
		t.Fatal("another merchant's payment is shown")
	}
	browsertest.Do(t, ctx, chromedp.Navigate(g.url+"/dashboard/payments?q=bob@b.example"), chromedp.WaitVisible(chromedp.CSS("#payments")))
	if n := eval[int64](t, ctx, `document.querySelectorAll("#payments tbody a").length`); n != 0 {
		t.Fatal("search finds another merchant's payment")
	}

	for _, page := range []string{"refunds", "orders", "webhooks", "keys", "settings", "team"} {
		browsertest.Do(t, ctx, chromedp.Navigate(g.url+"/dashboard/"+page), chromedp.WaitVisible(chromedp.CSS("main h1")))
		if unlabeled := eval[int64](t, ctx, `[...document.querySelectorAll('input:not([type=hidden]),select,textarea')].filter(i => i.labels.length === 0).length`); unlabeled != 0 {
			t.Errorf("%s: %d form fields without a label", page, unlabeled)
		}
		shot(t, ctx, page)
	}
	// Orders: the admin holds an order and releases it again; the API sees both steps.
	ord := g.order(g.a, "100", "ACC-BROWSER-1", false)
	browsertest.Do(t, ctx, chromedp.Navigate(g.url+"/dashboard/orders"), chromedp.WaitVisible(chromedp.CSS(`#orders a[href="/dashboard/orders/`+ord.ID+`"]`)))
	shot(t, ctx, "orders")
	browsertest.Do(t, ctx,
		chromedp.Click(chromedp.CSS(`#orders a[href="/dashboard/orders/`+ord.ID+`"]`)),
		chromedp.WaitVisible(chromedp.CSS("#order-hold")),
	)
	shot(t, ctx, "order")
	browsertest.Do(t, ctx,
		chromedp.SendKeys(chromedp.CSS(`form[action$="/hold"] input[name=reason]`), "call the sender"),
		chromedp.Click(chromedp.CSS("#order-hold")),
		chromedp.WaitVisible(chromedp.CSS("#order-release")),
	)
	if st, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#order-status"))); err != nil || st != "hold" {
		t.Fatalf("order status after hold: %q (%v)", st, err)
	}
	if tl, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#timeline"))); err != nil || !strings.Contains(tl, "call the sender") {
		t.Fatalf("timeline after hold: %q (%v)", tl, err)
	}
	shot(t, ctx, "order-held")
	if o := g.orderNow(g.a, ord.ID); o.Status != kassa.OrderHold {
		t.Fatalf("the engine has the order in %s", o.Status)
	}
	browsertest.Do(t, ctx, chromedp.Click(chromedp.CSS("#order-release")), chromedp.WaitVisible(chromedp.CSS("#order-hold")))
	if o := g.orderNow(g.a, ord.ID); o.Status != kassa.OrderNew || len(o.History) != 3 {
		t.Fatalf("after release the engine has %s with %d steps", o.Status, len(o.History))
	}
	// Settings: the Shoplazza and Izipay panels, and creating Izipay credentials.
	browsertest.Do(t, ctx, chromedp.Navigate(g.url+"/dashboard/settings"), chromedp.WaitVisible(chromedp.CSS("#panel-shoplazza #bind-shop")),
		chromedp.WaitVisible(chromedp.CSS("#panel-izipay #izipay-create")),
		chromedp.SendKeys(chromedp.CSS("#shop-domain"), "browser.myshoplaza.com"),
		chromedp.SendKeys(chromedp.CSS("#shop-app-id"), "app-browser"),
		chromedp.SendKeys(chromedp.CSS("#shop-client-secret"), "BROWSER-CLIENT-SECRET"),
		chromedp.SendKeys(chromedp.CSS("#shop-access-token"), "BROWSER-ACCESS-TOKEN"),
		chromedp.SendKeys(chromedp.CSS("#shop-account-id"), "acct-browser"),
		chromedp.Click(chromedp.CSS("#bind-shop")),
		chromedp.WaitVisible(chromedp.CSS(".notice")),
		chromedp.Click(chromedp.CSS("#izipay-create")),
		chromedp.WaitVisible(chromedp.CSS("#izipay-hash-key")),
	)
	if txt := bodyText(t, ctx); !strings.Contains(txt, "browser.myshoplaza.com") || strings.Contains(txt, "BROWSER-CLIENT-SECRET") || strings.Contains(txt, "BROWSER-ACCESS-TOKEN") {
		t.Fatal("the Shoplazza panel lacks the binding or shows its secrets")
	}
	shot(t, ctx, "settings-integrations")

	// Every page: keyboard walk (visible focus, document order), a
	// screenshot on a desktop and on a 360 px phone, where the layout
	// reflows without sideways scrolling (wide tables scroll in their box).
	browsertest.Do(t, ctx, chromedp.Navigate(g.url+"/dashboard/webhooks/"+ep.ID), chromedp.WaitVisible(chromedp.CSS("#attempts")))
	for deadline := time.Now().Add(15 * time.Second); !strings.Contains(bodyText(t, ctx), `{"received":true}`); {
		if time.Now().After(deadline) {
			t.Fatal("no delivery reached the endpoint's log")
		}
		browsertest.Do(t, ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#attempts")))
	}
	shot(t, ctx, "webhook")
	browsertest.Do(t, ctx, chromedp.Navigate(g.url+"/dashboard/payments/"+payA), chromedp.WaitVisible(chromedp.CSS("#timeline")))
	if tl := bodyText(t, ctx); !strings.Contains(tl, "refund.succeeded → "+receiver.URL) || !strings.Contains(tl, "HTTP 200") {
		t.Fatalf("the timeline lacks the deliveries: %s", tl)
	}
	shot(t, ctx, "payment")
	browsertest.Do(t, ctx, chromedp.Navigate(g.url+"/dashboard/team"), chromedp.WaitVisible(chromedp.CSS("#users")),
		chromedp.SendKeys(chromedp.CSS("#invite-email"), "new@a.example"), chromedp.Click(chromedp.CSS("#invite")),
		chromedp.WaitVisible(chromedp.CSS("#invite-link")))
	shot(t, ctx, "team-invited")
	invite, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#invite-link")))
	if err != nil || !strings.Contains(invite, "/dashboard/invite/inv_") {
		t.Fatalf("invitation link %q (%v)", invite, err)
	}
	pages := []struct{ name, path, wait string }{
		{"overview", "/dashboard/", "svg.chart"},
		{"payments", "/dashboard/payments", "#payments"},
		{"payment", "/dashboard/payments/" + payA, "#timeline"},
		{"refunds", "/dashboard/refunds", "main h1"},
		{"orders", "/dashboard/orders", "#orders"},
		{"order", "/dashboard/orders/" + ord.ID, "#timeline"},
		{"webhooks", "/dashboard/webhooks", "main h1"},
		{"webhook", "/dashboard/webhooks/" + ep.ID, "#attempts"},
		{"keys", "/dashboard/keys", "#keys"},
		{"settings", "/dashboard/settings", "main h1"},
		{"team", "/dashboard/team", "#users"},
		{"not-found", "/dashboard/no-such-page", "#error"},
		{"invite", strings.TrimPrefix(invite, g.url), "#invite-password"},
	}
	for _, p := range pages {
		browsertest.Do(t, ctx, chromedp.Navigate(g.url+p.path), chromedp.WaitVisible(chromedp.CSS(p.wait)))
		tabWalk(t, ctx, p.name)
	}
	browsertest.Do(t, ctx, chromedp.EmulateViewport(360, 780))
	for _, p := range pages {
		browsertest.Do(t, ctx, chromedp.Navigate(g.url+p.path), chromedp.WaitVisible(chromedp.CSS(p.wait)))
		if w := eval[int64](t, ctx, `document.documentElement.scrollWidth`); w > 360 {
			wide := eval[string](t, ctx, `[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > 360).slice(0, 5).map(e => e.tagName + "." + e.className + "#" + e.id + " " + Math.round(e.getBoundingClientRect().right)).join(", ")`)
			t.Errorf("%s is %d px wide on a 360 px phone: %s", p.name, w, wide)
		}
		shot(t, ctx, p.name+"-360px")
	}
	browsertest.Do(t, ctx, chromedp.EmulateViewport(1280, 900))
	browsertest.Do(t, ctx, chromedp.Navigate(g.url+"/dashboard/no-such-page"), chromedp.WaitVisible(chromedp.CSS("#error")))
	shot(t, ctx, "not-found")
	browsertest.Do(t, ctx, chromedp.Navigate(invite), chromedp.WaitVisible(chromedp.CSS("#invite-password")))
	shot(t, ctx, "invite")

	// Logout: the same URL now asks for a login.
	browsertest.Do(t, ctx, chromedp.Navigate(g.url+"/dashboard/"), chromedp.WaitVisible(chromedp.CSS("#logout")),
		chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#email")))
	browsertest.Do(t, ctx, chromedp.Navigate(g.url+"/dashboard/payments/"+payA), chromedp.WaitVisible(chromedp.CSS("#email")))
	if strings.Contains(bodyText(t, ctx), "ann@a.example") {
		t.Fatal("payment visible after logout")
	}

	// A viewer sees the payment but has no refund button, and a refund
	// posted with a valid token is still refused.
	browserLogin(t, ctx, g.url, g.a.viewer)
	browsertest.Do(t, ctx, chromedp.Navigate(g.url+"/dashboard/payments/"+payA), chromedp.WaitVisible(chromedp.CSS("#timeline")))
	if n := eval[int64](t, ctx, `document.querySelectorAll("#refund, #refund-amount").length`); n != 0 {
		t.Fatal("viewer sees the refund form")
	}
	if st := eval[int64](t, ctx, postWithToken); st != 403 {
		t.Fatalf("viewer refund: HTTP %d", st)
	}
	shot(t, ctx, "payment-viewer")
	// The viewer reads the order but has no buttons, and a hold posted with
	// a valid token is refused.
	browsertest.Do(t, ctx, chromedp.Navigate(g.url+"/dashboard/orders/"+ord.ID), chromedp.WaitVisible(chromedp.CSS("#timeline")))
	if n := eval[int64](t, ctx, `document.querySelectorAll("main form button").length`); n != 0 {
		t.Fatalf("viewer sees %d order buttons", n)
	}
	if st := eval[int64](t, ctx, `fetch(location.pathname + "/hold", {method: "POST", body: new URLSearchParams({
		csrf: document.querySelector('input[name=csrf]').value})}).then(r => r.status)`); st != 403 {
		t.Fatalf("viewer hold: HTTP %d", st)
	}
	if o := g.orderNow(g.a, ord.ID); o.Status != kassa.OrderNew {
		t.Fatalf("the viewer's request moved the order to %s", o.Status)
	}
	shot(t, ctx, "order-viewer")
	g.api(g.a, "GET", "/v1/payments/"+payA, "", &p)
	if p.AmountRefunded != 1234 {
		t.Fatalf("the viewer's request changed the payment: %d", p.AmountRefunded)
	}
}
