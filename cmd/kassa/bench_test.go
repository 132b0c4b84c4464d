package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/api"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/processor"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

// newTestGateway serves the merchant API over db on a loopback httptest
// server and returns its URL and a merchant's secret key.
func newTestGateway(t testing.TB, db *store.DB) (string, string) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	// As in "kassa serve": the simulator writes through the store, so on
	// SQLite its inserts join the group commit.
	eng := engine.New(db, processor.NewSimulator(db.Shared(), ""), engine.Config{}, log)
	creds, err := eng.CreateMerchant(context.Background(), "Bench merchant", "")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(eng, log))
	t.Cleanup(srv.Close)
	return srv.URL, creds.SecretKey
}

// TestBenchAgainstRunningServer runs "kassa bench --url" against a gateway
// in this process and checks its counts against the database.
func TestBenchAgainstRunningServer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		url, key := newTestGateway(t, db)
		var out, errOut bytes.Buffer
		err := bench(context.Background(), []string{"--url", url, "--key", key, "--pid", strconv.Itoa(os.Getpid()),
			"--concurrency", "4", "--requests", "60", "--duration", "30s", "--warmup", "0", "--json"}, &out, &errOut)
		if err != nil {
			t.Fatalf("bench: %v\n%s", err, errOut.String())
		}
		var res BenchResult
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatalf("bench --json printed %q: %v", out.String(), err)
		}
		if res.Requests != 60 || res.Succeeded != 60 || len(res.Errors) != 0 {
			t.Errorf("requests %d, succeeded %d, errors %v; want 60, 60, none", res.Requests, res.Succeeded, res.Errors)
		}
		if res.PaymentsPerSecond <= 0 || res.LatencyMS.P50 <= 0 || res.LatencyMS.P50 > res.LatencyMS.P99 || res.LatencyMS.P99 > res.LatencyMS.Max {
			t.Errorf("implausible figures: %.1f payments/s, latency %+v", res.PaymentsPerSecond, res.LatencyMS)
		}
		if res.ServerPeakRSSBytes <= 0 || res.ServerPID != os.Getpid() {
			t.Errorf("server peak memory %d bytes of pid %d; want this process's VmHWM", res.ServerPeakRSSBytes, res.ServerPID)
		}
		var n int
		if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM payments WHERE status = 'succeeded' AND order_id LIKE 'bench-%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 60 {
			t.Errorf("%d succeeded bench payments in the database, want 60", n)
		}

		// A wrong key fails at once instead of producing a run of 401s.
		err = bench(context.Background(), []string{"--url", url, "--key", "sk_test_wrong", "--requests", "5", "--warmup", "0"}, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("bench with a wrong key: %v, want a 401 error", err)
		}
	})
}

// TestBenchRefusesNonLoopback: bench is a load generator; it must never
// send load anywhere but this machine.
func TestBenchRefusesNonLoopback(t *testing.T) {
	for _, u := range []string{"http://10.0.0.1:8080", "http://192.168.1.10", "https://example.com", "http://[2001:db8::1]:80",
		"http://0.0.0.0:8080", "ftp://127.0.0.1"} {
		var out, errOut bytes.Buffer
		err := bench(context.Background(), []string{"--url", u, "--key", "sk_test_x", "--requests", "1", "--warmup", "0"}, &out, &errOut)
		if err == nil {
			t.Errorf("bench --url %s: no error; want a refusal", u)
		}
	}
	for _, u := range []string{"http://127.0.0.1:8080", "http://127.9.9.9", "http://[::1]:8080", "http://localhost:1"} {
		if err := checkLoopbackURL(context.Background(), u); err != nil {
			t.Errorf("checkLoopbackURL(%s): %v", u, err)
		}
	}
	var out, errOut bytes.Buffer
	err := bench(context.Background(), []string{"--db", "postgres://postgres@10.1.2.3:5432/test", "--requests", "1"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("bench --db on a remote host: %v; want a loopback refusal", err)
	}
}

func TestBenchFlagBounds(t *testing.T) {
	for _, args := range [][]string{
		{"--duration", "2h"}, {"--duration", "0s"}, {"--concurrency", "0"}, {"--requests", "-1"},
		{"--requests", "100000000"}, {"--warmup", "1h"}, {"--url", "http://127.0.0.1:1"}, {"--key", "sk_test_x"},
	} {
		var out, errOut bytes.Buffer
		if err := bench(context.Background(), args, &out, &errOut); err == nil {
			t.Errorf("bench %v: no error", args)
		}
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.9, 90 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := percentile(d, c.p); got != c.want {
			t.Errorf("percentile(1..100ms, %v) = %v, want %v", c.p, got, c.want)
		}
	}
	if got := percentile(d[:1], 0.99); got != time.Millisecond {
		t.Errorf("percentile of one = %v", got)
	}
}

func TestReadVmHWM(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc on this system")
	}
	n, err := readVmHWM(os.Getpid())
	if err != nil || n < 1<<20 {
		t.Fatalf("readVmHWM(self) = %d, %v; want at least 1 MiB", n, err)
	}
}

