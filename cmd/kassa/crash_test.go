package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

// TestCrashSafety kills the gateway with SIGKILL in the middle of a
// create+confirm load, several times over the same database, and then
// checks the promises a payment gateway makes about a crash:
//
//   - the database is intact (SQLite: PRAGMA integrity_check);
//   - every payment the gateway acknowledged (201, status succeeded) is
//     still there, succeeded, with its whole amount captured: an
//     acknowledgement is durable;
//   - after the reconciler that runs at start, no ledger row is left
//     pending or unknown and no payment is left processing;
//   - the ledger agrees with the acquirer's own records both ways: every
//     charge the simulator approved is a succeeded ledger row of a succeeded
//     payment, and every succeeded ledger row was approved by the simulator
//     (no money moved without a record, no record without money).
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test builds and kills real processes; skipped with -short")
	}
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { testCrashSafety(t, d) })
	}
}

const (
	crashRounds  = 3
	crashClients = 8
)

func testCrashSafety(t *testing.T, d store.Dialect) {
	bin := kassaBinary(t)
	dsn := storetest.DSN(t, d)
	key := createMerchantCLI(t, bin, dsn)
	// Reconcile everything unsettled at start, and only at start: a
	// reconciler that ran during the load with no grace period would race
	// live processor calls (the reason the grace exists).
	serveArgs := []string{"--reconcile-grace", "1ns", "--reconcile-interval", "1h"}

	var (
		mu    sync.Mutex
		acked = map[string]int64{} // payment ID → amount, for every acknowledged payment
		order atomic.Int64
	)
	for round := range crashRounds {
		srv := startKassa(t, bin, dsn, serveArgs...)
		if round > 0 {
			waitSettled(t, d, dsn, srv)
		}
		client := newPaymentClient(srv.url, key, crashClients, 10*time.Second)

		// Kill after a random number of acknowledgements, so the kill
		// lands at a random point of some request's life: before, between
		// or after its commits and its processor call.
		killAt := int64(20 + rand.IntN(150))
		var roundAcks atomic.Int64
		killed := make(chan struct{})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var wg sync.WaitGroup
		for range crashClients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := *client
				for ctx.Err() == nil {
					n := order.Add(1)
					c.amount = 100 + n // distinct amounts, so a mix-up shows
					r, err := c.pay(ctx, "crash-"+strconv.FormatInt(n, 10))
					select {
					case <-killed:
						// After the kill, a reply that made it out is still an
						// acknowledgement the gateway must keep.
						if err == nil && r.acknowledged() {
							mu.Lock()
							acked[r.ID] = c.amount
							mu.Unlock()
						}
						return
					default:
					}
					if err != nil {
						t.Errorf("round %d: payment before the kill: %v", round, err)
						return
					}
					if !r.acknowledged() {
						t.Errorf("round %d: payment before the kill answered %s", round, r.outcome())
						return
					}
					mu.Lock()
					acked[r.ID] = c.amount
					mu.Unlock()
					roundAcks.Add(1)
				}
			}()
		}
		for roundAcks.Load() < killAt && ctx.Err() == nil && !t.Failed() {
			time.Sleep(time.Millisecond)
		}
		if ctx.Err() != nil {
			cancel()
			wg.Wait()
			t.Fatalf("round %d: only %d payments acknowledged in 20s", round, roundAcks.Load())
		}
		close(killed)
		srv.kill(t)
		wg.Wait()
		cancel()
		client.http.CloseIdleConnections()
		if t.Failed() {
			t.Fatalf("server log:\n%s", srv.log())
		}

		pending := countRows(t, d, dsn, `SELECT COUNT(*) FROM transactions WHERE status IN ('pending', 'unknown')`)
		t.Logf("round %d: killed after %d acknowledgements (target %d); %d ledger rows left pending by the crash",
			round, roundAcks.Load(), killAt, pending)
		if d == store.SQLite {
			checkIntegrity(t, dsn) // the file as the crash left it, recovered from its WAL
		}
	}

	srv := startKassa(t, bin, dsn, serveArgs...)
	waitSettled(t, d, dsn, srv)
	client := newPaymentClient(srv.url, key, crashClients, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if len(acked) < crashRounds*20 {
		t.Fatalf("only %d acknowledged payments in %d rounds", len(acked), crashRounds)
	}
	for id, amount := range acked {
		r, err := client.payment(ctx, id)
		switch {
		case err != nil:
			t.Fatalf("GET %s: %v", id, err)
		case r.HTTPStatus != 200:
			t.Errorf("acknowledged payment %s: GET answered %s", id, r.outcome())
		case r.Status != "succeeded" || r.Amount != amount || r.AmountCaptured != amount:
			t.Errorf("acknowledged payment %s: status %s, amount %d, captured %d; want succeeded, %d captured in full",
				id, r.Status, r.Amount, r.AmountCaptured, amount)
		}
	}

	for _, c := range []struct{ what, query string }{
		{"payments left processing", `SELECT COUNT(*) FROM payments WHERE status = 'processing'`},
		{"approved charges without a succeeded ledger row",
			`SELECT COUNT(*) FROM simulator_operations s LEFT JOIN transactions t ON t.id = s.reference
			 WHERE s.outcome = 'approved' AND (t.id IS NULL OR t.status <> 'succeeded')`},
		{"succeeded ledger rows the acquirer did not approve",
			`SELECT COUNT(*) FROM transactions t LEFT JOIN simulator_operations s ON s.reference = t.id
			 WHERE t.status = 'succeeded' AND (s.reference IS NULL OR s.outcome <> 'approved')`},
		{"succeeded payments without a succeeded sale",
			`SELECT COUNT(*) FROM payments p WHERE p.status = 'succeeded' AND NOT EXISTS
			 (SELECT 1 FROM transactions t WHERE t.payment_id = p.id AND t.type = 'sale' AND t.status = 'succeeded')`},
		{"payments with a succeeded sale that are not succeeded",
			`SELECT COUNT(*) FROM payments p WHERE p.status <> 'succeeded' AND EXISTS
			 (SELECT 1 FROM transactions t WHERE t.payment_id = p.id AND t.type = 'sale' AND t.status = 'succeeded')`},
		{"payments with more than one ledger row", // one create+confirm, one sale
			`SELECT COUNT(*) FROM (SELECT payment_id FROM transactions GROUP BY payment_id HAVING COUNT(*) > 1) x`},
	} {
		if n := countRows(t, d, dsn, c.query); n != 0 {
			t.Errorf("%d %s", n, c.what)
		}
	}
	succeeded := countRows(t, d, dsn, `SELECT COUNT(*) FROM payments WHERE status = 'succeeded'`)
	failed := countRows(t, d, dsn, `SELECT COUNT(*) FROM transactions WHERE status = 'failed'`)
	t.Logf("%d acknowledged payments; %d succeeded in the database; %d charges failed as never received by the acquirer",
		len(acked), succeeded, failed)

	srv.stop(t)
	if d == store.SQLite {
		checkIntegrity(t, dsn)
	}
}

