package checkout_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/kassa-pay/kassa/internal/browsertest"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kassa-pay/kassa/internal/api"
	"github.com/kassa-pay/kassa/internal/checkout"
	"github.com/kassa-pay/kassa/internal/checkout/demoshop"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/processor"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
	"github.com/kassa-pay/kassa/resultsig"
)

// gateway is a Kassa gateway and the demo shop on two loopback ports, with
// a clock the test can move forward.
type gateway struct {
	t         *testing.T
	url       string // the gateway, http://127.0.0.1:P
	shopURL   string // the shop as the browser opens it, http://localhost:Q (another site)
	secretKey string
	signing   string
	offset    atomic.Int64 // added to the engine's clock

	shopMu       sync.Mutex
	shopRequests []string // every request the shop's server received: method, URL, body
}

// recordShop wraps the shop's handler so that a test can check what the
// merchant's server ever saw (never card data).
func (g *gateway) recordShop(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		g.shopMu.Lock()
		g.shopRequests = append(g.shopRequests, r.Method+" "+r.URL.String()+" "+string(b))
		g.shopMu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func startGateway(t *testing.T) *gateway {
	t.Helper()
	return startGatewayWith(t, checkout.Config{})
}

// startGatewayWith starts the gateway with the checkout configured by cfg
// (adapter hooks).
func startGatewayWith(t *testing.T, cfg checkout.Config) *gateway {
	t.Helper()
	g := &gateway{t: t}
	db := storetest.Open(t, store.SQLite)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.url = "http://" + ln.Addr().String()
	sim := processor.NewSimulator(db.SQL(), g.url)
	eng := engine.New(db, sim, engine.Config{BaseURL: g.url, ReconcileGrace: time.Nanosecond,
		Now: func() time.Time { return time.Now().Add(time.Duration(g.offset.Load())) }}, nil)
	mux := http.NewServeMux()
	mux.Handle("/simulator/", sim.Handler())
	mux.Handle("/", api.New(eng, nil))
	checkout.New(eng, cfg, nil).Register(mux)
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: mux}}
	srv.Start()
	t.Cleanup(srv.Close)

	creds, err := eng.CreateMerchant(context.Background(), "Browser Test Merchant", "")
	if err != nil {
		t.Fatal(err)
	}
	g.secretKey = creds.SecretKey
	shop := demoshop.New(demoshop.Config{GatewayURL: g.url, SecretKey: creds.SecretKey, PublishableKey: creds.PublishableKey})
	shopSrv := httptest.NewServer(g.recordShop(shop))
	t.Cleanup(shopSrv.Close)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(shopSrv.URL, "http://"))
	g.shopURL = "http://localhost:" + port
	if err := shop.Setup(context.Background(), []string{g.shopURL, shopSrv.URL}); err != nil {
		t.Fatal(err)
	}
	var st struct {
		Secret string `json:"result_signing_secret"`
	}
	g.api("GET", "/v1/merchant/settings", "", &st)
	g.signing = st.Secret
	return g
}

func (g *gateway) api(method, path, body string, out any) {
	g.t.Helper()
	req, _ := http.NewRequest(method, g.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+g.secretKey)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		g.t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		g.t.Fatal(err)
	}
}

func (g *gateway) paymentStatus(id string) string {
	var p struct {
		Status string `json:"status"`
	}
	g.api("GET", "/v1/payments/"+id, "", &p)
	return p.Status
}

// tab opens a new tab with a deadline.
func tab(t *testing.T, browser context.Context) context.Context {
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, 45*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func poll(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second))
}

// checkout opens the shop, picks mode and locale and presses Pay.
func (g *gateway) checkout(t *testing.T, ctx context.Context, mode, locale string) (form context.Context, paymentID string) {
	t.Helper()
	browsertest.Do(t, ctx,
		chromedp.Navigate(g.shopURL+"/"),
		chromedp.Click(chromedp.CSS("#mode-"+mode)),
		chromedp.SetValue(chromedp.CSS("#locale"), locale),
		chromedp.Click(chromedp.CSS("#pay")),
	)
	form = browsertest.Form(t, ctx, g.url, mode)
	id, err := chromedp.Run(form, chromedp.Evaluate[string](`JSON.parse(document.getElementById('kassa-config').textContent).state.payment_id`))
	if err != nil {
		t.Fatal(err)
	}
	return form, id
}

