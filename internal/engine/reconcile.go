package engine

import (
	"context"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/processor"
)

// ReconcileReport counts what one reconciler pass did.
type ReconcileReport struct {
	Checked  int // unsettled transactions asked about
	Resolved int // of which now settled
	Expired  int // payments canceled because they expired
	Errors   int
}

// Reconcile resolves ledger rows left pending by a crash or unknown by a
// timeout, by asking the processor for each one's true outcome (Kill Bill's
// janitor, Hyperswitch's psync); cancels payments that expired while awaiting
// the shopper; and forgets idempotency keys past their TTL. It is safe to run
// in several instances at once: results are applied through the same
// idempotent path as live calls.
func (e *Engine) Reconcile(ctx context.Context) ReconcileReport {
	var rep ReconcileReport
	now := e.now()
	for {
		txns, err := e.store.UnsettledTransactions(ctx, now.Add(-e.cfg.ReconcileGrace), 200)
		if err != nil {
			e.log.Error("reconcile: list unsettled transactions", "err", err)
			rep.Errors++
			break
		}
		progressed := false
		for i := range txns {
			x := &txns[i]
			rep.Checked++
			resp, err := e.status(ctx, x.ID)
			if err != nil {
				e.log.Warn("reconcile: processor status unavailable", "transaction", x.ID, "err", err)
				rep.Errors++
				continue
			}
			if resp.Outcome == processor.ActionRequired {
				continue // the shopper has not finished 3-D Secure; expiry handles abandonment
			}
			if _, err := e.record(ctx, x, resp, nil); err != nil && kassa.ErrorKind(err) == kassa.EINTERNAL {
				e.log.Error("reconcile: record outcome", "transaction", x.ID, "err", err)
				rep.Errors++
				continue
			}
			rep.Resolved++
			progressed = true
			e.log.Info("reconciled transaction", "transaction", x.ID, "payment", x.PaymentID, "type", x.Type, "outcome", resp.Outcome)
		}
		if len(txns) < 200 || !progressed {
			break
		}
	}
	expired, err := e.store.ExpiredPayments(ctx, now, 500)
	if err != nil {
		e.log.Error("reconcile: list expired payments", "err", err)
		rep.Errors++
	}
	for _, p := range expired {
		if _, err := e.abandon(ctx, p, "expired"); err != nil {
			if kassa.ErrorKind(err) == kassa.EINTERNAL {
				e.log.Error("reconcile: expire payment", "payment", p.ID, "err", err)
				rep.Errors++
			}
			continue
		}
		rep.Expired++
	}
	if err := e.store.Write(ctx, func(tx kassa.Tx) error {
		_, err := tx.DeleteIdempotencyKeys(ctx, now.Add(-e.cfg.IdempotencyTTL))
		return err
	}); err != nil {
		e.log.Error("reconcile: prune idempotency keys", "err", err)
		rep.Errors++
	}
	return rep
}

// RunReconciler runs Reconcile now and then every interval until ctx ends.
func (e *Engine) RunReconciler(ctx context.Context, interval time.Duration) {
	for {
		rep := e.Reconcile(ctx)
		if rep.Checked+rep.Expired+rep.Errors > 0 {
			e.log.Info("reconciler pass", "checked", rep.Checked, "resolved", rep.Resolved, "expired", rep.Expired, "errors", rep.Errors)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}
