package izi_test

import (
	"context"
	"github.com/kassa-pay/kassa/internal/browsertest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

// Browser tests of the payment and order pages in headless Chromium (Debian
// chromium, as internal/checkout's browser tests run it).

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func evalBool(ctx context.Context, expr string) bool {
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
	return err == nil && ok
}

// TestPagesInBrowser: the shopper opens the payment page (Spanish), sees
// what to pay, pays in Kassa's card form, lands on the order page, and
// follows the order to done; the return button carries status=success.
// A hideOutData order hides the recipient; a wrong secret shows nothing.
func TestPagesInBrowser(t *testing.T) {
	g := startGateway(t, storetest.Open(t, store.SQLite))
	ctx := browsertest.New(t, 60*time.Second)
	route := g.createRoute(`{"from":"PEN","to":"USD","rate":"0.27","fee_percent":"1","min":"10","max":"10000"}`)
	f := g.orderForm(route, "100", "ACC12345678", "browser-secret")
	f.Set("lang", "es")
	o := g.createOrder(f)
	uid := strconv.FormatInt(o.UID, 10)

	browsertest.Do(t, ctx, chromedp.Navigate(o.PaymentURL), chromedp.WaitVisible(chromedp.CSS("#pay")))
	if got := text(t, ctx, "#in-amount"); got != "100,00 PEN" {
		t.Errorf("in amount %q", got)
	}
	if got := text(t, ctx, "#out-amount"); got != "26,73 USD" {
		t.Errorf("out amount %q", got)
	}
	if got := text(t, ctx, "#to-values"); !strings.Contains(got, "ACC12345678") {
		t.Errorf("recipient %q", got)
	}
	if got := text(t, ctx, "#status"); got != "Nuevo" {
		t.Errorf("status %q", got)
	}

	// Pay: Kassa's card form, then back to the order page.
	browsertest.Do(t, ctx, chromedp.Click(chromedp.CSS("#pay")), chromedp.WaitVisible(chromedp.CSS("#card-number")),
		chromedp.SendKeys(chromedp.CSS("#card-number"), "4242424242424242"),
		chromedp.SendKeys(chromedp.CSS("#card-expiry"), "12 / 34"),
		chromedp.SendKeys(chromedp.CSS("#card-cvc"), "123"),
		chromedp.Click(chromedp.CSS("#pay-button")))
	orderPath := "/es/order/" + uid + "/" + o.Secret
	browsertest.WaitJS(t, ctx, `location.pathname === '`+orderPath+`' && document.querySelector('#timeline') !== null`)
	// The payout runs in the background: reload until the order is done
	// (the page refreshes itself every 5 s; the test does not wait for that).
	deadline := time.Now().Add(20 * time.Second)
	for !evalBool(ctx, `document.querySelector('#order')?.dataset.status === 'done'`) {
		if time.Now().After(deadline) {
			t.Fatalf("order page never showed done: %s", text(t, ctx, "#status"))
		}
		browsertest.Do(t, ctx, chromedp.Reload())
	}
	if got := text(t, ctx, "#status"); got != "Completado" {
		t.Errorf("status %q", got)
	}
	steps, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#timeline li')].map(li => li.dataset.status)`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(steps, ",") != "new,waitPayment,inProgress,inProgressPayout,done" {
		t.Errorf("timeline %v", steps)
	}
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#return').href`))
	if err != nil || href != "https://shop.example/back?cart=9&status=success" {
		t.Errorf("return button %q %v", href, err)
	}
	// Another language of the same page.
	browsertest.Do(t, ctx, chromedp.Click(chromedp.CSS(`a[hreflang="ru"]`)), chromedp.WaitVisible(chromedp.CSS("#status")))
	if got := text(t, ctx, "#status"); got != "Выполнена" {
		t.Errorf("ru status %q", got)
	}
	g.waitIPNs(o, "waitPayment", "inProgress", "inProgressPayout", "done")

	// Both pages in every language.
	for _, c := range []struct{ lang, done, payment, order string }{
		{"en", "Done", "Pay for order ", "Order "}, {"es", "Completado", "Pagar el pedido ", "Pedido "}, {"ru", "Выполнена", "Оплата заявки ", "Заявка "},
	} {
		for kind, title := range map[string]string{"payment": c.payment + uid, "order": c.order + uid} {
			browsertest.Do(t, ctx, chromedp.Navigate(g.url+"/"+c.lang+"/"+kind+"/"+uid+"/"+o.Secret), chromedp.WaitVisible(chromedp.CSS("#status")))
			if got := text(t, ctx, "#status"); got != c.done {
				t.Errorf("%s %s page: status %q, want %q", c.lang, kind, got, c.done)
			}
			if got := text(t, ctx, "#title"); got != title || !evalBool(ctx, `document.documentElement.lang === '`+c.lang+`'`) {
				t.Errorf("%s %s page: title %q, want %q (or the wrong html lang)", c.lang, kind, got, title)
			}
		}
	}

	// hideOutData: no recipient details on either page.
	h := g.orderForm(route, "20", "ACC99999999", "")
	h.Set("hideOutData", "true")
	hidden := g.createOrder(h)
	for _, u := range []string{hidden.PaymentURL, hidden.OrderURL} {
		browsertest.Do(t, ctx, chromedp.Navigate(u), chromedp.WaitVisible(chromedp.CSS("#status")))
		if evalBool(ctx, `document.querySelector('#to-values') !== null || document.querySelector('#out-amount') !== null || document.body.innerText.includes('ACC99999999')`) {
			t.Errorf("%s shows the hidden recipient", u)
		}
	}
	// A deleted order (final, error): the way back says status=error.
	if code, b, _ := g.do("POST", "/v1/orders/"+hidden.ID+"/delete", "", "", true); code != 200 {
		t.Fatalf("delete: %d %s", code, b)
	}
	browsertest.Do(t, ctx, chromedp.Navigate(hidden.OrderURL), chromedp.WaitVisible(chromedp.CSS("#return")))
	if href, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#return').href`)); !strings.HasSuffix(href, "status=error") {
		t.Errorf("return button of a deleted order %q", href)
	}

	// A wrong secret shows nothing of the order.
	for _, kind := range []string{"payment", "order"} {
		browsertest.Do(t, ctx, chromedp.Navigate(g.url+"/en/"+kind+"/"+uid+"/"+wrongSecret(o.Secret)), chromedp.WaitVisible(chromedp.CSS("#title")))
		if got := text(t, ctx, "#title"); got != "Order not found" {
			t.Errorf("%s page with a wrong secret: %q", kind, got)
		}
		if evalBool(ctx, `document.body.innerText.includes('100') || document.body.innerText.includes('ACC') || document.querySelector('#status') !== null`) {
			t.Errorf("%s page with a wrong secret shows order data", kind)
		}
	}
}
