package dashboard_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/api"
	"github.com/kassa-pay/kassa/internal/dashboard"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/internal/processor"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

// gateway is a Kassa gateway with the API, the dashboard and two merchants,
// each with an admin and a viewer.
type gateway struct {
	t    *testing.T
	url  string
	eng  *engine.Engine
	a, b merchantFixture
	iz   *engine.Izipay // nil without integrations
	ntf  *notify.Service
}

type merchantFixture struct {
	creds  *engine.MerchantCredentials
	pr     kassa.Principal
	admin  string // emails; passwords are password(email)
	viewer string
}

func password(email string) string { return "pw-" + email + "-long" }

func startGateway(t *testing.T, db *store.DB) *gateway { return startGatewayWith(t, db, true) }

// startGatewayWith starts a gateway; integrations adds the Shoplazza and
// Izipay services (sealing with a fixed test key), as kassa serve does
// when it has a secret key.
func startGatewayWith(t *testing.T, db *store.DB, integrations bool) *gateway {
	return startGatewayOpts(t, db, gatewayOpts{integrations: integrations})
}

type gatewayOpts struct {
	integrations bool
	// deliver runs the webhook workers (loopback receivers allowed, fast
	// polling), so deliveries really happen during the test.
	deliver bool
}

func startGatewayOpts(t *testing.T, db *store.DB, o gatewayOpts) *gateway {
	t.Helper()
	integrations := o.integrations
	g := &gateway{t: t}
	srv := httptest.NewUnstartedServer(nil)
	g.url = "http://" + srv.Listener.Addr().String()
	sim := processor.NewSimulator(db.SQL(), g.url)
	g.eng = engine.New(db, sim, engine.Config{BaseURL: g.url}, nil)
	mux := http.NewServeMux()
	mux.Handle("/simulator/", sim.Handler())
	mux.Handle("/", api.New(g.eng, nil))
	ncfg := notify.Config{}
	if o.deliver {
		ncfg = notify.Config{Guard: notify.Guard{AllowPrivate: true}, PollInterval: 20 * time.Millisecond, Timeout: 5 * time.Second}
	}
	notifier := notify.New(db, ncfg, nil)
	if o.deliver {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { notifier.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	cfg := dashboard.Config{Notify: notifier}
	g.ntf = notifier
	if integrations {
		key := []byte("0123456789abcdef0123456789abcdef")
		sl, err := engine.NewShoplazza(g.eng, key)
		if err != nil {
			t.Fatal(err)
		}
		z, err := engine.NewIzipay(g.eng, key)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Shoplazza, cfg.Izipay, g.iz = sl, z, z
	}
	dashboard.New(g.eng, cfg, nil).Register(mux)
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)
	g.a = g.merchant("shop-a")
	g.b = g.merchant("shop-b")
	return g
}

func (g *gateway) merchant(name string) merchantFixture {
	ctx := context.Background()
	c, err := g.eng.CreateMerchant(ctx, name, "")
	if err != nil {
		g.t.Fatal(err)
	}
	pr, _ := g.eng.Authenticate(ctx, c.SecretKey)
	m := merchantFixture{creds: c, pr: pr, admin: "admin@" + name + ".example", viewer: "viewer@" + name + ".example"}
	for email, role := range map[string]engine.Role{m.admin: engine.RoleAdmin, m.viewer: engine.RoleViewer} {
		if _, err := g.eng.CreateUser(ctx, c.Merchant.ID, email, password(email), role); err != nil {
			g.t.Fatal(err)
		}
	}
	return m
}

// pay creates and confirms a payment through the API.
func (g *gateway) pay(m merchantFixture, amount int64, order, email string) string {
	g.t.Helper()
	body := `{"amount":` + itoa(amount) + `,"currency":"USD","order_id":"` + order + `","customer":{"email":"` + email + `"},"confirm":true,` +
		`"payment_method":{"card":{"number":"4242424242424242","exp_month":12,"exp_year":2040,"cvc":"123"}}}`
	var p struct{ ID, Status string }
	g.api(m, "POST", "/v1/payments", body, &p)
	if p.Status != "succeeded" {
		g.t.Fatalf("payment %s: %s", p.ID, p.Status)
	}
	return p.ID
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func (g *gateway) api(m merchantFixture, method, path, body string, out any) int {
	g.t.Helper()
	req, _ := http.NewRequest(method, g.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+m.creds.SecretKey)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			g.t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, b)
		}
	}
	return res.StatusCode
}

