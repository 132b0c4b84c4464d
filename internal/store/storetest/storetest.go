// Package storetest opens real databases for tests: a SQLite file in a
// temporary directory, and a fresh schema in the PostgreSQL server named by
// KASSA_TEST_POSTGRES (default postgres://postgres@127.0.0.1:5432/test).
// Without a reachable PostgreSQL the PostgreSQL variants are skipped, except
// under CI=true, where they fail: CI must never pass by skipping them.
package storetest

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/store"
)

// Dialects lists the engines every storage test runs against.
var Dialects = []store.Dialect{store.SQLite, store.Postgres}

// PostgresURL is the server tests use.
func PostgresURL() string {
	if u := os.Getenv("KASSA_TEST_POSTGRES"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// DSN returns a data source for a new, empty database of dialect d, removed
// when the test ends: a SQLite file path, or a postgres URL whose
// search_path is a schema of its own.
func DSN(t testing.TB, d store.Dialect) string {
	t.Helper()
	if d == store.SQLite {
		return filepath.Join(t.TempDir(), "kassa.db")
	}
	admin, err := sql.Open("pgx", PostgresURL())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = admin.PingContext(ctx)
		cancel()
	}
	if err != nil {
		if admin != nil {
			admin.Close()
		}
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required under CI=true but %s is unreachable: %v", PostgresURL(), err)
		}
		t.Skipf("PostgreSQL unreachable (%v); set KASSA_TEST_POSTGRES or run ./scripts/test", err)
	}
	schema := "kassa_t_" + strings.ToLower(kassa.RandomToken(8))
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		admin.Close()
	})
	u, err := url.Parse(PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Open returns a migrated database of dialect d, closed when the test ends.
func Open(t testing.TB, d store.Dialect) *store.DB {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, DSN(t, d))
	if err != nil {
		t.Fatalf("open %s: %v", d, err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("migrate %s: %v", d, err)
	}
	return db
}

// Each runs f as a subtest once per dialect, with a fresh database.
func Each(t *testing.T, f func(t *testing.T, db *store.DB)) {
	for _, d := range Dialects {
		t.Run(string(d), func(t *testing.T) {
			f(t, Open(t, d))
		})
	}
}