func enterCard(t *testing.T, form context.Context, number, expiry, cvc string) {
	t.Helper()
	browsertest.Do(t, form,
		chromedp.Clear(chromedp.CSS("#card-number")),
		chromedp.SendKeys(chromedp.CSS("#card-number"), number),
		chromedp.Clear(chromedp.CSS("#card-expiry")),
		chromedp.SendKeys(chromedp.CSS("#card-expiry"), expiry),
		chromedp.Clear(chromedp.CSS("#card-cvc")),
		chromedp.SendKeys(chromedp.CSS("#card-cvc"), cvc),
		chromedp.Click(chromedp.CSS("#pay-button")),
	)
}

const goodExpiry = "12 / 34"

// answerChallenge clicks Approve or Fail on the issuer's page, which runs in
// a frame of the form (same origin as the form).
func answerChallenge(t *testing.T, form context.Context, button string) {
	t.Helper()
	browsertest.Do(t, form, chromedp.WaitVisible(chromedp.CSS("#challenge")))
	browsertest.WaitJS(t, form, `(() => { const f = document.getElementById('challenge-frame'); const d = f && f.contentDocument;
		const b = d && d.getElementById('`+button+`'); if (!b) return false; b.click(); return true; })()`)
}

// shopResult waits for the shop page to show a result and returns its
// status after checking that the shop's server verified the signature.
// For embedded and pop-up it also verifies the postMessage'd result here.
func (g *gateway) shopResult(t *testing.T, ctx context.Context, mode, paymentID string) string {
	t.Helper()
	browsertest.WaitJS(t, ctx, fmt.Sprintf(`location.href.startsWith(%q) && document.querySelector('#result[data-verified]') !== null`, g.shopURL+"/"))
	attrs, err := chromedp.Run(ctx, chromedp.Attributes(chromedp.CSS("#result")))
	if err != nil {
		t.Fatal(err)
	}
	if attrs["data-verified"] != "true" || attrs["data-payment"] != paymentID {
		t.Fatalf("shop result %v: want verified result for %s", attrs, paymentID)
	}
	if mode != "redirect" {
		res, err := chromedp.Run(ctx, chromedp.Evaluate[[]map[string]any](`window.kassaResults`))
		if err != nil || len(res) != 1 {
			t.Fatalf("window.kassaResults = %v, %v; want one result", res, err)
		}
		r := res[0]
		if r["type"] != "kassa.result" || r["payment_id"] != paymentID || r["status"] != attrs["data-status"] ||
			!resultsig.Verify(g.signing, paymentID, fmt.Sprint(r["status"]), fmt.Sprint(r["signature"])) {
			t.Fatalf("postMessage result %v does not verify", r)
		}
	} else if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.HasPrefix(loc, g.shopURL+"/") {
		t.Fatalf("redirect ended at %s, not on the shop", loc)
	}
	return attrs["data-status"]
}

func (g *gateway) expect(t *testing.T, ctx context.Context, mode, paymentID, want string) {
	t.Helper()
	if got := g.shopResult(t, ctx, mode, paymentID); got != want {
		t.Errorf("shop received status %s, want %s", got, want)
	}
	if got := g.paymentStatus(paymentID); got != want {
		t.Errorf("API status %s, want %s", got, want)
	}
}

