package dashboard_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/kassa-pay/kassa/internal/dashboard"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/processor"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

// cookieGateway serves only the dashboard with the given public base URL;
// tls serves it over TLS (httptest's certificate).
func cookieGateway(t *testing.T, baseURL string, useTLS bool) (*httptest.Server, *http.Client) {
	t.Helper()
	db := storetest.Open(t, store.SQLite)
	eng := engine.New(db, processor.NewSimulator(db.SQL(), ""), engine.Config{BaseURL: baseURL}, nil)
	ctx := context.Background()
	c, err := eng.CreateMerchant(ctx, "cookie shop", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.CreateUser(ctx, c.Merchant.ID, "admin@cookie.example", password("admin@cookie.example"), engine.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	dashboard.New(eng, dashboard.Config{}, nil).Register(mux)
	var srv *httptest.Server
	if useTLS {
		srv = httptest.NewTLSServer(mux)
	} else {
		srv = httptest.NewServer(mux)
	}
	t.Cleanup(srv.Close)
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return srv, client
}

// loginRaw logs in by hand (no cookie jar: Go's jar, like a browser, would
// not send a Secure cookie over plain HTTP) and returns the Set-Cookie
// headers of the login page and of the login answer.
func loginRaw(t *testing.T, srv *httptest.Server, c *http.Client, headers map[string]string) (page, answer []*http.Cookie, status int) {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+"/dashboard/login", nil)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	page = res.Cookies()
	m := csrfRE.FindSubmatch(body)
	if m == nil || len(page) != 1 {
		t.Fatalf("login page: %d cookies %v", len(page), page)
	}
	form := url.Values{"email": {"admin@cookie.example"}, "password": {password("admin@cookie.example")}, "login_csrf": {string(m[1])}}
	req, _ = http.NewRequest("POST", srv.URL+"/dashboard/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: page[0].Name, Value: page[0].Value})
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return page, res.Cookies(), res.StatusCode
}

func sessionCookieOf(t *testing.T, cs []*http.Cookie) *http.Cookie {
	t.Helper()
	for _, c := range cs {
		if strings.HasSuffix(c.Name, "kassa_session") && c.Value != "" {
			return c
		}
	}
	t.Fatalf("no session cookie in %v", cs)
	return nil
}

// TestDashboardCookieSecurity: cookies are HttpOnly and SameSite=Lax always;
// Secure with the __Host- prefix when the base URL is https (a TLS proxy in
// front, as the operator declares with KASSA_BASE_URL) or the request came
// over TLS; a client's X-Forwarded-Proto never turns it on or off.
func TestDashboardCookieSecurity(t *testing.T) {
	for _, tc := range []struct {
		name    string
		baseURL string
		tls     bool
		headers map[string]string
		secure  bool
	}{
		{"plain http", "http://127.0.0.1", false, nil, false},
		{"X-Forwarded-Proto is not trusted", "http://127.0.0.1", false, map[string]string{"X-Forwarded-Proto": "https"}, false},
		{"https base URL behind a TLS proxy", "https://pay.example", false, nil, true},
		{"https base URL, proxy says http", "https://pay.example", false, map[string]string{"X-Forwarded-Proto": "http"}, true},
		{"TLS to the gateway itself", "http://127.0.0.1", true, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, c := cookieGateway(t, tc.baseURL, tc.tls)
			page, answer, status := loginRaw(t, srv, c, tc.headers)
			if status != http.StatusSeeOther {
				t.Fatalf("login: %d", status)
			}
			for _, ck := range append(page, sessionCookieOf(t, answer)) {
				prefixed := strings.HasPrefix(ck.Name, "__Host-")
				if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" ||
					ck.Secure != tc.secure || prefixed != tc.secure {
					t.Fatalf("cookie %s: HttpOnly %v SameSite %v Path %q Domain %q Secure %v; want Secure %v",
						ck.Name, ck.HttpOnly, ck.SameSite, ck.Path, ck.Domain, ck.Secure, tc.secure)
				}
			}
			// The session is read from the cookie under its own name only.
			s := sessionCookieOf(t, answer)
			other := "__Host-" + s.Name
			if tc.secure {
				other = strings.TrimPrefix(s.Name, "__Host-")
			}
			for name, want := range map[string]int{s.Name: http.StatusOK, other: http.StatusSeeOther} {
				req, _ := http.NewRequest("GET", srv.URL+"/dashboard/", nil)
				req.AddCookie(&http.Cookie{Name: name, Value: s.Value})
				res, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != want {
					t.Fatalf("overview with cookie %s: %d, want %d", name, res.StatusCode, want)
				}
			}
		})
	}
}

// TestDashboardProxyOrigin: behind a proxy that rewrites Host, a browser
// that sends Origin but no Sec-Fetch-Site still logs in when Origin is the
// base URL's; another origin is refused.
func TestDashboardProxyOrigin(t *testing.T) {
	srv, c := cookieGateway(t, "https://pay.example", false)
	if _, _, status := loginRaw(t, srv, c, map[string]string{"Origin": "https://pay.example"}); status != http.StatusSeeOther {
		t.Fatalf("login from the base URL's origin: %d", status)
	}
	if _, _, status := loginRaw(t, srv, c, map[string]string{"Origin": "https://evil.example"}); status != http.StatusForbidden {
		t.Fatalf("login from another origin: %d", status)
	}
}
