package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

var (
	hashKeyRE   = regexp.MustCompile(`id="izipay-hash-key">([A-Za-z0-9]+)<`)
	publicKeyRE = regexp.MustCompile(`id="izipay-public-key">([A-Za-z0-9]+)<`)
	codeRE      = regexp.MustCompile(`id="izipay-merchant-code">([0-9]+)<`)
)

func TestDashboardShoplazzaBindings(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := startGateway(t, db)
		admin := g.newBrowser()
		admin.login(g.a.admin)
		if _, body := admin.get("/dashboard/settings"); !strings.Contains(body, "No shop is bound yet") || !strings.Contains(body, `id="bind-shop"`) {
			t.Fatal("settings page lacks the Shoplazza panel")
		}
		form := url.Values{"csrf": {admin.csr}, "shop_domain": {"https://Acme.myshoplaza.com/"}, "app_id": {"app-123"},
			"client_secret": {"CLIENT-SECRET-xyz"}, "access_token": {"ACCESS-TOKEN-abc"}, "account_id": {"acct-7"},
			"model": {"iframe"}, "iframe_width": {"480"}, "iframe_height": {"640"}, "sign_key": {"SIGN-KEY-qrs"}}
		// A rejected form is shown again without its secrets.
		bad := url.Values{}
		for k, v := range form {
			bad[k] = v
		}
		bad.Del("account_id")
		code, body := admin.post("/dashboard/settings/shoplazza", bad)
		if code != http.StatusUnprocessableEntity || !strings.Contains(body, "account_id is required") || !strings.Contains(body, "app-123") {
			t.Fatalf("bind without account: %d", code)
		}
		for _, secret := range []string{"CLIENT-SECRET-xyz", "ACCESS-TOKEN-abc", "SIGN-KEY-qrs"} {
			if strings.Contains(body, secret) {
				t.Fatalf("the refilled form shows %s", secret)
			}
		}
		code, body = admin.post("/dashboard/settings/shoplazza", form)
		if code != 200 || !strings.Contains(body, "acme.myshoplaza.com</td>") || !strings.Contains(body, "iframe 480×640") {
			t.Fatalf("bind: %d", code)
		}
		for _, secret := range []string{"CLIENT-SECRET-xyz", "ACCESS-TOKEN-abc", "SIGN-KEY-qrs"} {
			if strings.Contains(body, secret) {
				t.Fatalf("the settings page shows %s", secret)
			}
		}
		sl, err := g.eng.Shoplazza()
		if err != nil {
			t.Fatal(err)
		}
		b, err := sl.Binding(context.Background(), "acme.myshoplaza.com")
		if err != nil || b.MerchantID != g.a.pr.MerchantID || b.ClientSecret != "CLIENT-SECRET-xyz" || b.AccessToken != "ACCESS-TOKEN-abc" ||
			b.AccountID != "acct-7" || b.Livemode {
			t.Fatalf("stored binding %+v (%v)", b, err)
		}

		// Another merchant's admin cannot take the shop over.
		other := g.newBrowser()
		other.login(g.b.admin)
		other.get("/dashboard/settings")
		form.Set("csrf", other.csr)
		form.Set("client_secret", "THIEF")
		if code, body := other.post("/dashboard/settings/shoplazza", form); code != http.StatusConflict || !strings.Contains(body, "another merchant") {
			t.Fatalf("bind another merchant's shop: %d", code)
		}
		if b, _ := sl.Binding(context.Background(), "acme.myshoplaza.com"); b.MerchantID != g.a.pr.MerchantID || b.ClientSecret != "CLIENT-SECRET-xyz" {
			t.Fatalf("the shop was taken over: %+v", b)
		}
		if _, body := other.get("/dashboard/settings"); strings.Contains(body, "acme.myshoplaza.com</td>") || strings.Contains(body, "app-123") {
			t.Fatal("another merchant sees the binding")
		}

		// A viewer sees the binding, no form, and is refused.
		viewer := g.newBrowser()
		viewer.login(g.a.viewer)
		if _, body := viewer.get("/dashboard/settings"); !strings.Contains(body, "acme.myshoplaza.com</td>") || strings.Contains(body, `id="bind-shop"`) {
			t.Fatal("viewer's Shoplazza panel")
		}
		form.Set("csrf", viewer.csr)
		form.Set("shop_domain", "viewer.myshoplaza.com")
		if code, _ := viewer.post("/dashboard/settings/shoplazza", form); code != http.StatusForbidden {
			t.Fatalf("viewer bind: %d", code)
		}
		if _, err := sl.Binding(context.Background(), "viewer.myshoplaza.com"); err == nil {
			t.Fatal("the viewer's binding was stored")
		}
	})
}