func formError(t *testing.T, form context.Context) string {
	t.Helper()
	browsertest.Do(t, form, chromedp.WaitVisible(chromedp.CSS("#form-error")))
	s, err := chromedp.Run(form, chromedp.Text(chromedp.CSS("#form-error")))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBrowserCheckout(t *testing.T) {
	browsertest.Path(t)
	g := startGateway(t)
	browser := browsertest.New(t, 0)

	for _, mode := range []string{"embedded", "popup", "redirect"} {
		t.Run(mode+"/success", func(t *testing.T) {
			ctx := tab(t, browser)
			form, id := g.checkout(t, ctx, mode, "en")
			enterCard(t, form, "4242424242424242", goodExpiry, "123")
			g.expect(t, ctx, mode, id, "succeeded")
		})
		t.Run(mode+"/decline_then_retry", func(t *testing.T) {
			ctx := tab(t, browser)
			form, id := g.checkout(t, ctx, mode, "es")
			enterCard(t, form, "4000000000000002", goodExpiry, "123")
			if msg := formError(t, form); !strings.Contains(msg, "rechazada") {
				t.Errorf("decline message %q does not give the reason in Spanish", msg)
			}
			if st := g.paymentStatus(id); st != "requires_payment_method" {
				t.Fatalf("after decline: status %s", st)
			}
			enterCard(t, form, "4242424242424242", goodExpiry, "123")
			g.expect(t, ctx, mode, id, "succeeded")
		})
		t.Run(mode+"/3ds_approve", func(t *testing.T) {
			ctx := tab(t, browser)
			form, id := g.checkout(t, ctx, mode, "en")
			enterCard(t, form, "4000002500003155", goodExpiry, "123")
			answerChallenge(t, form, "approve")
			g.expect(t, ctx, mode, id, "succeeded")
		})
		t.Run(mode+"/3ds_fail", func(t *testing.T) {
			ctx := tab(t, browser)
			form, id := g.checkout(t, ctx, mode, "pt")
			enterCard(t, form, "4000002500003155", goodExpiry, "123")
			answerChallenge(t, form, "fail")
			if msg := formError(t, form); !strings.Contains(msg, "banco") {
				t.Errorf("3-D Secure failure message %q", msg)
			}
			if st := g.paymentStatus(id); st != "requires_payment_method" {
				t.Fatalf("after failed challenge: status %s", st)
			}
			// The shopper gives up.
			if mode == "popup" {
				browsertest.Do(t, ctx, chromedp.Click(chromedp.CSS("[data-kassa-close]")))
			} else {
				browsertest.Do(t, form, chromedp.Click(chromedp.CSS("#cancel-button")))
			}
			g.expect(t, ctx, mode, id, "canceled")
		})
		t.Run(mode+"/expired_client_secret", func(t *testing.T) {
			ctx := tab(t, browser)
			form, id := g.checkout(t, ctx, mode, "en")
			g.offset.Store(int64(16 * time.Minute))
			defer g.offset.Store(0)
			enterCard(t, form, "4242424242424242", goodExpiry, "123")
			browsertest.Do(t, form, poll(`document.getElementById('checkout').dataset.state === 'expired'`))
			title, err := chromedp.Run(form, chromedp.Text(chromedp.CSS("#result-title")))
			if err != nil || !strings.Contains(title, "expired") {
				t.Errorf("expired form title %q, %v", title, err)
			}
			if mode == "redirect" {
				browsertest.Do(t, form, chromedp.Click(chromedp.CSS("#result-return")))
			}
			g.expect(t, ctx, mode, id, "requires_payment_method")
		})
	}
	t.Run("embedded/iframe_fits_the_form", func(t *testing.T) {
		ctx := tab(t, browser)
		form, _ := g.checkout(t, ctx, "embedded", "en")
		// The iframe on the shop page is as tall as the form inside it
		// (plus the form's 4 px margin), first as loaded, then after inline
		// errors made the form taller.
		fits := func() (formH, frameH int64) {
			t.Helper()
			var err error
			deadline := time.Now().Add(20 * time.Second)
			for {
				formH, err = chromedp.Run(form, chromedp.Evaluate[int64](`Math.ceil(document.getElementById('checkout').getBoundingClientRect().height) + 4`))
				if err != nil {
					t.Fatal(err)
				}
				frameH, err = chromedp.Run(ctx, chromedp.Evaluate[int64](`document.querySelector('#pay-container iframe').offsetHeight`))
				if err != nil {
					t.Fatal(err)
				}
				if formH == frameH || time.Now().After(deadline) {
					return formH, frameH
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		before, frame := fits()
		if before != frame {
			t.Fatalf("iframe is %d px tall for a %d px form", frame, before)
		}
		browsertest.Do(t, form, chromedp.Click(chromedp.CSS("#pay-button")), chromedp.WaitVisible(chromedp.CSS("#card-number-error")))
		after, frame := fits()
		if after <= before || after != frame {
			t.Errorf("after inline errors the form is %d px (was %d) and the iframe %d px", after, before, frame)
		}
	})
	t.Run("hosted/keyboard_only", func(t *testing.T) {
		// A shopper without a mouse: Tab from the top of the page reaches
		// the card number first, each field in order, and Enter pays.
		ctx := tab(t, browser)
		var p struct {
			ID          string `json:"id"`
			CheckoutURL string `json:"checkout_url"`
		}
		g.api("POST", "/v1/payments", `{"amount":2599,"currency":"EUR"}`, &p)
		browsertest.Do(t, ctx, chromedp.Navigate(p.CheckoutURL+"?locale=en"), chromedp.WaitVisible(chromedp.CSS("#card-number")))
		focused := func(id string) {
			t.Helper()
			got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement ? document.activeElement.id : ''`))
			if err != nil || got != id {
				t.Fatalf("focus on %q, want %s (%v)", got, id, err)
			}
		}
		browsertest.Do(t, ctx, chromedp.KeyEvent("\t"))
		focused("card-number")
		browsertest.Do(t, ctx, chromedp.KeyEvent("4242424242424242\t"))
		focused("card-expiry")
		browsertest.Do(t, ctx, chromedp.KeyEvent("1234\t"))
		focused("card-cvc")
		browsertest.Do(t, ctx, chromedp.KeyEvent("123\t"))
		focused("card-holder")
		browsertest.Do(t, ctx, chromedp.KeyEvent("Ana Keys\r"))
		// The hosted page then leaves for the payment's return URL, so the
		// API is asked instead of the page.
		st := ""
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if st = g.paymentStatus(p.ID); st == "succeeded" {
				break
			}
		}
		if st != "succeeded" {
			t.Errorf("keyboard payment: %s", st)
		}
	})
	t.Run("popup/closed_by_shopper", func(t *testing.T) {
		ctx := tab(t, browser)
		_, id := g.checkout(t, ctx, "popup", "en")
		browsertest.Do(t, ctx, chromedp.Click(chromedp.CSS("[data-kassa-close]")))
		g.expect(t, ctx, "popup", id, "canceled")
		browsertest.Do(t, ctx, poll(`document.querySelector('[data-kassa-overlay]') === null`))
	})
	t.Run("screenshots", func(t *testing.T) { screenshots(t, g, browser) })

	// Card data went from the forms to the gateway only: the merchant's
	// server never received a card number or CVC in any request above.
	g.shopMu.Lock()
	defer g.shopMu.Unlock()
	if len(g.shopRequests) < 20 && flag.Lookup("test.run").Value.String() == "" {
		t.Fatalf("the shop saw only %d requests; the recorder is not in the path", len(g.shopRequests))
	}
	for _, r := range g.shopRequests {
		for _, secret := range []string{"4242424242424242", "4242 4242", "4000000000000002", "4000002500003155", "12 / 34", `"cvc"`, "exp_month"} {
			if strings.Contains(r, secret) {
				t.Errorf("the merchant's server received card data (%q): %s", secret, r)
			}
		}
	}
}

// screenshots saves the hosted form in each locale, on a desktop and on a
// 360 px wide phone, to testoutput/screenshots for a person to look at, and
// checks that the phone layout does not scroll sideways.
func screenshots(t *testing.T, g *gateway, browser context.Context) {
	dir := filepath.Join("..", "..", "testoutput", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, locale := range []string{"en", "es", "pt"} {
		for _, vp := range []struct {
			name string
			w, h int64
		}{{"desktop", 1280, 900}, {"360px", 360, 780}} {
			ctx := tab(t, browser)
			var p struct {
				CheckoutURL string `json:"checkout_url"`
			}
			g.api("POST", "/v1/payments", `{"amount":123450,"currency":"USD","description":"Kassa T-shirt ×3"}`, &p)
			browsertest.Do(t, ctx,
				chromedp.EmulateViewport(vp.w, vp.h),
				chromedp.Navigate(p.CheckoutURL+"?locale="+locale),
				chromedp.WaitVisible(chromedp.CSS("#card-number")),
				chromedp.SendKeys(chromedp.CSS("#card-number"), "4242424242424241"),
				chromedp.SendKeys(chromedp.CSS("#card-expiry"), "12"),
				chromedp.Click(chromedp.CSS("#pay-button")),
				chromedp.WaitVisible(chromedp.CSS("#card-number-error")),
			)
			width, err := chromedp.Run(ctx, chromedp.Evaluate[int64](`document.documentElement.scrollWidth`))
			if err != nil || width > vp.w {
				t.Errorf("%s %s: page is %d px wide in a %d px viewport (%v)", locale, vp.name, width, vp.w, err)
			}
			unlabeled, err := chromedp.Run(ctx, chromedp.Evaluate[int64](`[...document.querySelectorAll('input')].filter(i => i.labels.length === 0).length`))
			if err != nil || unlabeled != 0 {
				t.Errorf("%s: %d inputs without a label (%v)", locale, unlabeled, err)
			}
			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			name := filepath.Join(dir, fmt.Sprintf("form-%s-%s.png", locale, vp.name))
			if err := os.WriteFile(name, png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
