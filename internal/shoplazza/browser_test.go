package shoplazza_test

import (
	"context"
	"github.com/kassa-pay/kassa/internal/browsertest"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/shoplazza"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

// payInForm enters the card and pays. The values are set as the form's input
// events see them (typing into a cross-site frame loses keystrokes when
// the machine is loaded: CDP key events go to whichever frame has focus);
// how the form reacts to typing is tested by package checkout. The click
// is a real one, so the frame has a user activation.
func payInForm(t *testing.T, form context.Context, number string) {
	t.Helper()
	browsertest.Do(t, form, chromedp.WaitVisible(chromedp.CSS("#card-number")))
	fill := `((n) => {
		const set = (id, v) => { const el = document.getElementById(id); el.value = v; el.dispatchEvent(new Event('input', { bubbles: true })); };
		set('card-number', n); set('card-expiry', '12 / 34'); set('card-cvc', '123');
		return document.getElementById('card-number').value.replace(/\s/g, '') === n;
	})(` + "'" + number + "'" + `)`
	if ok, err := chromedp.Run(form, chromedp.Evaluate[bool](fill)); err != nil || !ok {
		t.Fatalf("entering the card: %v", err)
	}
	browsertest.Do(t, form, chromedp.Click(chromedp.CSS("#pay-button")))
}

// checkCompleted checks the complete call and the paid notify of a sale.
func (g *gateway) checkCompleted(t *testing.T, id string) {
	t.Helper()
	c := g.shop.waitCalls(t, "complete_callbacks", 1)
	if len(c) != 1 || str(c[0].Body["payment_id"]) != id || str(c[0].Body["status"]) != "paying" || str(c[0].Body["amount"]) != "254.20" ||
		str(c[0].Body["type"]) != "sale" {
		t.Fatalf("complete calls %+v", c)
	}
	n := g.shop.waitCalls(t, "notify_callbacks", 1)
	if str(n[0].Body["status"]) != "paid" || str(n[0].Body["payment_id"]) != id {
		t.Fatalf("notify %s", n[0].Raw)
	}
	if g.shop.badSig != 0 {
		t.Fatalf("%d calls with a bad signature", g.shop.badSig)
	}
}

// Sale (redirect): Shoplazza sends the shopper to redirect_url; the
// shopper pays on Kassa's hosted page; Kassa calls complete_url and sends
// the shopper to the redirect_url Shoplazza answered.
func TestBrowserSaleRedirect(t *testing.T) {
	browsertest.Path(t)
	db := storetest.Open(t, store.SQLite)
	g := startGateway(t, db, engine.ShoplazzaModelRedirect, shoplazza.Config{})
	a := g.post("/shoplazza/payments", g.paymentForm("sale-1", "ORD-SALE", "sale", ""), "")
	redirect := str(a.Body["redirect_url"])
	if a.Status != 200 || !strings.HasPrefix(redirect, g.url+"/pay/pay_") || len(a.Body) != 1 {
		t.Fatalf("sale answer %d %s", a.Status, a.Raw)
	}
	ctx := browsertest.New(t, 150*time.Second)
	browsertest.Do(t, ctx, chromedp.Navigate(redirect))
	payInForm(t, ctx, "4242424242424242")
	browsertest.WaitJS(t, ctx, `location.href.startsWith(`+jsString(g.shop.srv.URL+"/checkout/thanks")+`)`)
	g.checkCompleted(t, "sale-1")

	// A canceled sale sends the shopper to cancel_url and notifies failed.
	b := g.post("/shoplazza/payments", g.paymentForm("sale-2", "ORD-SALE-2", "sale", ""), "")
	browsertest.Do(t, ctx, chromedp.Navigate(str(b.Body["redirect_url"])), chromedp.WaitVisible(chromedp.CSS("#cancel-button")),
		chromedp.Click(chromedp.CSS("#cancel-button")))
	browsertest.WaitJS(t, ctx, `location.href.startsWith(`+jsString(g.shop.srv.URL+"/checkout/3444-222GOA08029")+`)`)
	n := g.shop.waitCalls(t, "notify_callbacks", 2)
	if last := n[len(n)-1]; str(last.Body["status"]) != "failed" || str(last.Body["payment_id"]) != "sale-2" || str(last.Body["error_code"]) == "" {
		t.Fatalf("cancel notify %s", last.Raw)
	}
}

// Iframe pop-up: the shop's checkout page frames redirect_url at the
// answered size; the form works inside it (frame-ancestors the shop's
// domains) and the shopper ends on Shoplazza's page at the top level.
func TestBrowserIframe(t *testing.T) {
	browsertest.Path(t)
	db := storetest.Open(t, store.SQLite)
	g := startGateway(t, db, engine.ShoplazzaModelIframe, shoplazza.Config{})
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(g.shop.srv.URL, "http://"))
	shopOrigin := "http://localhost:" + port // another site than the gateway's 127.0.0.1
	g.customDomain = shopOrigin
	a := g.post("/shoplazza/payments", g.paymentForm("iframe-1", "ORD-IFRAME", "sale", ""), "")
	src := str(a.Body["redirect_url"])
	if a.Status != 200 || !strings.HasPrefix(src, g.url+"/pay/pay_") || str(a.Body["width"]) != "300" || str(a.Body["height"]) != "1080" {
		t.Fatalf("iframe answer %d %s", a.Status, a.Raw)
	}
	ctx := browsertest.New(t, 150*time.Second)
	page := shopOrigin + "/checkout/iframe?" + url.Values{"src": {src}, "w": {str(a.Body["width"])}, "h": {str(a.Body["height"])}}.Encode()
	browsertest.Do(t, ctx, chromedp.Navigate(page))
	form := browsertest.Frame(t, ctx, g.url+"/pay/pay_")
	payInForm(t, form, "4242424242424242")
	g.waitShopperAtThanks(t, ctx, form, shopOrigin)
	g.checkCompleted(t, "iframe-1")

	// The page may be framed by the shop's domains and no one else.
	res, err := http.Get(src)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	csp := res.Header.Get("Content-Security-Policy")
	if !strings.HasSuffix(csp, "frame-ancestors https://developer.myshoplaza.com "+shopOrigin) {
		t.Fatalf("iframe page CSP %q", csp)
	}
}

