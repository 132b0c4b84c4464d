package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/store/storetest"
)

// startServe runs `kassa serve` on dsn until stop is called and returns
// what it printed up to "Kassa listening".
func startServe(t *testing.T, dsn string) (base, printed string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- serve(ctx, []string{"--addr", "127.0.0.1:0", "--db", dsn}, out, io.Discard) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := out.String()
		if m := listeningRE.FindStringSubmatch(s); m != nil {
			return m[1], s, stop
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

// loginAs logs into the dashboard at base; it returns the client (nil if
// the login was refused).
func loginAs(t *testing.T, base, email, password string) *dashboardClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	d := &dashboardClient{t: t, base: base, c: &http.Client{Jar: jar}}
	d.do("GET", "/dashboard/login", nil)
	code, body := d.do("POST", "/dashboard/login", url.Values{"email": {email}, "password": {password}, "login_csrf": {d.csrf}})
	if code != 200 || !strings.Contains(body, `id="logout"`) {
		return nil
	}
	return d
}

// TestUserCreateCommand: the first start prints a dashboard login once (not
// again on the next start); `kassa user create` adds an admin and a viewer
// who log in, the viewer cannot change anything; bad input is refused and
// creates nothing. On SQLite and PostgreSQL.
func TestUserCreateCommand(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			dsn := storetest.DSN(t, d)
			base, printed, stop := startServe(t, dsn)
			merchantID := regexp.MustCompile(`merchant:\s+(mer_\S+)`).FindStringSubmatch(printed)
			pw := passwordRE.FindStringSubmatch(printed)
			if merchantID == nil || pw == nil || !strings.Contains(printed, "login:           admin@kassa.test") {
				t.Fatalf("first start did not print the merchant and its dashboard login:\n%s", printed)
			}
			if loginAs(t, base, "admin@kassa.test", pw[1]) == nil {
				t.Fatal("the printed first-start login does not work")
			}

			cli := func(args ...string) (string, error) {
				var out, errOut bytes.Buffer
				err := run(context.Background(), append(args, "--db", dsn), &out, &errOut)
				return out.String() + errOut.String(), err
			}
			out, err := cli("user", "create", "--merchant", merchantID[1], "--email", "Ops@Shop.example", "--password", "ops-password-1", "--role", "admin", "--json")
			var created struct{ ID, Email, Role, Merchant string }
			if err != nil || json.Unmarshal([]byte(out), &created) != nil || created.Email != "ops@shop.example" || created.Role != "admin" || created.Merchant != merchantID[1] {
				t.Fatalf("user create admin: %v %s", err, out)
			}
			t.Setenv("KASSA_USER_PASSWORD", "viewer-password-1")
			if out, err := cli("user", "create", "--merchant", merchantID[1], "--email", "viewer@shop.example", "--role", "viewer"); err != nil || !strings.Contains(out, "viewer@shop.example (viewer") {
				t.Fatalf("user create viewer (password from the environment): %v %s", err, out)
			}
			t.Setenv("KASSA_USER_PASSWORD", "")
			for _, bad := range []struct {
				args []string
				want string
			}{
				{[]string{"--email", "x@shop.example", "--password", "long-enough-1"}, "--role"}, // no default role
				{[]string{"--email", "x@shop.example", "--password", "long-enough-1", "--role", "owner"}, "role must be admin or viewer"},
				{[]string{"--email", "x@shop.example", "--password", "short", "--role", "viewer"}, "at least 10 characters"},
				{[]string{"--email", "not-an-email", "--password", "long-enough-1", "--role", "viewer"}, "not an email address"},
				{[]string{"--email", "OPS@shop.example", "--password", "long-enough-1", "--role", "viewer"}, "already exists"},
			} {
				if _, err := cli(append([]string{"user", "create", "--merchant", merchantID[1]}, bad.args...)...); err == nil || !strings.Contains(err.Error(), bad.want) {
					t.Fatalf("user create %v: %v, want %q", bad.args, err, bad.want)
				}
			}
			if _, err := cli("user", "create", "--merchant", "mer_nosuchmerchant", "--email", "x@shop.example", "--password", "long-enough-1", "--role", "viewer"); err == nil || !strings.Contains(err.Error(), "no such merchant") {
				t.Fatalf("user create for an unknown merchant: %v", err)
			}

			admin := loginAs(t, base, "ops@shop.example", "ops-password-1")
			if admin == nil {
				t.Fatal("the created admin cannot log in")
			}
			if code, _ := admin.do("POST", "/dashboard/team/invite", url.Values{"csrf": {admin.csrf}, "email": {"colleague@shop.example"}, "role": {"viewer"}}); code != 200 {
				t.Fatalf("admin invites: %d", code)
			}
			viewer := loginAs(t, base, "viewer@shop.example", "viewer-password-1")
			if viewer == nil {
				t.Fatal("the created viewer cannot log in")
			}
			if code, _ := viewer.do("POST", "/dashboard/team/invite", url.Values{"csrf": {viewer.csrf}, "email": {"other@shop.example"}, "role": {"admin"}}); code != http.StatusForbidden {
				t.Fatalf("viewer invites: %d", code)
			}
			if loginAs(t, base, "x@shop.example", "long-enough-1") != nil {
				t.Fatal("a refused user create left a user behind")
			}

			// The next start finds the merchant and prints no password again.
			stop()
			_, printed, _ = startServe(t, dsn)
			if strings.Contains(printed, "password:") || strings.Contains(printed, "secret key:") {
				t.Fatalf("second start printed credentials again:\n%s", printed)
			}
		})
	}
}
