package shoplazza_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/shoplazza"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

// frameAncestors is the frame-ancestors directive of a CSP.
func frameAncestors(csp string) string {
	for _, d := range strings.Split(csp, ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(d), "frame-ancestors "); ok {
			return v
		}
	}
	return ""
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func get(t *testing.T, c *http.Client, u string, hdr ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

// The iframe model answers the hosted page itself; the checkout lets the
// shop's origins (Shoplazza domain and the request's Custom-Domain) frame
// it and the 3-D Secure return page, and no one else. A redirect-model
// payment's hosted page is framed by no one. The URL earlier answers gave
// (/shoplazza/pay/{secret}) sends the frame on to the hosted page.
func TestIframeHostedPageFrameAncestors(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	g := startGateway(t, db, engine.ShoplazzaModelIframe, shoplazza.Config{})
	g.customDomain = "shop.example.com"
	a := g.post("/shoplazza/payments", g.paymentForm("fa-1", "ORD-FA", "sale", ""), "")
	src := str(a.Body["redirect_url"])
	if a.Status != 200 || !strings.HasPrefix(src, g.url+"/pay/pay_") {
		t.Fatalf("iframe answer %d %s", a.Status, a.Raw)
	}
	res := get(t, http.DefaultClient, src)
	if fa := frameAncestors(res.Header.Get("Content-Security-Policy")); res.StatusCode != 200 ||
		fa != "https://developer.myshoplaza.com https://shop.example.com" {
		t.Fatalf("hosted page %d, frame-ancestors %q", res.StatusCode, fa)
	}

	secret := strings.TrimPrefix(src, g.url+"/pay/")
	old := get(t, noRedirect, g.url+"/shoplazza/pay/"+secret+"?locale=es")
	if old.StatusCode != http.StatusSeeOther || old.Header.Get("Location") != src+"?locale=es" {
		t.Fatalf("old iframe URL: %d to %q", old.StatusCode, old.Header.Get("Location"))
	}
	if res := get(t, noRedirect, g.url+"/shoplazza/pay/pay_nope_secret_x"); res.StatusCode != 404 {
		t.Fatalf("unknown secret: %d", res.StatusCode)
	}

	// The 3-D Secure return of the payment, inside the form's challenge
	// frame, is framable by the form ('self') and the shop.
	paymentID, _, _ := strings.Cut(secret, "_secret_")
	ret := get(t, noRedirect, g.url+"/pay/3ds/"+paymentID, "Sec-Fetch-Dest", "iframe")
	if fa := frameAncestors(ret.Header.Get("Content-Security-Policy")); ret.StatusCode != 200 ||
		fa != "'self' https://developer.myshoplaza.com https://shop.example.com" {
		t.Fatalf("3-D Secure return %d, frame-ancestors %q", ret.StatusCode, fa)
	}

	// The same shop in the redirect model: its hosted page is not framed.
	g2 := startGateway(t, storetest.Open(t, store.SQLite), engine.ShoplazzaModelRedirect, shoplazza.Config{})
	b := g2.post("/shoplazza/payments", g2.paymentForm("fa-2", "ORD-FA2", "sale", ""), "")
	res = get(t, http.DefaultClient, str(b.Body["redirect_url"]))
	if fa := frameAncestors(res.Header.Get("Content-Security-Policy")); fa != "'none'" {
		t.Fatalf("redirect-model hosted page frame-ancestors %q", fa)
	}
}

var formAction = regexp.MustCompile(`<form method="post" action="([^"]+)"`)

// Direct card with 3-D Secure: the answer sends the shopper to the issuer's
// page; approving there returns through /pay/3ds to the shopper return,
// which calls complete_url and sends the shopper to the page Shoplazza
// answered; the paid result is notified.
func TestCard3DSecure(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := startGateway(t, db, engine.ShoplazzaModelRedirect, shoplazza.Config{})
		a := g.post("/shoplazza/payments", g.paymentForm("card-3ds-1", "ORD-3DS", "card", "4000002500003155"), "")
		acs := str(a.Body["redirect_url"])
		if a.Status != 200 || str(a.Body["status"]) != "paying" || !strings.HasPrefix(acs, g.url+"/simulator/acs/") {
			t.Fatalf("3-D Secure answer %d %s", a.Status, a.Raw)
		}
		if n := len(g.shop.callsTo("complete_callbacks")); n != 0 {
			t.Fatalf("%d complete calls before the shopper authenticated", n)
		}

		// The shopper's browser, at the top level: the issuer's page, then
		// Approve (a form POST), following every redirect.
		res, err := http.Get(acs)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(res.Body)
		res.Body.Close()
		m := formAction.FindSubmatch(page)
		if res.StatusCode != 200 || m == nil {
			t.Fatalf("issuer page %d: %s", res.StatusCode, page)
		}
		var hops []string
		browser := &http.Client{CheckRedirect: func(req *http.Request, via []*http.Request) error {
			hops = append(hops, req.URL.Path)
			req.Header.Set("Sec-Fetch-Dest", "document")
			return nil
		}}
		req, _ := http.NewRequest("POST", g.url+string(m[1]), strings.NewReader(url.Values{"result": {"approve"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Dest", "document")
		res, err = browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if want := g.shop.srv.URL + "/checkout/thanks?order=1"; res.Request.URL.String() != want || res.StatusCode != 200 {
			t.Fatalf("the shopper ended on %s (%d) via %v, want %s", res.Request.URL, res.StatusCode, hops, want)
		}
		if len(hops) != 3 || !strings.HasPrefix(hops[0], "/pay/3ds/") || hops[1] != "/shoplazza/return" || hops[2] != "/checkout/thanks" {
			t.Fatalf("redirects %v: want /pay/3ds, /shoplazza/return, the shop's page", hops)
		}

		c := g.shop.waitCalls(t, "complete_callbacks", 1)
		if len(c) != 1 || str(c[0].Body["payment_id"]) != "card-3ds-1" || str(c[0].Body["status"]) != "paying" ||
			str(c[0].Body["type"]) != "sale" || str(c[0].Body["amount"]) != "254.20" {
			t.Fatalf("complete calls %+v", c)
		}
		n := g.shop.waitCalls(t, "notify_callbacks", 1)
		if len(n) != 1 || str(n[0].Body["status"]) != "paid" || str(n[0].Body["payment_id"]) != "card-3ds-1" {
			t.Fatalf("notify %+v", n)
		}
		if g.shop.badSig != 0 {
			t.Fatalf("%d calls with a bad signature", g.shop.badSig)
		}
	})
}