// browser is a cookie-keeping HTTP client that does not follow redirects.
type browser struct {
	t   *testing.T
	g   *gateway
	c   *http.Client
	csr string // the session's CSRF token, read from the last page
}

func (g *gateway) newBrowser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: g.t, g: g, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

var csrfRE = regexp.MustCompile(`name="(?:login_)?csrf" value="([^"]+)"`)

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	res, err := b.c.Get(b.g.url + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if m := csrfRE.FindSubmatch(body); m != nil {
		b.csr = string(m[1])
	}
	if res.StatusCode == http.StatusSeeOther {
		return res.StatusCode, res.Header.Get("Location")
	}
	return res.StatusCode, string(body)
}

// post submits a form the way a same-origin page does (Sec-Fetch-Site).
func (b *browser) post(path string, form url.Values, headers ...string) (int, string) {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.g.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode == http.StatusSeeOther {
		return res.StatusCode, res.Header.Get("Location")
	}
	return res.StatusCode, string(body)
}

func (b *browser) login(email string) {
	b.t.Helper()
	b.get("/dashboard/login")
	code, loc := b.post("/dashboard/login", url.Values{"email": {email}, "password": {password(email)}, "login_csrf": {b.csr}})
	if code != http.StatusSeeOther || loc != "/dashboard/" {
		b.t.Fatalf("login %s: %d %s", email, code, loc)
	}
	if code, _ := b.get("/dashboard/"); code != 200 {
		b.t.Fatalf("overview after login: %d", code)
	}
}

