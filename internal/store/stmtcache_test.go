package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

// The SQLite connections keep statements prepared (store.go). These tests
// pin the cases where reusing a prepared statement could go wrong; they run
// on both databases so that the two keep answering alike.

// A query run again while a Rows of the same text is still being read (a
// nested lookup in a transaction) must not reset the outer one's cursor.
// PostgreSQL has no such case: one connection carries one result at a time
// (pgx answers "conn busy"), so the store never nests statements.
func TestStatementReusedWhileRowsOpen(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		if db.Dialect() == store.Postgres {
			t.Skip("a PostgreSQL connection reads one result at a time")
		}
		ctx := context.Background()
		sqlTx, err := db.SQL().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer sqlTx.Rollback()
		if _, err := sqlTx.ExecContext(ctx, `CREATE TABLE stmt_nested (n INTEGER PRIMARY KEY)`); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 5; i++ {
			if _, err := sqlTx.ExecContext(ctx, `INSERT INTO stmt_nested (n) VALUES ($1)`, i); err != nil {
				t.Fatal(err)
			}
		}
		const q = `SELECT n FROM stmt_nested WHERE n >= $1 ORDER BY n`
		rows, err := sqlTx.QueryContext(ctx, q, 1)
		if err != nil {
			t.Fatal(err)
		}
		var outer, inner []int
		for rows.Next() {
			var n, m int
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			outer = append(outer, n)
			if err := sqlTx.QueryRowContext(ctx, q, 4).Scan(&m); err != nil { // same text, rows still open
				t.Fatal(err)
			}
			inner = append(inner, m)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(outer) != "[1 2 3 4 5]" || fmt.Sprint(inner) != "[4 4 4 4 4]" {
			t.Fatalf("outer rows %v, inner %v; want [1 2 3 4 5] and five 4s", outer, inner)
		}
		// After the outer Rows closed, the text runs prepared again and
		// sees fresh bindings.
		var n int
		if err := sqlTx.QueryRowContext(ctx, q, 2).Scan(&n); err != nil || n != 2 {
			t.Fatalf("after close: %d, %v; want 2", n, err)
		}
	})
}

// A statement prepared before a table is dropped and created again runs
// against the new table.
func TestStatementSurvivesSchemaChange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := db.SQL()
		const count = `SELECT COUNT(*) FROM stmt_schema WHERE v > $1`
		for round, rows := range []int{3, 7} {
			if round > 0 {
				if _, err := w.ExecContext(ctx, `DROP TABLE stmt_schema`); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := w.ExecContext(ctx, `CREATE TABLE stmt_schema (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)`); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < rows; i++ {
				if _, err := w.ExecContext(ctx, `INSERT INTO stmt_schema (id, v) VALUES ($1, $2)`, i, i+10); err != nil {
					t.Fatal(err)
				}
			}
			var n int
			if err := w.QueryRowContext(ctx, count, 0).Scan(&n); err != nil || n != rows {
				t.Fatalf("round %d: %d rows, %v; want %d", round, n, err, rows)
			}
		}
	})
}

// More distinct texts than a connection keeps prepared: every one still
// answers correctly, and a bad statement reports SQL's own error each time.
func TestManyDistinctStatements(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := db.SQL()
		for round := 0; round < 2; round++ {
			for i := 0; i < 300; i++ {
				var got int
				q := fmt.Sprintf(`SELECT %d + CAST($1 AS INTEGER)`, i)
				if err := w.QueryRowContext(ctx, q, round).Scan(&got); err != nil || got != i+round {
					t.Fatalf("round %d, %q: %d, %v; want %d", round, q, got, err, i+round)
				}
			}
		}
		for i := 0; i < 2; i++ {
			_, err := w.ExecContext(ctx, `INSERT INTO no_such_table (x) VALUES ($1)`, 1)
			if err == nil || !strings.Contains(err.Error(), "no_such_table") {
				t.Fatalf("insert into a missing table: %v, want an error naming it", err)
			}
		}
	})
}