// waitSettled waits for the reconciler that runs at the server's start to
// leave no ledger row pending or unknown and no payment processing.
func waitSettled(t *testing.T, d store.Dialect, dsn string, srv *kassaProcess) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n := countRows(t, d, dsn, `SELECT (SELECT COUNT(*) FROM transactions WHERE status IN ('pending', 'unknown'))
			+ (SELECT COUNT(*) FROM payments WHERE status = 'processing')`)
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d ledger rows or payments still unsettled 20s after restart; server log:\n%s", n, srv.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// openCheckDB opens the test's own connection to the gateway's database.
func openCheckDB(t *testing.T, d store.Dialect, dsn string) *sql.DB {
	t.Helper()
	driver := "pgx"
	if d == store.SQLite {
		driver, dsn = "sqlite", "file:"+dsn+"?_pragma=busy_timeout(10000)"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func countRows(t *testing.T, d store.Dialect, dsn, query string) int64 {
	t.Helper()
	db := openCheckDB(t, d, dsn)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var n int64
	if err := db.QueryRowContext(ctx, query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// checkIntegrity runs SQLite's full consistency check on the file.
func checkIntegrity(t *testing.T, path string) {
	t.Helper()
	db := openCheckDB(t, store.SQLite, path)
	defer db.Close()
	rows, err := db.Query(`PRAGMA integrity_check`)
	if err != nil {
		t.Fatalf("integrity_check: %v", err)
	}
	defer rows.Close()
	var msgs []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0] != "ok" {
		t.Fatalf("PRAGMA integrity_check: %v", fmt.Sprint(msgs))
	}
}
