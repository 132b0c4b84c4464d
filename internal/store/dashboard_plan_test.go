package store_test

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

var planRows = flag.Int("plan-rows", 5000, "payments (and sales) seeded for TestDashboardQueryPlans; e.g. -plan-rows 100000 -v prints the plans at scale")

// seedPlanRows bulk-inserts n payments of merchantID, each with a sale,
// spread over 40 days, in one statement per table (a test shortcut).
func seedPlanRows(t *testing.T, db *store.DB, merchantID string, n int) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UnixMicro()
	step := int64(40*24*time.Hour/time.Microsecond) / int64(n)
	var series, last4 string
	if db.Dialect() == store.Postgres {
		series = fmt.Sprintf("(SELECT generate_series(0, %d) AS i) s", n-1)
		last4 = "lpad((i % 10000)::text, 4, '0')"
	} else {
		series = fmt.Sprintf("(WITH RECURSIVE r(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM r WHERE i < %d) SELECT i FROM r) s", n-1)
		last4 = "printf('%04d', i % 10000)"
	}
	tag := merchantID[len(merchantID)-8:]
	stmts := []string{
		`INSERT INTO payments (id, merchant_id, livemode, amount, currency, order_id, capture_method, customer, status, client_secret,
			card_brand, card_last4, card_exp_month, card_exp_year, created_at, updated_at, expires_at, customer_email)
		SELECT 'pay_` + tag + `_' || i, $1, 0, 100 + (i * 7919) % 100000, CASE WHEN i % 5 = 0 THEN 'EUR' ELSE 'USD' END,
			'ord-` + tag + `-' || i, 'automatic', '', CASE WHEN i % 10 = 0 THEN 'requires_payment_method' ELSE 'succeeded' END, 'cs',
			'visa', ` + last4 + `, 12, 2040, CAST($2 AS BIGINT) - i * CAST($3 AS BIGINT), CAST($2 AS BIGINT) - i * CAST($3 AS BIGINT), CAST($2 AS BIGINT), 'shopper' || i || '@example.com'
		FROM ` + series,
		`INSERT INTO transactions (id, payment_id, merchant_id, livemode, type, status, amount, currency, processor, decline_code, created_at, updated_at)
		SELECT 'txn_` + tag + `_' || i, 'pay_` + tag + `_' || i, $1, 0, 'sale', CASE WHEN i % 10 = 0 THEN 'failed' ELSE 'succeeded' END,
			100 + (i * 7919) % 100000, CASE WHEN i % 5 = 0 THEN 'EUR' ELSE 'USD' END, 'simulator',
			CASE WHEN i % 10 = 0 THEN 'generic_decline' ELSE '' END, CAST($2 AS BIGINT) - i * CAST($3 AS BIGINT), CAST($2 AS BIGINT) - i * CAST($3 AS BIGINT)
		FROM ` + series,
	}
	for _, q := range stmts {
		if _, err := db.SQL().ExecContext(ctx, q, merchantID, now, step); err != nil {
			t.Fatalf("seed: %v", err)
		}
	}
	if db.Dialect() == store.Postgres {
		db.SQL().ExecContext(ctx, `ANALYZE payments`)
		db.SQL().ExecContext(ctx, `ANALYZE transactions`)
	} else {
		db.SQL().ExecContext(ctx, `ANALYZE`)
	}
}

// plan returns the database's plan for query. On PostgreSQL, strict turns
// sequential scans off: the plan then shows whether an index can serve the
// query at all (a Seq Scan remains only where none can).
func plan(t *testing.T, db *store.DB, query string, args []any, strict bool) string {
	t.Helper()
	ctx := context.Background()
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	explain := "EXPLAIN QUERY PLAN "
	if db.Dialect() == store.Postgres {
		explain = "EXPLAIN "
		if strict {
			conn.ExecContext(ctx, `SET enable_seqscan = off`)
			defer conn.ExecContext(ctx, `RESET enable_seqscan`)
		}
	}
	rows, err := conn.QueryContext(ctx, explain+query, args...)
	if err != nil {
		t.Fatalf("explain: %v\n%s", err, query)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var lines []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, fmt.Sprint(vals[len(vals)-1])) // SQLite: detail; PostgreSQL: the plan line
	}
	return strings.Join(lines, "\n")
}

// TestDashboardQueryPlans: every query of the dashboard's payment list and
// overview is served by an index on both databases — no full scan of
// payments or transactions, whatever the merchant's size. With -v it prints
// the plans; -plan-rows 100000 shows them at scale.
func TestDashboardQueryPlans(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		eng, c := dashEngine(t, db)
		other, err := eng.CreateMerchant(context.Background(), "Neighbour", "")
		if err != nil {
			t.Fatal(err)
		}
		seedPlanRows(t, db, c.Merchant.ID, *planRows)
		seedPlanRows(t, db, other.Merchant.ID, *planRows/5)
		pr := kassa.Principal{MerchantID: c.Merchant.ID}
		day := time.Now().AddDate(0, 0, -3)
		next := day.AddDate(0, 0, 1)
		cases := []struct {
			name string
			f    engine.PaymentSearch
		}{
			{"first page", engine.PaymentSearch{}},
			{"next page", engine.PaymentSearch{Page: kassa.Page{StartingAfter: "pay_x"}}},
			{"payment id", engine.PaymentSearch{Query: "pay_123"}},
			{"order id", engine.PaymentSearch{Query: "ord-123"}},
			{"email", engine.PaymentSearch{Query: "shopper5@example.com"}},
			{"last4 (or order id)", engine.PaymentSearch{Query: "0077"}},
			{"status", engine.PaymentSearch{Status: kassa.StatusRequiresPaymentMethod}},
			{"date range", engine.PaymentSearch{CreatedGTE: &day, CreatedLT: &next}},
			{"amount range", engine.PaymentSearch{Currency: "USD", AmountMin: 10000, AmountMax: 10099}},
		}
		type stmt struct {
			name  string
			query string
			args  []any
		}
		var stmts []stmt
		for _, cs := range cases {
			cs.f.Limit = 50
			q, args := store.SearchPaymentsSQL(pr, cs.f)
			stmts = append(stmts, stmt{"payments: " + cs.name, q, args})
		}
		stmts = append(stmts, stmt{"overview: ledger aggregates", store.LedgerAggregatesSQL,
			[]any{pr.MerchantID, 0, time.Now().AddDate(0, 0, -29).UnixMicro()}})
		for _, s := range stmts {
			natural := plan(t, db, s.query, s.args, false)
			t.Logf("%s — %s:\n%s", db.Dialect(), s.name, natural)
			if db.Dialect() == store.SQLite {
				for _, line := range strings.Split(natural, "\n") {
					if strings.HasPrefix(line, "SCAN ") && !strings.Contains(line, " USING ") {
						t.Errorf("%s: full scan: %s", s.name, line)
					}
				}
				continue
			}
			if strict := plan(t, db, s.query, s.args, true); strings.Contains(strict, "Seq Scan") {
				t.Errorf("%s: no index serves it:\n%s", s.name, strict)
			}
		}
	})
}