// waitShopperAtThanks waits until the shop's tab shows the page
// Shoplazza's complete call answered. top.js replaces the shop's page at
// once; Chrome lets a cross-site frame do that only shortly after a click,
// so on a slow machine the shopper clicks Continue (target=_top) instead.
func (g *gateway) waitShopperAtThanks(t *testing.T, ctx, form context.Context, shopOrigin string) {
	t.Helper()
	atThanks := `location.href.startsWith(` + jsString(g.shop.srv.URL+"/checkout/thanks") + `) || location.href.startsWith(` + jsString(shopOrigin+"/checkout/thanks") + `)`
	deadline := time.Now().Add(20 * time.Second)
	for {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](atThanks)); err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			var where []string
			if infos, err := chromedp.Targets(ctx); err == nil {
				for _, info := range infos {
					where = append(where, info.Type+" "+info.URL)
				}
			}
			top, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`))
			fs, _ := chromedp.Run(form, chromedp.Evaluate[string](formStateJS))
			t.Fatalf("the shopper did not reach Shoplazza's page: top at %s, targets %v; complete calls %d; form %s", top, where,
				len(g.shop.callsTo("complete_callbacks")), fs)
		}
		if infos, err := chromedp.Targets(ctx); err == nil {
			for _, info := range infos {
				if info.Type == "iframe" && strings.HasPrefix(info.URL, g.url+"/shoplazza/return") {
					// Detach only: closing a frame's target closes its tab.
					fctx, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(info.TargetID), chromedp.WithDetachOnCancel())
					chromedp.Run(fctx, chromedp.Evaluate[bool](`(() => { const a = document.getElementById('continue'); if (a) a.click(); return !!a; })()`))
					cancel()
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// 3-D Secure inside the iframe model: the issuer's page opens in the
// form's challenge frame, inside the shop's iframe; its return page must be
// framable by the shop (frame-ancestors covers every ancestor), so the form
// learns the outcome and the shopper ends on Shoplazza's page.
func TestBrowserIframe3DSecure(t *testing.T) {
	browsertest.Path(t)
	db := storetest.Open(t, store.SQLite)
	g := startGateway(t, db, engine.ShoplazzaModelIframe, shoplazza.Config{})
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(g.shop.srv.URL, "http://"))
	shopOrigin := "http://localhost:" + port
	g.customDomain = shopOrigin
	a := g.post("/shoplazza/payments", g.paymentForm("iframe-3ds", "ORD-IFRAME-3DS", "sale", ""), "")
	src := str(a.Body["redirect_url"])
	ctx := browsertest.New(t, 150*time.Second)
	browsertest.Do(t, ctx, chromedp.Navigate(shopOrigin+"/checkout/iframe?"+url.Values{"src": {src}, "w": {"480"}, "h": {"900"}}.Encode()))
	form := browsertest.Frame(t, ctx, g.url+"/pay/pay_")
	payInForm(t, form, "4000002500003155")
	// The issuer's page is same-origin with the form: approve through it.
	approve := `(() => { const f = document.getElementById('challenge-frame'); const d = f && f.contentDocument;
		const b = d && d.getElementById('approve'); if (b) { b.click(); } return !!b; })()`
	deadline := time.Now().Add(20 * time.Second)
	for {
		if ok, err := chromedp.Run(form, chromedp.Evaluate[bool](approve)); err == nil && ok {
			break
		}
		if time.Now().After(deadline) {
			st, _ := chromedp.Run(form, chromedp.Evaluate[string](formStateJS))
			t.Fatalf("the issuer's page did not appear in the form: %s", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	g.waitShopperAtThanks(t, ctx, form, shopOrigin)
	g.checkCompleted(t, "iframe-3ds")
}

// formStateJS describes the form's state for a failure message (never
// a full card number: test cards only, but the last four suffice).
const formStateJS = `JSON.stringify({state: document.getElementById('checkout').dataset.state,
	status: document.getElementById('checkout').dataset.status,
	number: document.getElementById('card-number').value.replace(/\s/g, '').slice(-4),
	numberLength: document.getElementById('card-number').value.replace(/\s/g, '').length,
	error: document.getElementById('form-error').textContent,
	fields: ['card-number', 'card-expiry', 'card-cvc'].map((id) => document.getElementById(id + '-error').textContent),
	challenge: document.getElementById('challenge-frame').getAttribute('src')})`

func jsString(s string) string { return "'" + strings.ReplaceAll(s, "'", "\\'") + "'" }
