package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

// lockedBuffer is an io.Writer the test reads while serve writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var (
	listeningRE = regexp.MustCompile(`Kassa listening on (http://\S+)`)
	passwordRE  = regexp.MustCompile(`password:\s+(\S+)`)
	csrfFieldRE = regexp.MustCompile(`name="(?:login_)?csrf" value="([^"]+)"`)
)

// serveForTest runs `kassa serve` in-process on a free port until the test
// ends and returns its URL and the first-start admin's password.
func serveForTest(t *testing.T, dsn string) (base, password string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- serve(ctx, []string{"--addr", "127.0.0.1:0", "--db", dsn}, out, io.Discard) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := out.String()
		if m := listeningRE.FindStringSubmatch(s); m != nil {
			p := passwordRE.FindStringSubmatch(s)
			if p == nil {
				t.Fatalf("serve printed no admin password:\n%s", s)
			}
			return m[1], p[1]
		}
		select {
		case err := <-done:
			t.Fatalf("serve ended: %v\n%s", err, s)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start:\n%s", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dashboardClient logs into the dashboard of base as the first-start admin.
type dashboardClient struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

func (d *dashboardClient) do(method, path string, form url.Values) (int, string) {
	d.t.Helper()
	req, _ := http.NewRequest(method, d.base+path, strings.NewReader(form.Encode()))
	if method == "POST" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	res, err := d.c.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if m := csrfFieldRE.FindSubmatch(b); m != nil {
		d.csrf = string(m[1])
	}
	return res.StatusCode, string(b)
}

func loginDashboard(t *testing.T, base, password string) *dashboardClient {
	jar, _ := cookiejar.New(nil)
	d := &dashboardClient{t: t, base: base, c: &http.Client{Jar: jar}}
	d.do("GET", "/dashboard/login", nil)
	if code, _ := d.do("POST", "/dashboard/login", url.Values{"email": {"admin@kassa.test"}, "password": {password}, "login_csrf": {d.csrf}}); code != 200 {
		t.Fatalf("login: %d", code)
	}
	return d
}

// TestServeDashboardWiring: the dashboard of `kassa serve` manages webhook
// endpoints through serve's notifier, so KASSA_WEBHOOK_ALLOW_PRIVATE applies
// to it as it does to the API, and its settings show the Shoplazza and
// Izipay panels when the gateway has a secret key.
func TestServeDashboardWiring(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			dsn := storetest.DSN(t, d)
			if d == store.Postgres {
				t.Setenv("KASSA_SECRET_KEY", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
			}
			t.Setenv("KASSA_WEBHOOK_ALLOW_PRIVATE", "true")
			base, password := serveForTest(t, dsn)
			admin := loginDashboard(t, base, password)
			code, body := admin.do("POST", "/dashboard/webhooks", url.Values{"csrf": {admin.csrf}, "url": {"http://127.0.0.1:9/hooks"}, "all": {"yes"}})
			if code != 200 || !strings.Contains(body, "whsec_") {
				t.Fatalf("private endpoint with KASSA_WEBHOOK_ALLOW_PRIVATE=true: %d", code)
			}
			_, body = admin.do("GET", "/dashboard/settings", nil)
			if !strings.Contains(body, `id="bind-shop"`) || !strings.Contains(body, `id="izipay-create"`) {
				t.Fatal("settings lack the Shoplazza or Izipay panel")
			}
		})
	}
}

// TestServeDashboardGuard: without the operator's permission a loopback
// endpoint is refused in the dashboard too.
func TestServeDashboardGuard(t *testing.T) {
	t.Setenv("KASSA_WEBHOOK_ALLOW_PRIVATE", "")
	base, password := serveForTest(t, storetest.DSN(t, store.SQLite))
	admin := loginDashboard(t, base, password)
	if code, body := admin.do("POST", "/dashboard/webhooks", url.Values{"csrf": {admin.csrf}, "url": {"http://127.0.0.1:9/hooks"}, "all": {"yes"}}); code == 200 || strings.Contains(body, "whsec_") {
		t.Fatalf("loopback endpoint accepted without KASSA_WEBHOOK_ALLOW_PRIVATE: %d", code)
	}
}
