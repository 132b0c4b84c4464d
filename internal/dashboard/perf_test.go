package dashboard_test

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/processor"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

var perf100k = flag.Bool("perf100k", false, "seed 100,000 payments and time the dashboard's list, search and overview queries")

// TestPerf100k prints how long the dashboard's queries take on a merchant
// with 100,000 payments (and another merchant with 20,000 beside it). It
// asserts only results, never timings:
//
//	go test ./internal/dashboard -run TestPerf100k -perf100k -v
func TestPerf100k(t *testing.T) {
	if !*perf100k {
		t.Skip("run with -perf100k")
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		eng := engine.New(db, processor.NewSimulator(db.SQL(), ""), engine.Config{}, nil)
		c, err := eng.CreateMerchant(ctx, "Big", "")
		if err != nil {
			t.Fatal(err)
		}
		o, _ := eng.CreateMerchant(ctx, "Neighbour", "")
		start := time.Now()
		target := seed(t, db, c.Merchant.ID, 100_000)
		seed(t, db, o.Merchant.ID, 20_000)
		t.Logf("%s: seeded 120,000 payments and ledger rows in %v", db.Dialect(), time.Since(start).Round(time.Millisecond))
		pr := kassa.Principal{MerchantID: c.Merchant.ID}
		from := time.Now().AddDate(0, 0, -3)
		to := time.Now().AddDate(0, 0, -2)
		cases := []struct {
			name string
			f    engine.PaymentSearch
			min  int
		}{
			{"first page (50)", engine.PaymentSearch{}, 50},
			{"search payment id", engine.PaymentSearch{Query: target.id}, 1},
			{"search order id", engine.PaymentSearch{Query: target.order}, 1},
			{"search email", engine.PaymentSearch{Query: target.email}, 1},
			{"search last4", engine.PaymentSearch{Query: "0077"}, 10},
			{"status canceled", engine.PaymentSearch{Status: kassa.StatusCanceled}, 50},
			{"date range (1 day, 3 days ago)", engine.PaymentSearch{CreatedGTE: &from, CreatedLT: &to}, 50},
			{"amount 100.00–100.99 USD", engine.PaymentSearch{Currency: "USD", AmountMin: 10000, AmountMax: 10099}, 1},
		}
		for _, cs := range cases {
			cs.f.Limit = 50
			t0 := time.Now()
			rows, _, err := eng.SearchPayments(ctx, pr, cs.f)
			d := time.Since(t0)
			if err != nil || len(rows) < cs.min {
				t.Fatalf("%s: %d rows, %v", cs.name, len(rows), err)
			}
			// Second run: warm cache, the figure a user sees repeatedly.
			t1 := time.Now()
			eng.SearchPayments(ctx, pr, cs.f)
			fmt.Printf("PERF %-8s %-34s %4d rows  cold %8v  warm %8v\n", db.Dialect(), cs.name, len(rows), d.Round(time.Microsecond), time.Since(t1).Round(time.Microsecond))
		}
		// Deep page: 40 pages in.
		f := engine.PaymentSearch{Page: kassa.Page{Limit: 50}}
		t0 := time.Now()
		for i := 0; i < 40; i++ {
			rows, _, err := eng.SearchPayments(ctx, pr, f)
			if err != nil || len(rows) != 50 {
				t.Fatal(err)
			}
			f.StartingAfter = rows[49].Payment.ID
		}
		fmt.Printf("PERF %-8s %-34s           avg  %8v per page\n", db.Dialect(), "cursor pages 1-40", (time.Since(t0) / 40).Round(time.Microsecond))
		t0 = time.Now()
		ov, err := eng.Overview(ctx, pr)
		if err != nil || len(ov.Currencies) != 2 {
			t.Fatalf("overview: %v %+v", err, ov)
		}
		d := time.Since(t0)
		t1 := time.Now()
		eng.Overview(ctx, pr)
		fmt.Printf("PERF %-8s %-34s           cold %8v  warm %8v (30-day attempts %d)\n", db.Dialect(), "overview (30 days, aggregates)", d.Round(time.Microsecond), time.Since(t1).Round(time.Microsecond), ov.Currencies[0].Window.Attempts)
	})
}

type seeded struct{ id, order, email string }

// seed bulk-inserts n payments of a merchant over the last 40 days, each
// with its sale in the ledger (one in ten declined, one in twenty canceled),
// in one transaction: a test shortcut, not how payments are made.
func seed(t *testing.T, db *store.DB, merchantID string, n int) seeded {
	ctx := context.Background()
	tx, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	payStmt, err := tx.PrepareContext(ctx, `INSERT INTO payments (id, merchant_id, livemode, amount, currency, order_id, capture_method,
		customer, status, client_secret, card_brand, card_last4, card_exp_month, card_exp_year, created_at, updated_at, expires_at, customer_email)
		VALUES ($1,$2,0,$3,$4,$5,'automatic',$6,$7,$8,'visa',$9,12,2040,$10,$10,$11,$12)`)
	if err != nil {
		t.Fatal(err)
	}
	txnStmt, err := tx.PrepareContext(ctx, `INSERT INTO transactions (id, payment_id, merchant_id, livemode, type, status, amount, currency,
		processor, decline_code, created_at, updated_at) VALUES ($1,$2,$3,0,'sale',$4,$5,$6,'simulator',$7,$8,$8)`)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	step := 40 * 24 * time.Hour / time.Duration(n)
	var s seeded
	for i := 0; i < n; i++ {
		id := kassa.NewID("pay")
		created := now.Add(-time.Duration(i) * step)
		cur := "USD"
		if i%5 == 0 {
			cur = "EUR"
		}
		amount := int64(100 + (i*7919)%100000)
		status, txnStatus, decline := "succeeded", "succeeded", ""
		switch {
		case i%20 == 0:
			status, txnStatus, decline = "canceled", "failed", "insufficient_funds"
		case i%10 == 0:
			status, txnStatus, decline = "requires_payment_method", "failed", "generic_decline"
		}
		email := fmt.Sprintf("shopper%d@example.com", i)
		order := fmt.Sprintf("%s-order-%d", merchantID[len(merchantID)-6:], i)
		last4 := fmt.Sprintf("%04d", i%10000)
		if _, err := payStmt.ExecContext(ctx, id, merchantID, amount, cur, order, `{"email":"`+email+`"}`, status, id+"_secret_x",
			last4, created.UnixMicro(), created.Add(24*time.Hour).UnixMicro(), email); err != nil {
			t.Fatal(err)
		}
		if _, err := txnStmt.ExecContext(ctx, kassa.NewID("txn"), id, merchantID, txnStatus, amount, cur, decline, created.UnixMicro()); err != nil {
			t.Fatal(err)
		}
		if i == n/2 {
			s = seeded{id, order, email}
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if db.Dialect() == store.Postgres {
		db.SQL().ExecContext(ctx, `ANALYZE payments`)
		db.SQL().ExecContext(ctx, `ANALYZE transactions`)
	} else {
		db.SQL().ExecContext(ctx, `ANALYZE`)
	}
	return s
}
