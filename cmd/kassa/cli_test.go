package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

// runServe runs `kassa <args>` (serve) in-process until stop is called and
// returns the gateway's URL and everything serve printed on stdout until it
// listened.
func runServe(t *testing.T, args ...string) (base, stdout string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, out, io.Discard) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
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
			stopped = true
			t.Fatalf("serve ended: %v\n%s", err, s)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start:\n%s", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// call makes one API request with HTTP Basic auth (curl -u sk:).
func call(t *testing.T, method, u, key, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	req.SetBasicAuth(key, "")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

var secretKeyRE = regexp.MustCompile(`secret key:\s+(sk_test_\S+)`)

// TestServeConfiguration: serve configured by environment only
// (KASSA_ADDR, KASSA_DATABASE_URL — a postgres:// URL selects PostgreSQL —
// KASSA_BASE_URL, KASSA_CHECKOUT_TTL) creates a test merchant on first start
// and prints its keys and dashboard login once; a restart on the same
// database prints none and the keys still work.
func TestServeConfiguration(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			dsn := storetest.DSN(t, d)
			if d == store.Postgres {
				t.Setenv("KASSA_SECRET_KEY", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
			}
			t.Setenv("KASSA_ADDR", "127.0.0.1:0")
			t.Setenv("KASSA_DATABASE_URL", dsn)
			t.Setenv("KASSA_BASE_URL", "https://pay.example.test")
			t.Setenv("KASSA_CHECKOUT_TTL", "1ms")

			base, out, stop := runServe(t, "serve")
			for _, want := range []string{"secret key:", "publishable key:      pk_test_", "dashboard:", "login:", "password:"} {
				if !strings.Contains(strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(want), " ")) {
					t.Errorf("first start does not print %q:\n%s", want, out)
				}
			}
			m := secretKeyRE.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no secret key printed:\n%s", out)
			}
			sk := m[1]
			code, body := call(t, "POST", base+"/v1/payments", sk, `{"amount":500,"currency":"USD"}`)
			var p struct {
				CheckoutURL string `json:"checkout_url"`
			}
			json.Unmarshal([]byte(body), &p)
			if code != 201 || !strings.HasPrefix(p.CheckoutURL, "https://pay.example.test/pay/") {
				t.Fatalf("create with the printed key: %d %s (want checkout_url on KASSA_BASE_URL)", code, body)
			}
			// KASSA_CHECKOUT_TTL=1ms: the form already says it expired.
			cu, _ := url.Parse(p.CheckoutURL)
			res, err := http.Get(base + cu.Path)
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if !strings.Contains(string(page), `data-state="expired"`) {
				t.Errorf("form past KASSA_CHECKOUT_TTL is not expired: %.400s", page)
			}
			stop()

			// The data went to the database the URL names.
			db, err := store.Open(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			var n int
			if err := db.SQL().QueryRow(`SELECT count(*) FROM payments`).Scan(&n); err != nil || n != 1 || db.Dialect() != d {
				t.Errorf("%s database has %d payments (%v), dialect %s", d, n, err, db.Dialect())
			}
			db.Close()

			// Flags override the environment; a restart prints no keys.
			base, out, _ = runServe(t, "serve", "--addr", "127.0.0.1:0", "--db", dsn, "--base-url", "http://checkout.example.test", "--checkout-ttl", "15m")
			if strings.Contains(out, "sk_test_") || strings.Contains(out, "password:") {
				t.Errorf("restart printed the keys again:\n%s", out)
			}
			code, body = call(t, "POST", base+"/v1/payments", sk, `{"amount":700,"currency":"USD"}`)
			json.Unmarshal([]byte(body), &p)
			if code != 201 || !strings.HasPrefix(p.CheckoutURL, "http://checkout.example.test/pay/") {
				t.Fatalf("after restart: %d %s", code, body)
			}
			cu, _ = url.Parse(p.CheckoutURL)
			res, err = http.Get(base + cu.Path)
			if err != nil {
				t.Fatal(err)
			}
			page, _ = io.ReadAll(res.Body)
			res.Body.Close()
			if !strings.Contains(string(page), `data-state="form"`) {
				t.Errorf("form within --checkout-ttl 15m is not open: %.400s", page)
			}
			if code, _ := call(t, "GET", base+"/v1/payments", sk+"x", ""); code != 401 {
				t.Errorf("wrong key: %d, want 401", code)
			}
		})
	}
	t.Run("bad checkout-ttl", func(t *testing.T) {
		err := run(context.Background(), []string{"serve", "--db", storetest.DSN(t, store.SQLite), "--checkout-ttl", "0s"}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "checkout-ttl") {
			t.Errorf("--checkout-ttl 0s: %v", err)
		}
		t.Setenv("KASSA_CHECKOUT_TTL", "fifteen minutes")
		err = run(context.Background(), []string{"serve", "--db", storetest.DSN(t, store.SQLite)}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "KASSA_CHECKOUT_TTL") {
			t.Errorf("KASSA_CHECKOUT_TTL=fifteen minutes: %v", err)
		}
	})
	// A typo in an adapter's setting stops the start: it must never leave a
	// payments app silently switched off.
	for name, value := range map[string]string{"KASSA_SHOPLAZZA_SIGNATURE": "client_secret+raw_body+rot13", "KASSA_IZIPAY_IPN_RETRIES": "often"} {
		t.Run("bad "+name, func(t *testing.T) {
			t.Setenv(name, value)
			err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--db", storetest.DSN(t, store.SQLite)}, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%s=%s: serve returned %v, want an error naming the variable", name, value, err)
			}
		})
	}
}

// TestMigrateAndMerchantCreate: `kassa migrate` and `kassa merchant create
// --json` on both databases, by flag and by KASSA_DATABASE_URL.
func TestMigrateAndMerchantCreate(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			dsn := storetest.DSN(t, d)
			ctx := context.Background()
			for range 2 { // idempotent
				var out bytes.Buffer
				if err := run(ctx, []string{"migrate", "--db", dsn}, &out, io.Discard); err != nil || !strings.Contains(out.String(), "migrations applied") {
					t.Fatalf("kassa migrate: %v %q", err, out.String())
				}
			}
			db, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			var n int
			if err := db.SQL().QueryRow(`SELECT count(*) FROM merchants`).Scan(&n); err != nil || n != 0 {
				t.Errorf("after migrate: merchants table %d rows, %v", n, err)
			}
			defer db.Close()

			t.Setenv("KASSA_DATABASE_URL", dsn)
			var out bytes.Buffer
			if err := run(ctx, []string{"merchant", "create", "--name", "Shop", "--email", "ops@shop.example", "--json"}, &out, io.Discard); err != nil {
				t.Fatal(err)
			}
			var creds map[string]string
			if err := json.Unmarshal(out.Bytes(), &creds); err != nil || len(creds) != 3 ||
				!strings.HasPrefix(creds["id"], "mer_") || !strings.HasPrefix(creds["secret_key"], "sk_test_") || !strings.HasPrefix(creds["publishable_key"], "pk_test_") {
				t.Fatalf("merchant create --json printed %q (%v)", out.String(), err)
			}
			if err := db.SQL().QueryRow(`SELECT count(*) FROM merchants WHERE id = $1`, creds["id"]).Scan(&n); err != nil || n != 1 {
				t.Errorf("merchant %s not in the %s database: %d, %v", creds["id"], d, n, err)
			}
			if err := run(ctx, []string{"merchant", "create", "--json"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "name") {
				t.Errorf("merchant create without --name: %v", err)
			}
		})
	}
}
