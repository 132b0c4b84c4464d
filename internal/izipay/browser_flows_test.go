package izipay_test

import (
	"context"
	"fmt"
	"github.com/kassa-pay/kassa/internal/browsertest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kassa-pay/kassa/internal/store"
)

// open loads the shop's checkout page in a tab of its own and calls its
// pay() with the given arguments (JavaScript expressions after typeForm).
func (g *kassaGW) open(t *testing.T, b context.Context, order, tid, typeForm string, args ...string) context.Context {
	t.Helper()
	ctx, closeTab := chromedp.NewContext(b)
	t.Cleanup(closeTab)
	g.mu.Lock()
	g.ipns, g.posts, g.results = nil, nil, nil
	g.mu.Unlock()
	browsertest.Do(t, ctx, chromedp.Navigate(g.shopURL+"/checkout?order="+order+"&tid="+tid))
	call := fmt.Sprintf(`pay(%q, "10.50", "10.50"`, typeForm)
	for _, a := range args {
		call += ", " + a
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](call+`), true`)); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// checkSigned verifies a received result (JSON body, or the redirect
// POST's fields) and checks its code and order.
func (g *kassaGW) checkSigned(t *testing.T, where string, r received, tid, order, code string) {
	t.Helper()
	var p map[string]any
	var err error
	if r.form != nil {
		p, err = verifyFields(g.creds.HashKey, r.form.Get("payloadHttp"), r.form.Get("signature"))
		if err == nil && r.form.Get("code") != code {
			err = fmt.Errorf("form field code %q, want %q", r.form.Get("code"), code)
		}
	} else {
		p, err = verify(g.creds.HashKey, r.body)
	}
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	checkPayload(t, where, p, tid, order, code)
}

// appearance.logo and appearance.theme reach Kassa's form: it shows the
// config's logo (served by the shop, allowed by the form's img-src) and
// the theme's accent colour; customize.visibility.hideLogo hides the logo.
func TestBrowserIzipayAppearance(t *testing.T) {
	g := start(t, store.SQLite)
	b := browsertest.New(t, 60*time.Second)
	// Subtests: each tab (and its form iframe) is closed before the next.
	t.Run("logo and theme", func(t *testing.T) {
		ctx := g.open(t, b, "ORD000100", "16881500820100", "embedded",
			`{ logo: location.origin + '/logo.png', theme: 'green', customTheme: { colors: 'ignored' } }`)
		form := browsertest.Form(t, ctx, g.url, "embedded")
		browsertest.WaitJS(t, form, `(() => { const i = document.querySelector('img.logo');
			return !!i && i.src === `+jsq(g.shopURL+"/logo.png")+` && i.complete && i.naturalWidth === 8; })()`)
		browsertest.WaitJS(t, form, `getComputedStyle(document.documentElement).getPropertyValue('--accent').trim() === '#1e8a3c'`)
	})
	t.Run("hidden logo, hex colour", func(t *testing.T) {
		ctx := g.open(t, b, "ORD000101", "16881500820101", "embedded",
			`{ logo: location.origin + '/logo.png', theme: '#A0B1C2', customize: { visibility: { hideLogo: true } } }`)
		form := browsertest.Form(t, ctx, g.url, "embedded")
		browsertest.WaitJS(t, form, `document.querySelector('img.logo') === null &&
			getComputedStyle(document.documentElement).getPropertyValue('--accent').trim() === '#a0b1c2'`)
		payCard(t, form, "4242424242424242")
		browsertest.WaitJS(t, ctx, `window.izipayResult !== undefined && window.izipayResult.code === '00'`)
	})
}

// Closing the pop-up cancels the payment: callbackResponse gets the signed
// result with code C01, and so does the IPN.
func TestBrowserIzipayPopupClosed(t *testing.T) {
	g := start(t, store.SQLite)
	b := browsertest.New(t, 60*time.Second)
	tid, order := "16881500820200", "ORD000200"
	ctx := g.open(t, b, order, tid, "pop-up")
	browsertest.Form(t, ctx, g.url, "pop-up") // the form is shown and ready
	browsertest.Do(t, ctx, chromedp.Click(chromedp.CSS("[data-kassa-close]")))
	browsertest.WaitJS(t, ctx, `window.izipayResult !== undefined && document.querySelector('[data-kassa-overlay]') === null`)
	g.checkSigned(t, "callbackResponse", g.waitFor(t, "callbackResponse result", &g.results), tid, order, "C01")
	ipn := g.waitFor(t, "IPN", &g.ipns)
	if ipn.transactionID != tid {
		t.Fatalf("IPN transactionId %q", ipn.transactionID)
	}
	g.checkSigned(t, "IPN", ipn, tid, order, "C01")
}