func TestDashboardAccessRules(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := startGateway(t, db)
		payA := g.pay(g.a, 5000, "order-a", "ann@a.example")
		payB := g.pay(g.b, 7000, "order-b", "bob@b.example")

		// Logged out: pages redirect to the login, actions are refused, no data leaks.
		anon := g.newBrowser()
		for _, p := range []string{"/dashboard/", "/dashboard/payments", "/dashboard/payments/" + payA, "/dashboard/keys", "/dashboard/webhooks"} {
			code, loc := anon.get(p)
			if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/dashboard/login") {
				t.Fatalf("anonymous %s: %d %s", p, code, loc)
			}
		}
		if code, body := anon.post("/dashboard/payments/"+payA+"/refund", url.Values{"amount": {"1.00"}}); code != http.StatusUnauthorized || strings.Contains(body, payA) {
			t.Fatalf("anonymous refund: %d", code)
		}

		// A wrong login form token is refused, a right one with a wrong password too.
		anon.get("/dashboard/login")
		if code, _ := anon.post("/dashboard/login", url.Values{"email": {g.a.admin}, "password": {password(g.a.admin)}, "login_csrf": {"forged"}}); code != http.StatusForbidden {
			t.Fatalf("forged login token: %d", code)
		}

		admin := g.newBrowser()
		admin.login(g.a.admin)
		_, list := admin.get("/dashboard/payments?q=ann@a.example")
		if !strings.Contains(list, payA) || strings.Contains(list, payB) {
			t.Fatal("search by email does not find exactly the merchant's payment")
		}
		// Another merchant's payment is not found, by URL or by search.
		if code, body := admin.get("/dashboard/payments/" + payB); code != http.StatusNotFound || strings.Contains(body, "bob@b.example") {
			t.Fatalf("other merchant's payment: %d", code)
		}
		if _, body := admin.get("/dashboard/payments?q=" + payB); strings.Contains(body, payB+"</a>") {
			t.Fatal("search finds another merchant's payment")
		}
		if code, _ := admin.post("/dashboard/payments/"+payB+"/refund", url.Values{"csrf": {admin.csr}, "amount": {"1.00"}}); code != http.StatusNotFound {
			t.Fatalf("refund of another merchant's payment: %d", code)
		}

		// CSRF: a POST without the token, or with another's, is refused and changes nothing.
		if code, _ := admin.post("/dashboard/payments/"+payA+"/refund", url.Values{"amount": {"1.00"}}); code != http.StatusForbidden {
			t.Fatalf("refund without CSRF token: %d", code)
		}
		if code, _ := admin.post("/dashboard/payments/"+payA+"/refund", url.Values{"csrf": {"x" + admin.csr}, "amount": {"1.00"}}); code != http.StatusForbidden {
			t.Fatalf("refund with wrong CSRF token: %d", code)
		}
		// A cross-site request is refused even with the token.
		if code, _ := admin.post("/dashboard/payments/"+payA+"/refund", url.Values{"csrf": {admin.csr}, "amount": {"1.00"}}, "Sec-Fetch-Site", "cross-site"); code != http.StatusForbidden {
			t.Fatalf("cross-site refund: %d", code)
		}
		var refunds struct{ Data []any }
		g.api(g.a, "GET", "/v1/refunds?payment="+payA, "", &refunds)
		if len(refunds.Data) != 0 {
			t.Fatalf("refused requests refunded: %v", refunds.Data)
		}

		// The admin refunds part; the API sees it.
		if code, loc := admin.post("/dashboard/payments/"+payA+"/refund", url.Values{"csrf": {admin.csr}, "amount": {"12.34"}}); code != http.StatusSeeOther || !strings.Contains(loc, "done=refunded") {
			t.Fatalf("refund: %d %s", code, loc)
		}
		var p struct {
			AmountRefunded int64 `json:"amount_refunded"`
		}
		g.api(g.a, "GET", "/v1/payments/"+payA, "", &p)
		if p.AmountRefunded != 1234 {
			t.Fatalf("amount_refunded %d", p.AmountRefunded)
		}
		// More than is left: refused with the engine's message.
		if code, body := admin.post("/dashboard/payments/"+payA+"/refund", url.Values{"csrf": {admin.csr}, "amount": {"100.00"}}); code != http.StatusUnprocessableEntity || !strings.Contains(body, "exceeds") {
			t.Fatalf("over-refund: %d", code)
		}

		// A viewer sees but cannot act, and sees no secrets.
		viewer := g.newBrowser()
		viewer.login(g.a.viewer)
		if _, body := viewer.get("/dashboard/payments/" + payA); !strings.Contains(body, "12.34 USD") || strings.Contains(body, `id="refund"`) {
			t.Fatal("viewer's payment page")
		}
		if code, _ := viewer.post("/dashboard/payments/"+payA+"/refund", url.Values{"csrf": {viewer.csr}, "amount": {"1.00"}}); code != http.StatusForbidden {
			t.Fatalf("viewer refund: %d", code)
		}
		if code, _ := viewer.post("/dashboard/keys/roll", url.Values{"csrf": {viewer.csr}, "confirm": {"yes"}}); code != http.StatusForbidden {
			t.Fatalf("viewer key roll: %d", code)
		}
		if _, body := viewer.get("/dashboard/settings"); strings.Contains(body, "rss_") {
			t.Fatal("viewer sees the result signing secret")
		}
		g.api(g.a, "GET", "/v1/payments/"+payA, "", &p)
		if p.AmountRefunded != 1234 {
			t.Fatalf("viewer changed the payment: %d", p.AmountRefunded)
		}

		// Roll the secret key from the dashboard: the old key stops working.
		code, body := admin.post("/dashboard/keys/roll", url.Values{"csrf": {admin.csr}, "confirm": {"yes"}})
		newKey := regexp.MustCompile(`id="new-key">(sk_test_[0-9a-z]+)<`).FindStringSubmatch(body)
		if code != 200 || newKey == nil {
			t.Fatalf("roll: %d", code)
		}
		if code := g.api(g.a, "GET", "/v1/payments/"+payA, "", nil); code != http.StatusUnauthorized {
			t.Fatalf("old key after roll: %d", code)
		}
		g.a.creds.SecretKey = newKey[1]
		if code := g.api(g.a, "GET", "/v1/payments/"+payA, "", nil); code != 200 {
			t.Fatalf("new key: %d", code)
		}

		// Logout ends the session on the server: the old cookie is dead.
		old := admin.c.Jar.Cookies(mustURL(g.url))
		if code, _ := admin.post("/dashboard/logout", url.Values{"csrf": {admin.csr}}); code != http.StatusSeeOther {
			t.Fatalf("logout: %d", code)
		}
		replay := g.newBrowser()
		replay.c.Jar.SetCookies(mustURL(g.url), old)
		if code, _ := replay.get("/dashboard/payments/" + payA); code != http.StatusSeeOther {
			t.Fatalf("old session after logout: %d", code)
		}

		// Lockout through the form.
		locked := g.newBrowser()
		var last string
		for i := 0; i < engine.MaxLoginFailures; i++ {
			locked.get("/dashboard/login")
			_, last = locked.post("/dashboard/login", url.Values{"email": {g.b.admin}, "password": {"wrong password"}, "login_csrf": {locked.csr}})
		}
		if !strings.Contains(last, "locked") {
			t.Fatal("no lockout message after repeated failures")
		}
		locked.get("/dashboard/login")
		if code, _ := locked.post("/dashboard/login", url.Values{"email": {g.b.admin}, "password": {password(g.b.admin)}, "login_csrf": {locked.csr}}); code != http.StatusUnauthorized {
			t.Fatalf("locked account logged in: %d", code)
		}
	})
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestDashboardPagesRender(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	g := startGateway(t, db)
	id := g.pay(g.a, 2500, "order-1", "c@a.example")
	admin := g.newBrowser()
	admin.login(g.a.admin)
	for _, p := range []string{"/dashboard/", "/dashboard/payments", "/dashboard/payments/" + id, "/dashboard/refunds",
		"/dashboard/webhooks", "/dashboard/keys", "/dashboard/settings", "/dashboard/team",
		"/dashboard/payments?status=succeeded&from=2020-01-01&to=2099-01-01&currency=usd&min=1&max=100"} {
		if code, body := admin.get(p); code != 200 || !strings.Contains(body, "</html>") {
			t.Fatalf("%s: %d", p, code)
		}
	}
	if code, body := admin.get("/dashboard/payments?min=1"); code != http.StatusUnprocessableEntity || !strings.Contains(body, "choose a currency") {
		t.Fatalf("amount filter without currency: %d", code)
	}
	// The overview shows today's figures.
	if _, body := admin.get("/dashboard/"); !strings.Contains(body, "25.00 USD") || !strings.Contains(body, "<svg") {
		t.Fatal("overview lacks today's volume or its chart")
	}
	// Invitation: the link lets the colleague choose a password and log in.
	_, body := admin.post("/dashboard/team/invite", url.Values{"csrf": {admin.csr}, "email": {"new@a.example"}, "role": {"viewer"}})
	m := regexp.MustCompile(`id="invite-link">[^<]*(/dashboard/invite/inv_[0-9a-z]+)<`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no invitation link")
	}
	colleague := g.newBrowser()
	colleague.get(m[1])
	if code, _ := colleague.post(m[1], url.Values{"login_csrf": {colleague.csr}, "password": {password("new@a.example")}, "password2": {password("new@a.example")}}); code != http.StatusSeeOther {
		t.Fatalf("accept invitation: %d", code)
	}
	colleague.login("new@a.example")
	// Webhook endpoint management goes through the notify service.
	code, body := admin.post("/dashboard/webhooks", url.Values{"csrf": {admin.csr}, "url": {"https://hooks.example/kassa"}, "all": {"yes"}})
	if code != 200 || !strings.Contains(body, "whsec_") {
		t.Fatalf("add endpoint: %d", code)
	}
	// The test/live switch: live mode shows no test payment.
	admin.post("/dashboard/mode", url.Values{"csrf": {admin.csr}, "mode": {"live"}})
	if _, body := admin.get("/dashboard/payments"); strings.Contains(body, id) || !strings.Contains(body, "Live data") {
		t.Fatal("live mode shows test data")
	}
}
