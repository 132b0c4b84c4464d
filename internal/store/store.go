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
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"

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
	//
	// temp_store(MEMORY) keeps the sub-journal of the group commit's
	// savepoints in memory: it only serves ROLLBACK TO inside the open
	// transaction (crash recovery rests on the WAL, whose commit frames are
	// fsynced as before), and on disk it cost a write(2) for the first change
	// of every page in every savepoint.
	common := "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)&_pragma=temp_store(MEMORY)"
	u := "file:" + (&url.URL{Path: abs}).EscapedPath()
	w, err := openSQLiteDB(u + "?" + common + "&_txlock=immediate")
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
	r, err := openSQLiteDB(u + "?" + common + "&_pragma=query_only(1)")
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

// ---- SQLite prepared-statement cache

// openSQLiteDB opens a SQLite pool whose connections keep the statements
// they run prepared. SQLite compiles every SQL text into a program before
// running it, and database/sql, given a driver that executes text directly,
// never keeps one: every statement of every write was parsed and compiled
// again, which was a third of the single writer's time. The store's SQL
// texts are constants (bar a few list filters), so each connection keeps a
// small map from text to its compiled statement.
func openSQLiteDB(dsn string) (*sql.DB, error) {
	c, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(stmtCacheConnector{c}), nil
}

// maxCachedStmts bounds each connection's cache; the store has a few dozen
// constant texts, the rest (IN lists, list filters) come and go.
const maxCachedStmts = 128

type stmtCacheConnector struct{ driver.Connector }

func (c stmtCacheConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	sc, ok := conn.(sqliteConn)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("store: SQLite driver connection %T lacks context methods", conn)
	}
	return &cachingConn{sqliteConn: sc, stmts: make(map[string]*cachedStmt)}, nil
}

// sqliteConn is what database/sql uses of a modernc.org/sqlite connection;
// cachingConn passes all of it through except ExecContext and QueryContext.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// cachingConn runs ExecContext and QueryContext through prepared statements
// it keeps for the life of the connection. database/sql never uses a driver
// connection from two goroutines at once (every call, Rows.Next and
// Rows.Close included, holds the connection's lock), so the map needs no
// lock of its own. A statement is reset after each use and bound afresh, so
// no state leaks from one use to the next; SQLite recompiles a statement by
// itself if the schema changed since it was prepared.
type cachingConn struct {
	sqliteConn
	stmts map[string]*cachedStmt
}

type cachedStmt struct {
	stmt interface {
		driver.Stmt
		driver.StmtExecContext
		driver.StmtQueryContext
	}
	// open is set while a Rows of the statement is being read: the same
	// text run again meanwhile (a nested query in a transaction) must not
	// reset it under the reader, so it runs unprepared.
	open bool
}

// stmt returns the cached statement for query, preparing it if need be, or
// nil if it cannot be cached (the caller then runs query directly, which
// also reports any error preparing it).
func (c *cachingConn) stmt(ctx context.Context, query string) *cachedStmt {
	if s, ok := c.stmts[query]; ok {
		return s
	}
	ds, err := c.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	st, ok := ds.(interface {
		driver.Stmt
		driver.StmtExecContext
		driver.StmtQueryContext
	})
	if !ok {
		ds.Close()
		return nil
	}
	if len(c.stmts) >= maxCachedStmts {
		for q, old := range c.stmts { // evict one at random
			if !old.open {
				old.stmt.Close()
				delete(c.stmts, q)
				break
			}
		}
	}
	s := &cachedStmt{stmt: st}
	c.stmts[query] = s
	return s
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	s := c.stmt(ctx, query)
	if s == nil || s.open {
		return c.sqliteConn.ExecContext(ctx, query, args)
	}
	return s.stmt.ExecContext(ctx, args)
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	s := c.stmt(ctx, query)
	if s == nil || s.open {
		return c.sqliteConn.QueryContext(ctx, query, args)
	}
	rows, err := s.stmt.QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	s.open = true
	return &cachedRows{Rows: rows, s: s}, nil
}

// Close finalizes the cached statements first: SQLite cannot release a
// connection that still has statements.
func (c *cachingConn) Close() error {
	var errs []error
	for q, s := range c.stmts {
		errs = append(errs, s.stmt.Close())
		delete(c.stmts, q)
	}
	return errors.Join(append(errs, c.sqliteConn.Close())...)
}

// cachedRows releases its statement for reuse when closed. It passes the
// driver's column-type methods through for Rows.ColumnTypes.
type cachedRows struct {
	driver.Rows
	s *cachedStmt
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.s.open = false
	return err
}

func (r *cachedRows) ColumnTypeDatabaseTypeName(i int) string {
	if x, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return x.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *cachedRows) ColumnTypeLength(i int) (int64, bool) {
	if x, ok := r.Rows.(driver.RowsColumnTypeLength); ok {
		return x.ColumnTypeLength(i)
	}
	return 0, false
}

func (r *cachedRows) ColumnTypeNullable(i int) (bool, bool) {
	if x, ok := r.Rows.(driver.RowsColumnTypeNullable); ok {
		return x.ColumnTypeNullable(i)
	}
	return false, false
}

func (r *cachedRows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	if x, ok := r.Rows.(driver.RowsColumnTypePrecisionScale); ok {
		return x.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}

func (r *cachedRows) ColumnTypeScanType(i int) reflect.Type {
	if x, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return x.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}