// A declined card does not end the Izipay checkout: the form shows why and
// callbackResponse is not called; the next card pays, and the result and
// the IPN say paid.
func TestBrowserIzipayDeclinedThenPaid(t *testing.T) {
	g := start(t, store.SQLite)
	b := browsertest.New(t, 60*time.Second)
	tid, order := "16881500820300", "ORD000300"
	ctx := g.open(t, b, order, tid, "embedded")
	form := browsertest.Form(t, ctx, g.url, "embedded")
	payCard(t, form, "4000000000000002")
	browsertest.WaitJS(t, form, `(() => { const e = document.getElementById('form-error'); return !e.hidden && e.textContent.length > 0; })()`)
	if got, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.izipayResult === undefined`)); err != nil || !got {
		t.Fatalf("callbackResponse called after a decline (%v)", err)
	}
	if _, err := chromedp.Run(form, chromedp.Evaluate[bool](`['card-number', 'card-expiry', 'card-cvc'].forEach((id) => {
		const el = document.getElementById(id); el.value = ''; el.dispatchEvent(new Event('input')); }), true`)); err != nil {
		t.Fatal(err)
	}
	payCard(t, form, "4242424242424242")
	browsertest.WaitJS(t, ctx, `window.izipayResult !== undefined`)
	g.checkSigned(t, "callbackResponse", g.waitFor(t, "callbackResponse result", &g.results), tid, order, "00")
	g.checkSigned(t, "IPN", g.waitFor(t, "IPN", &g.ipns), tid, order, "00")
}

// Redirect mode: the shopper's cancel POSTs the signed C01 result to
// onCancel; a form that expired before any payment POSTs T07 to onError.
func TestBrowserIzipayRedirectCancelAndError(t *testing.T) {
	g := start(t, store.SQLite)
	b := browsertest.New(t, 60*time.Second)
	t.Run("onCancel", func(t *testing.T) {
		tid, order := "16881500820400", "ORD000400"
		ctx := g.open(t, b, order, tid, "redirect")
		browsertest.Form(t, ctx, g.url, "redirect")
		browsertest.Do(t, ctx, chromedp.Click(chromedp.CSS("#cancel-button")))
		post := g.waitFor(t, "redirect POST", &g.posts)
		if post.path != "/cancel" {
			t.Fatalf("POSTed to %s, want /cancel", post.path)
		}
		g.checkSigned(t, "onCancel POST", post, tid, order, "C01")
		browsertest.WaitJS(t, ctx, `document.getElementById('received') !== null && location.pathname === '/cancel'`)
	})
	t.Run("onError", func(t *testing.T) {
		tid, order := "16881500820401", "ORD000401"
		ctx := g.open(t, b, order, tid, "redirect")
		browsertest.Form(t, ctx, g.url, "redirect")
		g.offset.Store(int64(16 * time.Minute)) // the client secret's 15 minutes pass
		t.Cleanup(func() { g.offset.Store(0) })
		browsertest.Do(t, ctx, chromedp.Reload())
		browsertest.Do(t, ctx, chromedp.WaitVisible(chromedp.CSS("#result-return")), chromedp.Click(chromedp.CSS("#result-return")))
		post := g.waitFor(t, "redirect POST", &g.posts)
		if post.path != "/error" {
			t.Fatalf("POSTed to %s, want /error", post.path)
		}
		g.checkSigned(t, "onError POST", post, tid, order, "T07")
	})
}

// LoadForm refused by the gateway (an amount other than the token's, an
// unknown token): callbackResponse gets the documented unsigned result and
// the promise LoadForm returns rejects with the error object (code,
// message, date, Errors).
func TestBrowserIzipayLoadFormErrors(t *testing.T) {
	g := start(t, store.SQLite)
	b := browsertest.New(t, 60*time.Second)
	for _, c := range []struct {
		name, tid, order, call, code string
	}{
		{"amount differs from the token's", "16881500820500", "ORD000500", `pay("embedded", "10.50", "11.00")`, "T08"},
		{"unknown token", "16881500820501", "ORD000501", `pay("embedded", "10.50", "10.50", undefined, "izt_unknown")`, "T09"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, closeTab := chromedp.NewContext(b)
			t.Cleanup(closeTab)
			browsertest.Do(t, ctx, chromedp.Navigate(g.shopURL+"/checkout?order="+c.order+"&tid="+c.tid))
			if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](c.call+`, true`)); err != nil {
				t.Fatal(err)
			}
			browsertest.WaitJS(t, ctx, `window.izipayResult !== undefined && window.izipayLoadError !== undefined`)
			res, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`window.izipayResult`))
			if err != nil {
				t.Fatal(err)
			}
			if res["code"] != c.code || res["transactionId"] != c.tid || res["message"] == "" || res["payloadHttp"] != nil || res["signature"] != nil {
				t.Fatalf("callbackResponse %v: want code %s, no payloadHttp or signature", res, c.code)
			}
			e, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`window.izipayLoadError`))
			if err != nil {
				t.Fatal(err)
			}
			if e["name"] != "IzipayError" || e["code"] != c.code || !strings.HasPrefix(fmt.Sprint(e["message"]), "Izipay: ") ||
				e["date"] == "" || e["Errors"] == nil {
				t.Fatalf("LoadForm rejection %v: want an IzipayError with code %s", e, c.code)
			}
			if ok, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('iframe') === null`)); !ok {
				t.Fatal("a form was shown after LoadForm failed")
			}
		})
	}
}

func jsq(s string) string { return "'" + strings.ReplaceAll(s, "'", "\\'") + "'" }

// 3-D Secure inside the embedded Izipay form: the issuer's page opens in
// the form's challenge frame, and its return page must be framable by the
// merchant's page that called LoadForm (frame-ancestors covers every
// ancestor), which is in no allowed-origins list.
func TestBrowserIzipay3DSecureEmbedded(t *testing.T) {
	g := start(t, store.SQLite)
	b := browsertest.New(t, 60*time.Second)
	tid, order := "16881500820600", "ORD000600"
	ctx := g.open(t, b, order, tid, "embedded")
	form := browsertest.Form(t, ctx, g.url, "embedded")
	payCard(t, form, "4000002500003155")
	browsertest.WaitJS(t, form, `(() => { const f = document.getElementById('challenge-frame'); const d = f && f.contentDocument;
		const b = d && d.getElementById('approve'); if (b) { b.click(); } return !!b; })()`)
	browsertest.WaitJS(t, ctx, `window.izipayResult !== undefined`)
	res := g.waitFor(t, "callbackResponse result", &g.results)
	p, err := verify(g.creds.HashKey, res.body)
	if err != nil {
		t.Fatal(err)
	}
	if p["code"] != "00" {
		t.Fatalf("result after 3-D Secure: %v", p)
	}
}
