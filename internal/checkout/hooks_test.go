package checkout_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/checkout"
)

// hooks plays a protocol adapter: per payment, the origins it vouches for
// and the branding it asks for.
type hooks struct {
	mu        sync.Mutex
	ancestors map[string][]string
	branding  map[string]*checkout.Branding
}

func (h *hooks) config() checkout.Config {
	return checkout.Config{
		FrameAncestors: func(_ context.Context, p *kassa.Payment) []string {
			h.mu.Lock()
			defer h.mu.Unlock()
			return h.ancestors[p.ID]
		},
		Branding: func(_ context.Context, p *kassa.Payment) *checkout.Branding {
			h.mu.Lock()
			defer h.mu.Unlock()
			return h.branding[p.ID]
		},
	}
}

// An adapter's FrameAncestors open the hosted page and the 3-D Secure
// return of its own payments to the origins it names (nothing that is not
// a plain origin reaches the header); others stay unframable.
func TestFrameAncestorsHook(t *testing.T) {
	hk := &hooks{ancestors: map[string][]string{}, branding: map[string]*checkout.Branding{}}
	g := startGatewayWith(t, hk.config())
	own, ownSecret := g.newPayment(t)
	_, otherSecret := g.newPayment(t)
	hk.mu.Lock()
	hk.ancestors[own] = []string{"https://shop.example", "https://a.example; script-src *", "https://b.example/path", "http://localhost:8080"}
	hk.mu.Unlock()

	res, _ := get(t, g.url+"/pay/"+ownSecret)
	if csp := res.Header.Get("Content-Security-Policy"); res.StatusCode != 200 ||
		!strings.HasSuffix(csp, "; frame-ancestors https://shop.example http://localhost:8080") {
		t.Fatalf("hosted page of the adapter's payment: %d CSP %q", res.StatusCode, csp)
	}
	res, _ = get(t, g.url+"/pay/"+otherSecret)
	if csp := res.Header.Get("Content-Security-Policy"); !strings.HasSuffix(csp, "frame-ancestors 'none'") {
		t.Fatalf("hosted page of another payment: CSP %q", csp)
	}
	res, _ = get(t, g.url+"/pay/3ds/"+own, "Sec-Fetch-Dest", "iframe")
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'self' ") ||
		!strings.HasSuffix(csp, " https://shop.example http://localhost:8080") {
		t.Fatalf("3-D Secure return: CSP %q", csp)
	}
}

// An adapter's Branding replaces the merchant's logo and colour for its
// payment, checked as the settings are: an invalid value keeps the
// merchant's own; HideLogo hides it; the logo's origin is allowed by img-src.
func TestBrandingHook(t *testing.T) {
	hk := &hooks{ancestors: map[string][]string{}, branding: map[string]*checkout.Branding{}}
	g := startGatewayWith(t, hk.config())
	g.api("POST", "/v1/merchant/settings", `{"logo_url":"https://merchant.example/logo.png","accent_color":"#112233"}`, &map[string]any{})
	form := func(b *checkout.Branding) (csp, body string) {
		t.Helper()
		id, secret := g.newPayment(t)
		hk.mu.Lock()
		hk.branding[id] = b
		hk.mu.Unlock()
		res, body := get(t, g.url+"/pay/"+secret)
		if res.StatusCode != 200 {
			t.Fatalf("form %d", res.StatusCode)
		}
		return res.Header.Get("Content-Security-Policy"), body
	}
	for _, c := range []struct {
		name          string
		b             *checkout.Branding
		logo, accent  string // "" logo: none shown
		imgSrcContain string
	}{
		{"none", nil, "https://merchant.example/logo.png", "#112233", "https://merchant.example"},
		{"both", &checkout.Branding{LogoURL: "https://cdn.example/x.svg", AccentColor: "#AA00cc"}, "https://cdn.example/x.svg", "#aa00cc", "https://cdn.example"},
		{"colour only", &checkout.Branding{AccentColor: "#0f0"}, "https://merchant.example/logo.png", "#0f0", "https://merchant.example"},
		{"hidden logo", &checkout.Branding{HideLogo: true, LogoURL: "https://cdn.example/x.svg"}, "", "#112233", ""},
		{"invalid values", &checkout.Branding{LogoURL: "javascript:alert(1)", AccentColor: "red;}body{x:y"}, "https://merchant.example/logo.png", "#112233", "https://merchant.example"},
		{"plain http", &checkout.Branding{LogoURL: "http://cdn.example/x.png"}, "https://merchant.example/logo.png", "#112233", "https://merchant.example"},
		{"loopback http", &checkout.Branding{LogoURL: "http://127.0.0.1:9/x.png"}, "http://127.0.0.1:9/x.png", "#112233", "http://127.0.0.1:9"},
	} {
		csp, body := form(c.b)
		hasLogo := strings.Contains(body, `class="logo"`)
		if c.logo == "" && hasLogo || c.logo != "" && !strings.Contains(body, `class="logo" src="`+c.logo+`"`) {
			t.Errorf("%s: logo: want %q in %s", c.name, c.logo, body[:min(len(body), 1500)])
		}
		if !strings.Contains(body, "--accent:"+c.accent+"}") {
			t.Errorf("%s: accent: want %s", c.name, c.accent)
		}
		if c.imgSrcContain != "" && !strings.Contains(csp, "img-src 'self' data: "+c.imgSrcContain+";") ||
			c.imgSrcContain == "" && !strings.Contains(csp, "img-src 'self' data:;") {
			t.Errorf("%s: CSP %q: want img-src with %q", c.name, csp, c.imgSrcContain)
		}
	}
}

func TestJoinFrameAncestors(t *testing.T) {
	if checkout.JoinFrameAncestors(nil, nil) != nil {
		t.Fatal("joining no hooks is not nil")
	}
	a := func(context.Context, *kassa.Payment) []string { return []string{"https://a.example"} }
	b := func(context.Context, *kassa.Payment) []string { return nil }
	c := func(context.Context, *kassa.Payment) []string { return []string{"https://c.example"} }
	got := checkout.JoinFrameAncestors(a, nil, b, c)(context.Background(), &kassa.Payment{})
	if strings.Join(got, " ") != "https://a.example https://c.example" {
		t.Fatalf("joined %v", got)
	}
}
