package notify_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

// backlog writes n events (in transactions of 500) and returns their IDs.
func backlog(t testing.TB, db *store.DB, n int) []string {
	t.Helper()
	ctx := context.Background()
	ids := make([]string, 0, n)
	for len(ids) < n {
		err := db.Write(ctx, func(tx kassa.Tx) error {
			for i := 0; i < 500 && len(ids) < n; i++ {
				e := kassa.NewEvent(kassa.EventPaymentSucceeded, pr.MerchantID, false, "", map[string]int{"n": len(ids)}, time.Now())
				if err := tx.InsertEvent(ctx, e); err != nil {
					return err
				}
				ids = append(ids, e.ID)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func openSame(t testing.TB, dsn string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Two gateway instances on one PostgreSQL database drain a shared backlog
// of 5,000 events: every event is delivered, and none is sent twice (the
// claim's FOR UPDATE SKIP LOCKED gives each row to one instance).
func TestTwoInstancesDrainSharedBacklog(t *testing.T) {
	dsn := storetest.DSN(t, store.Postgres)
	first := openSame(t, dsn)
	if err := first.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	second := openSame(t, dsn)
	seed(t, first)

	var byInstance [2]atomic.Int64
	rc := newReceiver(t, nil)
	cfg := testConfig()
	cfg.Workers = 8
	cfg.Lease = 30 * time.Second // far longer than any attempt: a second send would be a claim bug
	cfg.Timeout = 10 * time.Second
	cfg.PollInterval = 200 * time.Millisecond
	for i, db := range []*store.DB{first, second} {
		i := i
		c := cfg
		c.Formats = map[string]notify.Format{notify.FormatStandard: counting{notify.Standard{Retries: fast}, &byInstance[i]}}
		svc, _ := start(t, db, c)
		if i == 0 {
			endpoint(t, svc, rc.URL)
		}
	}
	const n = 5000
	began := time.Now()
	ids := backlog(t, first, n)
	waitFor(t, "every event", 50*time.Second, func() bool { return rc.distinct() == n })
	elapsed := time.Since(began)
	waitFor(t, "every delivery recorded", 20*time.Second, func() bool {
		var open int
		first.SQL().QueryRow(`SELECT COUNT(*) FROM webhook_deliveries WHERE status <> 'delivered'`).Scan(&open)
		return open == 0
	})
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, id := range ids {
		if rc.hits[id] != 1 {
			t.Fatalf("event %s received %d times, want once", id, rc.hits[id])
		}
	}
	if rc.total != n {
		t.Fatalf("%d requests for %d events", rc.total, n)
	}
	var logged, maxAttempt int
	first.SQL().QueryRow(`SELECT COUNT(*), MAX(attempt) FROM webhook_attempts`).Scan(&logged, &maxAttempt)
	if logged != n || maxAttempt != 1 {
		t.Fatalf("attempt log: %d rows, highest attempt %d; want %d rows of attempt 1", logged, maxAttempt, n)
	}
	a, b := byInstance[0].Load(), byInstance[1].Load()
	if a == 0 || b == 0 {
		t.Errorf("one instance did all the work (%d / %d)", a, b)
	}
	t.Logf("%d events delivered by two instances (%d + %d) in %v", n, a, b, elapsed.Round(time.Millisecond))
}

// counting is a format that counts the requests its instance builds.
type counting struct {
	notify.Standard
	n *atomic.Int64
}

func (c counting) Request(ctx context.Context, d *notify.Delivery, now time.Time) (*http.Request, error) {
	c.n.Add(1)
	return c.Standard.Request(ctx, d, now)
}

// BenchmarkDeliver measures end-to-end throughput: events committed as a
// backlog, claimed, signed, POSTed to a loopback receiver and recorded.
// It reports deliveries/s.
func BenchmarkDeliver(b *testing.B) {
	for _, d := range storetest.Dialects {
		for _, workers := range []int{8, 32} {
			b.Run(fmt.Sprintf("%s/workers=%d", d, workers), func(b *testing.B) {
				db := storetest.Open(b, d)
				seed(b, db)
				rc := newReceiver(b, nil)
				cfg := testConfig()
				cfg.Workers = workers
				cfg.Lease = time.Minute
				cfg.Timeout = 30 * time.Second
				cfg.PollInterval = 100 * time.Millisecond
				svc := notify.New(db, cfg, nil)
				endpoint(b, svc, rc.URL)
				backlog(b, db, b.N)
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				b.ResetTimer()
				began := time.Now()
				go func() {
					svc.Run(ctx)
					close(done)
				}()
				for {
					var open int
					db.SQL().QueryRow(`SELECT COUNT(*) FROM webhook_deliveries WHERE status <> 'delivered'`).Scan(&open)
					if open == 0 {
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
				elapsed := time.Since(began)
				b.StopTimer()
				cancel()
				<-done
				if rc.distinct() != b.N {
					b.Fatalf("received %d of %d", rc.distinct(), b.N)
				}
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
			})
		}
	}
}
