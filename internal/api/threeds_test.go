package api_test

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/checkout"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/resultsig"
)

// mountBrowserRoutes mounts the shopper-facing pages the API's flows lead
// to: the checkout, which serves the 3-D Secure return at /pay/3ds/{id}.
func mountBrowserRoutes(t *testing.T, mux *http.ServeMux, eng *engine.Engine, baseURL string, log *slog.Logger) {
	checkout.New(eng, checkout.Config{}, log).Register(mux)
}

// testThreeDSecure: a card that needs 3-D Secure is answered with
// requires_action and the issuer's page; the shopper approves there, comes
// back through /pay/3ds/{id} and lands on return_url with the outcome.
func testThreeDSecure(t *testing.T, e *env) {
	m := e.newMerchant("3DS shop")
	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// navigate is a top-level page load by the shopper's browser.
	navigate := func(method, target string, form url.Values) *http.Response {
		t.Helper()
		var req *http.Request
		if form != nil {
			req, _ = http.NewRequest(method, target, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req, _ = http.NewRequest(method, target, nil)
		}
		req.Header.Set("Sec-Fetch-Dest", "document")
		req.Header.Set("Sec-Fetch-Mode", "navigate")
		res, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	location := func(res *http.Response) string {
		t.Helper()
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s %s: %d, want 303", res.Request.Method, res.Request.URL, res.StatusCode)
		}
		u, err := res.Request.URL.Parse(res.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		return u.String()
	}
	var settings struct {
		Secret string `json:"result_signing_secret"`
	}
	m.get(t, "/v1/merchant/settings").want(t, 200).decode(t, &settings)

	for _, c := range []struct {
		answer, status, landing string
	}{
		{"approve", "succeeded", "https://shop.example/thanks"},
		{"fail", "requires_payment_method", "https://shop.example/cart"},
	} {
		t.Run(c.answer, func(t *testing.T) {
			p := m.post(t, "/v1/payments", obj{"amount": 5000, "currency": "EUR", "order_id": "3ds-" + c.answer,
				"return_url": "https://shop.example/thanks?order=7", "cancel_url": "https://shop.example/cart?order=7"}).want(t, 201).payment(t)
			a := m.post(t, "/v1/payments/"+p.ID+"/confirm", obj{"payment_method": card(processorCard3DS)}).want(t, 200).payment(t)
			if a.Status != kassa.StatusRequiresAction || a.NextAction == nil || a.NextAction.Type != "redirect_to_url" ||
				!strings.HasPrefix(a.NextAction.RedirectURL, e.srv.URL+"/simulator/acs/") {
				t.Fatalf("confirm with a 3-D Secure card: %+v", a)
			}
			acs := navigate("GET", a.NextAction.RedirectURL, nil)
			if acs.StatusCode != 200 || !strings.HasPrefix(acs.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("ACS page: %d %s", acs.StatusCode, acs.Header.Get("Content-Type"))
			}
			back := location(navigate("POST", a.NextAction.RedirectURL, url.Values{"result": {c.answer}}))
			if back != e.srv.URL+"/pay/3ds/"+p.ID {
				t.Fatalf("the ACS sends the shopper to %s, want /pay/3ds/%s", back, p.ID)
			}
			landing, err := url.Parse(location(navigate("GET", back, nil)))
			if err != nil {
				t.Fatal(err)
			}
			q := landing.Query()
			if landing.Scheme+"://"+landing.Host+landing.Path != c.landing || q.Get("order") != "7" ||
				q.Get("payment_id") != p.ID || q.Get("status") != c.status {
				t.Fatalf("landed on %s, want %s with payment_id=%s status=%s", landing, c.landing, p.ID, c.status)
			}
			if !resultsig.Verify(settings.Secret, p.ID, c.status, q.Get("signature")) {
				t.Errorf("the result's signature does not verify with the merchant's result_signing_secret")
			}
			g := m.get(t, "/v1/payments/"+p.ID).want(t, 200).payment(t)
			if string(g.Status) != c.status || g.NextAction != nil {
				t.Errorf("payment after 3-D Secure: %+v", g)
			}
			if c.answer == "approve" && g.AmountCaptured != 5000 {
				t.Errorf("captured %d", g.AmountCaptured)
			}
			if c.answer == "fail" && (g.LastError == nil || g.LastError.Code != "payment_authentication_failed") {
				t.Errorf("last_error after a failed challenge: %+v", g.LastError)
			}
		})
	}
}

const processorCard3DS = "4000002500003155"