// TestBenchSpawnsServer runs the built binary's "kassa bench" in its
// default mode: it spawns "kassa serve" over a fresh database, loads it,
// stops it and removes what it created.
func TestBenchSpawnsServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and spawns the kassa binary; skipped with -short")
	}
	bin := kassaBinary(t)
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			args := []string{"bench", "--concurrency", "4", "--requests", "40", "--duration", "30s", "--warmup", "200ms", "--json"}
			if d == store.Postgres {
				storetest.DSN(t, d) // skips, or fails under CI=true, without a server
				args = append(args, "--db", storetest.PostgresURL())
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var out, errOut bytes.Buffer
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Stdout, cmd.Stderr = &out, &errOut
			if err := cmd.Run(); err != nil {
				t.Fatalf("kassa bench: %v\n%s", err, errOut.String())
			}
			var res BenchResult
			if err := json.Unmarshal(out.Bytes(), &res); err != nil {
				t.Fatalf("kassa bench --json printed %q: %v", out.String(), err)
			}
			if res.Server != "spawned" || res.Database != string(d) || res.Requests != 40 || res.Succeeded != 40 || len(res.Errors) != 0 {
				t.Errorf("result %+v; want 40 of 40 succeeded against a spawned %s server", res, d)
			}
			if res.ServerPeakRSSBytes < 1<<20 {
				t.Errorf("server peak memory %d bytes; want the child's VmHWM", res.ServerPeakRSSBytes)
			}
			// Everything the run created is gone: the temporary directory,
			// or the PostgreSQL schema.
			if d == store.SQLite {
				m := regexp.MustCompile(`over sqlite (\S+)`).FindStringSubmatch(errOut.String())
				if m == nil {
					t.Fatalf("no database path in %q", errOut.String())
				}
				if _, err := os.Stat(filepath.Dir(m[1])); !os.IsNotExist(err) {
					t.Errorf("bench left %s behind (%v)", filepath.Dir(m[1]), err)
				}
			} else {
				m := regexp.MustCompile(`search_path=(kassa_bench_[a-z0-9]+)`).FindStringSubmatch(errOut.String())
				if m == nil {
					t.Fatalf("no schema in %q", errOut.String())
				}
				db := openCheckDB(t, d, storetest.PostgresURL())
				defer db.Close()
				var n int
				if err := db.QueryRow(
					`SELECT COUNT(*) FROM pg_namespace WHERE nspname = $1`, m[1]).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if n != 0 {
					t.Errorf("bench left schema %s behind", m[1])
				}
			}
		})
	}
}

// BenchmarkCreateConfirm measures create+confirm payments through the real
// HTTP API with the server in this process, so that
//
//	go test -run '^$' -bench CreateConfirm -cpuprofile cpu.out ./cmd/kassa
//
// profiles server and client together (see docs/performance.md).
func BenchmarkCreateConfirm(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(string(d), func(b *testing.B) {
			url, key := newTestGateway(b, storetest.Open(b, d))
			c := newPaymentClient(url, key, 64, 30*time.Second)
			defer c.http.CloseIdleConnections()
			var n atomic.Int64
			b.SetParallelism(16) // 16 × GOMAXPROCS clients
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r, err := c.pay(context.Background(), "bench-"+strconv.FormatInt(n.Add(1), 10))
					if err != nil || !r.acknowledged() {
						b.Errorf("payment: %v %s", err, r.outcome())
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "payments/s")
		})
	}
}
