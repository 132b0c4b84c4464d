package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/kassa-pay/kassa"
)

// Group commit (SQLite).
//
// A durable commit costs an fsync, and SQLite has one writer, so committing
// each Write on its own caps throughput at the disk's fsync rate. Instead a
// single committer goroutine takes every Write waiting in its queue, runs
// them one after another inside one transaction, each in its own SAVEPOINT,
// and commits once: N writes, one fsync. Durability is unchanged: Write
// returns only after the COMMIT that contains it is on disk.
//
// Isolation between the batched writes is that of running them one after
// another: each sees the ones before it, and a Write whose fn fails is rolled
// back to its savepoint without touching the others. If the COMMIT itself
// fails, every Write of the batch gets the error and none of them happened.
// There is no artificial delay: a batch is whatever queued while the previous
// one was committing.

// maxBatch bounds a batch so one commit never holds many callers' latency.
const maxBatch = 256

type writeReq struct {
	ctx  context.Context
	fn   func(kassa.Tx) error
	err  error
	pan  any // a panic in fn, re-raised in the caller
	done chan struct{}
}

var errClosed = errors.New("store: database closed")

func (db *DB) startCommitter() {
	db.queue = make(chan *writeReq, maxBatch)
	db.stop = make(chan struct{})
	db.stopped = make(chan struct{})
	go db.committer()
}

func (db *DB) committer() {
	defer close(db.stopped)
	batch := make([]*writeReq, 0, maxBatch)
	for {
		select {
		case r := <-db.queue:
			batch = append(batch[:0], r)
		case <-db.stop:
			for {
				select {
				case r := <-db.queue:
					r.err = errClosed
					close(r.done)
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-db.queue:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		db.commitBatch(batch)
	}
}

func (db *DB) commitBatch(batch []*writeReq) {
	defer func() {
		for _, r := range batch {
			close(r.done)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sqlTx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		for _, r := range batch {
			r.err = fmt.Errorf("store: begin: %w", err)
		}
		return
	}
	t := &tx{db: db, tx: sqlTx}
	ran := 0
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		if _, err := sqlTx.ExecContext(ctx, "SAVEPOINT w"); err != nil {
			r.err = fmt.Errorf("store: savepoint: %w", err)
			continue
		}
		r.err, r.pan = runFn(r.fn, t)
		if r.err != nil || r.pan != nil {
			if _, err := sqlTx.ExecContext(ctx, "ROLLBACK TO w"); err != nil {
				// The transaction can no longer be trusted: abandon the batch.
				sqlTx.Rollback()
				for _, b := range batch {
					if b.err == nil && b.pan == nil {
						b.err = fmt.Errorf("store: rollback to savepoint: %w", err)
					}
				}
				return
			}
		} else {
			ran++
		}
		if _, err := sqlTx.ExecContext(ctx, "RELEASE w"); err != nil {
			sqlTx.Rollback()
			for _, b := range batch {
				if b.err == nil && b.pan == nil {
					b.err = fmt.Errorf("store: release savepoint: %w", err)
				}
			}
			return
		}
	}
	if ran == 0 {
		sqlTx.Rollback()
		return
	}
	if err := sqlTx.Commit(); err != nil {
		for _, r := range batch {
			if r.err == nil && r.pan == nil {
				r.err = fmt.Errorf("store: commit: %w", err)
			}
		}
	}
}

func runFn(fn func(kassa.Tx) error, t *tx) (err error, pan any) {
	defer func() {
		if v := recover(); v != nil {
			pan = v
		}
	}()
	return fn(t), nil
}

// writeBatched queues fn for the committer and waits for its commit.
func (db *DB) writeBatched(ctx context.Context, fn func(kassa.Tx) error) error {
	r := &writeReq{ctx: ctx, fn: fn, done: make(chan struct{})}
	select {
	case db.queue <- r:
	case <-db.stop:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	<-r.done // once queued, wait: the batch may already be running fn
	if r.pan != nil {
		panic(r.pan)
	}
	return r.err
}

// Shared is a handle on the gateway's database for components that keep
// tables of their own in it (the test acquirer). Its writes go through
// Write, so on SQLite they join group commits instead of costing an fsync of
// their own on the single writer connection; its reads use the read pool.
type Shared struct{ db *DB }

// Shared returns the database's shared handle.
func (db *DB) Shared() *Shared { return &Shared{db: db} }

// ExecContext runs one statement in its own write and returns after it is
// committed.
func (s *Shared) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s.db.queue == nil {
		// PostgreSQL: a statement in autocommit is its own transaction,
		// durable when it returns; BEGIN and COMMIT around it would only
		// add two round trips.
		return s.db.write.ExecContext(ctx, query, args...)
	}
	var res sql.Result
	err := s.db.Write(ctx, func(k kassa.Tx) error {
		var err error
		res, err = k.(*tx).tx.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}

// QueryRowContext reads committed data.
func (s *Shared) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return s.db.read.QueryRowContext(ctx, query, args...)
}
