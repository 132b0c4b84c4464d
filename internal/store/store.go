// Package store persists Kassa's core model in SQLite (the default, a single
// file) or PostgreSQL (for several gateway instances), with one SQL text per
// query wherever the two agree. It implements kassa.Store.
//
// Concurrency: on SQLite all writes go through one connection opened with
// BEGIN IMMEDIATE, so write transactions are serialized and never meet
// SQLITE_BUSY; reads use a separate read-only pool. On PostgreSQL writes lock
// the payment row (SELECT … FOR UPDATE) and uniqueness (idempotency keys, one
// payment per order) is enforced by unique keys, so any number of instances
// can share the database.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite"

	"github.com/kassa-pay/kassa"
)

//go:embed migrations
var migrations embed.FS

// Dialect names a database engine.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is a Kassa database. It is safe for concurrent use.
type DB struct {
	dialect Dialect
	write   *sql.DB // SQLite: exactly one connection
	read    *sql.DB // SQLite: read-only pool; PostgreSQL: the same pool as write
	pool    *pgxpool.Pool
	// forUpdate is appended to row-locking SELECTs; SQLite needs none
	// because its single writer already excludes other writers.
	forUpdate string

	// SQLite group commit (groupcommit.go).
	queue   chan *writeReq
	stop    chan struct{}
	stopped chan struct{}
}

var _ kassa.Store = (*DB)(nil)

// Open opens the database named by dsn: a postgres:// or postgresql:// URL
// selects PostgreSQL; anything else is a SQLite file path (created if missing).
// It does not migrate; call Migrate.
func Open(ctx context.Context, dsn string) (*DB, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return openPostgres(ctx, dsn)
	}
	return openSQLite(ctx, strings.TrimPrefix(dsn, "sqlite://"))
}

func openSQLite(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("store: empty SQLite path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	// synchronous(FULL): a commit is on disk before it returns, so an
	// acknowledged payment survives power loss (WAL with NORMAL may lose the
	// last commits). Durability costs an fsync per commit; throughput must
	// come from batching commits, never from weakening this.
	common := "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)"
	u := "file:" + (&url.URL{Path: abs}).EscapedPath()
	w, err := sql.Open("sqlite", u+"?"+common+"&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", u+"?"+common+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, err
	}
	n := runtime.GOMAXPROCS(0) * 2
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	db := &DB{dialect: SQLite, write: w, read: r}
	db.startCommitter()
	return db, nil
}

func openPostgres(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if cfg.MaxConns < 16 {
		cfg.MaxConns = 16
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: connect to PostgreSQL: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	return &DB{dialect: Postgres, write: db, read: db, pool: pool, forUpdate: " FOR UPDATE"}, nil
}

// Dialect returns the database engine in use.
func (db *DB) Dialect() Dialect { return db.dialect }

// SQL returns the pool for writes, for components that keep their own tables
// in the same database (the test acquirer).
func (db *DB) SQL() *sql.DB { return db.write }

// Close closes the database.
func (db *DB) Close() error {
	if db.stop != nil {
		select {
		case <-db.stop:
		default:
			close(db.stop)
		}
		<-db.stopped
	}
	err := db.write.Close()
	if db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	if db.pool != nil {
		db.pool.Close()
	}
	return err
}

// Migrate applies the embedded migrations that have not run yet.
func (db *DB) Migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations/"+string(db.dialect))
	if err != nil {
		return err
	}
	gd := goose.DialectSQLite3
	if db.dialect == Postgres {
		gd = goose.DialectPostgres
	}
	p, err := goose.NewProvider(gd, db.write, sub)
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}

// Write runs fn in one transaction. See kassa.Store. On SQLite, writes
// waiting at the same moment share one commit (see groupcommit.go).
func (db *DB) Write(ctx context.Context, fn func(kassa.Tx) error) error {
	if db.queue != nil {
		return db.writeBatched(ctx, fn)
	}
	sqlTx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	err, pan := runFn(fn, &tx{db: db, tx: sqlTx})
	if err != nil || pan != nil {
		sqlTx.Rollback() // also on panic, or the connection would stay locked
		if pan != nil {
			panic(pan)
		}
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// queryer is what reads need from *sql.DB and *sql.Tx.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

type tx struct {
	db *DB
	tx *sql.Tx
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

func notFound(what, id string) error {
	return kassa.Errorf(kassa.ENOTFOUND, "resource_missing", "no such %s: '%s'", what, id)
}
