package engine

import (
	"context"

	"github.com/kassa-pay/kassa"
)

// Payment returns a payment of pr with its totals.
func (e *Engine) Payment(ctx context.Context, pr kassa.Principal, id string) (*PaymentDetail, error) {
	p, err := e.store.Payment(ctx, pr, id)
	if err != nil {
		return nil, err
	}
	txns, err := e.store.Transactions(ctx, []string{id}, false)
	if err != nil {
		return nil, err
	}
	return &PaymentDetail{Payment: p, Totals: kassa.ComputeTotals(txns[id])}, nil
}

// ListPayments returns a page of payments, newest first, and whether more follow.
// It reads the page's ledger rows in one query, not one per payment.
func (e *Engine) ListPayments(ctx context.Context, pr kassa.Principal, f kassa.PaymentFilter) ([]*PaymentDetail, bool, error) {
	ps, more, err := e.store.ListPayments(ctx, pr, f)
	if err != nil {
		return nil, false, err
	}
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	txns, err := e.store.Transactions(ctx, ids, false)
	if err != nil {
		return nil, false, err
	}
	out := make([]*PaymentDetail, len(ps))
	for i, p := range ps {
		out[i] = &PaymentDetail{Payment: p, Totals: kassa.ComputeTotals(txns[p.ID])}
	}
	return out, more, nil
}

// PaymentTransactions returns a payment's ledger rows with their status history.
func (e *Engine) PaymentTransactions(ctx context.Context, pr kassa.Principal, id string) ([]kassa.Transaction, error) {
	if _, err := e.store.Payment(ctx, pr, id); err != nil {
		return nil, err
	}
	txns, err := e.store.Transactions(ctx, []string{id}, true)
	return txns[id], err
}

// Refund returns a refund of pr.
func (e *Engine) Refund(ctx context.Context, pr kassa.Principal, id string) (*kassa.Refund, error) {
	return e.store.Refund(ctx, pr, id)
}

// ListRefunds returns a page of refunds, newest first.
func (e *Engine) ListRefunds(ctx context.Context, pr kassa.Principal, f kassa.RefundFilter) ([]*kassa.Refund, bool, error) {
	return e.store.ListRefunds(ctx, pr, f)
}

// Event returns an event of pr.
func (e *Engine) Event(ctx context.Context, pr kassa.Principal, id string) (*kassa.Event, error) {
	return e.store.Event(ctx, pr, id)
}

// ListEvents returns a page of events, newest first.
func (e *Engine) ListEvents(ctx context.Context, pr kassa.Principal, f kassa.EventFilter) ([]*kassa.Event, bool, error) {
	return e.store.ListEvents(ctx, pr, f)
}