func TestDashboardIzipayCredentials(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := startGateway(t, db)
		admin := g.newBrowser()
		admin.login(g.a.admin)
		// Looking creates nothing.
		if _, body := admin.get("/dashboard/settings"); !strings.Contains(body, `id="izipay-none"`) || !strings.Contains(body, `id="izipay-create"`) {
			t.Fatal("settings page lacks the Izipay panel")
		}
		if _, body := admin.get("/dashboard/settings"); !strings.Contains(body, `id="izipay-none"`) {
			t.Fatal("viewing the settings created credentials")
		}
		code, body := admin.post("/dashboard/settings/izipay", url.Values{"csrf": {admin.csr}})
		hash, pub, mc := hashKeyRE.FindStringSubmatch(body), publicKeyRE.FindStringSubmatch(body), codeRE.FindStringSubmatch(body)
		if code != 200 || hash == nil || pub == nil || mc == nil {
			t.Fatalf("create: %d", code)
		}
		// The hash key is shown only in that answer; creating again does not reveal it.
		_, body = admin.get("/dashboard/settings")
		if strings.Contains(body, hash[1]) || !strings.Contains(body, pub[1]) || !strings.Contains(body, mc[1]) {
			t.Fatal("settings page after creation: hash key shown or credentials missing")
		}
		if _, body := admin.post("/dashboard/settings/izipay", url.Values{"csrf": {admin.csr}}); strings.Contains(body, hash[1]) || !strings.Contains(body, "already has") {
			t.Fatal("creating again reveals the hash key")
		}
		// The credentials work against Izipay's token authentication.
		z := g.iz
		if _, err := z.AuthenticateIzipay(context.Background(), mc[1], pub[1]); err != nil {
			t.Fatal(err)
		}
		// Roll needs the confirmation; then new keys, same merchant code.
		if code, _ := admin.post("/dashboard/settings/izipay", url.Values{"csrf": {admin.csr}, "roll": {"yes"}}); code != http.StatusUnprocessableEntity {
			t.Fatalf("roll without confirmation: %d", code)
		}
		code, body = admin.post("/dashboard/settings/izipay", url.Values{"csrf": {admin.csr}, "roll": {"yes"}, "confirm": {"yes"}})
		hash2, pub2, mc2 := hashKeyRE.FindStringSubmatch(body), publicKeyRE.FindStringSubmatch(body), codeRE.FindStringSubmatch(body)
		if code != 200 || hash2 == nil || hash2[1] == hash[1] || pub2[1] == pub[1] || mc2[1] != mc[1] {
			t.Fatalf("roll: %d", code)
		}
		if _, err := z.AuthenticateIzipay(context.Background(), mc[1], pub[1]); err == nil {
			t.Fatal("the old public key still works after the roll")
		}
		// A viewer sees the merchant code only and cannot roll.
		viewer := g.newBrowser()
		viewer.login(g.a.viewer)
		_, body = viewer.get("/dashboard/settings")
		if !strings.Contains(body, mc[1]) || strings.Contains(body, pub2[1]) || strings.Contains(body, hash2[1]) || strings.Contains(body, `id="izipay-roll"`) {
			t.Fatal("viewer's Izipay panel shows keys or the roll button")
		}
		if code, _ := viewer.post("/dashboard/settings/izipay", url.Values{"csrf": {viewer.csr}, "roll": {"yes"}, "confirm": {"yes"}}); code != http.StatusForbidden {
			t.Fatalf("viewer roll: %d", code)
		}
		if _, err := z.AuthenticateIzipay(context.Background(), mc[1], pub2[1]); err != nil {
			t.Fatalf("the viewer's refused roll changed the keys: %v", err)
		}
	})
}

// TestDashboardIntegrationsDisabled: without a secret key the panels
// explain, and their POSTs are refused.
func TestDashboardIntegrationsDisabled(t *testing.T) {
	g := startGatewayWith(t, storetest.Open(t, store.SQLite), false)
	admin := g.newBrowser()
	admin.login(g.a.admin)
	if _, body := admin.get("/dashboard/settings"); !strings.Contains(body, `id="shoplazza-off"`) || !strings.Contains(body, `id="izipay-off"`) ||
		strings.Contains(body, `id="bind-shop"`) {
		t.Fatal("disabled integrations are not explained")
	}
	if code, _ := admin.post("/dashboard/settings/izipay", url.Values{"csrf": {admin.csr}}); code != http.StatusNotFound {
		t.Fatalf("izipay without the service: %d", code)
	}
	if code, _ := admin.post("/dashboard/settings/shoplazza", url.Values{"csrf": {admin.csr}}); code != http.StatusNotFound {
		t.Fatalf("shoplazza without the service: %d", code)
	}
}
