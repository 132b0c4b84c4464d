package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/processor"
)

// inFlight returns an error if a capture or void of the payment has no
// settled outcome yet: a second one could double-capture or race a void.
func inFlight(p *kassa.Payment, txns []kassa.Transaction) error {
	for _, x := range txns {
		if (x.Type == kassa.TxnCapture || x.Type == kassa.TxnVoid) && !x.Status.Settled() {
			return kassa.Errorf(kassa.ECONFLICT, "payment_processing",
				"a %s of payment %s is in progress; retry when it has settled", x.Type, p.ID)
		}
	}
	return nil
}

// lastApproved returns the succeeded row of the given types, the parent of follow-on calls.
func lastApproved(txns []kassa.Transaction, types ...kassa.TxnType) *kassa.Transaction {
	for i := len(txns) - 1; i >= 0; i-- {
		for _, t := range types {
			if txns[i].Type == t && txns[i].Status == kassa.TxnSucceeded {
				return &txns[i]
			}
		}
	}
	return nil
}

// followOn writes a pending capture, void or refund row under the payment's
// lock after check approves, then calls the processor and records the result.
func (e *Engine) followOn(ctx context.Context, pr kassa.Principal, id string, typ kassa.TxnType,
	check func(p *kassa.Payment, txns []kassa.Transaction, t kassa.Totals) (amount int64, parent *kassa.Transaction, err error),
	afterInsert func(tx kassa.Tx, p *kassa.Payment, x *kassa.Transaction) error) (*PaymentDetail, *kassa.Transaction, error) {
	var txn *kassa.Transaction
	var parentRef string
	err := e.store.Write(ctx, func(tx kassa.Tx) error {
		p, err := tx.LockPayment(ctx, pr, id)
		if err != nil {
			return err
		}
		txns, err := tx.PaymentTransactions(ctx, p.ID)
		if err != nil {
			return err
		}
		amount, parent, err := check(p, txns, kassa.ComputeTotals(txns))
		if err != nil {
			return err
		}
		if parent == nil {
			return fmt.Errorf("engine: payment %s has no approved transaction to %s", p.ID, typ)
		}
		now := e.now()
		txn = &kassa.Transaction{ID: kassa.NewID("txn"), PaymentID: p.ID, MerchantID: p.MerchantID, Livemode: p.Livemode,
			Type: typ, Status: kassa.TxnPending, Amount: amount, Currency: p.Currency, Processor: parent.Processor,
			ParentID: parent.ID, Created: now, Updated: now}
		parentRef = parent.ProcessorRef
		if err := tx.InsertTransaction(ctx, txn); err != nil {
			return err
		}
		if afterInsert != nil {
			return afterInsert(tx, p, txn)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	resp, callErr := e.call(ctx, typ, processor.Request{Reference: txn.ID, Amount: txn.Amount, Currency: txn.Currency, ParentRef: parentRef})
	d, err := e.record(ctx, txn, resp, callErr)
	return d, txn, err
}

// CapturePayment captures an authorized payment, all of it or amount (one
// capture per authorization; the rest is released, as card networks do).
func (e *Engine) CapturePayment(ctx context.Context, pr kassa.Principal, id string, amount *int64) (*PaymentDetail, error) {
	d, _, err := e.followOn(ctx, pr, id, kassa.TxnCapture,
		func(p *kassa.Payment, txns []kassa.Transaction, t kassa.Totals) (int64, *kassa.Transaction, error) {
			if err := inFlight(p, txns); err != nil {
				return 0, nil, err
			}
			a := t.Authorized
			if amount != nil {
				a = *amount
			}
			if err := p.CheckCapture(a, t); err != nil {
				return 0, nil, err
			}
			return a, lastApproved(txns, kassa.TxnAuthorize), nil
		}, nil)
	return d, err
}

// CancelPayment cancels a payment that has not been captured: an
// authorization is voided at the processor; a payment still awaiting the
// shopper is canceled locally (after checking that a 3-D Secure challenge did
// not succeed meanwhile).
func (e *Engine) CancelPayment(ctx context.Context, pr kassa.Principal, id, reason string) (*PaymentDetail, error) {
	switch reason {
	case "", "duplicate", "fraudulent", "requested_by_customer", "abandoned":
	default:
		return nil, kassa.Invalid("cancellation_reason", "parameter_invalid",
			"cancellation_reason must be one of duplicate, fraudulent, requested_by_customer, abandoned")
	}
	p, err := e.store.Payment(ctx, pr, id)
	if err != nil {
		return nil, err
	}
	if err := p.CheckCancel(); err != nil {
		return nil, err
	}
	if p.Status == kassa.StatusRequiresCapture {
		d, _, err := e.followOn(ctx, pr, id, kassa.TxnVoid,
			func(p *kassa.Payment, txns []kassa.Transaction, t kassa.Totals) (int64, *kassa.Transaction, error) {
				if err := p.CheckCancel(); err != nil {
					return 0, nil, err
				}
				if err := inFlight(p, txns); err != nil {
					return 0, nil, err
				}
				auth := lastApproved(txns, kassa.TxnAuthorize)
				return auth.Amount, auth, nil
			},
			func(tx kassa.Tx, p *kassa.Payment, x *kassa.Transaction) error {
				if reason != "" {
					p.CanceledReason = reason
					return tx.UpdatePayment(ctx, p)
				}
				return nil
			})
		return d, err
	}
	if reason == "" {
		reason = "requested_by_customer"
	}
	return e.abandon(ctx, p, reason)
}

// abandon cancels a payment awaiting the shopper. A payment with an open
// 3-D Secure challenge has a charge the issuer may still approve, so that is
// not a local decision: see abandonChallenge.
func (e *Engine) abandon(ctx context.Context, p *kassa.Payment, reason string) (*PaymentDetail, error) {
	pr := kassa.Principal{MerchantID: p.MerchantID, Livemode: p.Livemode}
	if p.Status == kassa.StatusRequiresAction {
		return e.abandonChallenge(ctx, pr, p.ID, reason)
	}
	var detail *PaymentDetail
	err := e.store.Write(ctx, func(tx kassa.Tx) error {
		p, err := tx.LockPayment(ctx, pr, p.ID)
		if err != nil {
			return err
		}
		if p.Status == kassa.StatusRequiresAction {
			return errChallengeOpened // a confirm raced this cancel
		}
		if p.Status != kassa.StatusRequiresPaymentMethod {
			return kassa.Errorf(kassa.EINVALID, "payment_unexpected_state", "payment %s cannot be canceled in status %s", p.ID, p.Status)
		}
		// Awaiting a payment method, the payment has no charge in flight:
		// every charge row is settled, so canceling is a local decision.
		txns, err := tx.PaymentTransactions(ctx, p.ID)
		if err != nil {
			return err
		}
		now := e.now()
		if p.OrderID != "" {
			if err := tx.ReleaseOrder(ctx, p.MerchantID, p.Livemode, p.OrderID, p.ID); err != nil {
				return err
			}
		}
		p.Status, p.CanceledReason, p.NextAction, p.Updated = kassa.StatusCanceled, reason, nil, now
		if err := tx.UpdatePayment(ctx, p); err != nil {
			return err
		}
		totals := kassa.ComputeTotals(txns)
		detail = &PaymentDetail{Payment: p, Totals: totals}
		return e.event(ctx, tx, kassa.EventPaymentCanceled, p, &totals)
	})
	if errors.Is(err, errChallengeOpened) {
		return e.abandonChallenge(ctx, pr, p.ID, reason)
	}
	return detail, err
}

var errChallengeOpened = errors.New("engine: payment moved to requires_action")

// abandonChallenge cancels a payment whose charge awaits 3-D Secure. Like
// any processor call it writes a pending void row first, then asks the
// processor to void the open authentication. If the void is approved the
// charge can never be approved later (a cardholder clicking Approve after
// the cancel changes nothing) and the payment is canceled. If the processor
// refuses because the cardholder finished first, the charge's real outcome
// is recorded instead and the cancel is refused.
func (e *Engine) abandonChallenge(ctx context.Context, pr kassa.Principal, id, reason string) (*PaymentDetail, error) {
	d, _, err := e.followOn(ctx, pr, id, kassa.TxnVoid,
		func(p *kassa.Payment, txns []kassa.Transaction, t kassa.Totals) (int64, *kassa.Transaction, error) {
			if p.Status != kassa.StatusRequiresAction {
				return 0, nil, kassa.Errorf(kassa.EINVALID, "payment_unexpected_state",
					"payment %s cannot be canceled in status %s", p.ID, p.Status)
			}
			if err := inFlight(p, txns); err != nil {
				return 0, nil, err
			}
			for i := len(txns) - 1; i >= 0; i-- {
				if x := &txns[i]; x.Status == kassa.TxnPending && (x.Type == kassa.TxnAuthorize || x.Type == kassa.TxnSale) {
					return x.Amount, x, nil
				}
			}
			return 0, nil, nil
		},
		func(tx kassa.Tx, p *kassa.Payment, x *kassa.Transaction) error {
			p.CanceledReason = reason
			return tx.UpdatePayment(ctx, p)
		})
	if kassa.ErrorCode(err) != "void_failed" {
		return d, err
	}
	if d, err := e.CompleteAuthentication(ctx, id); d != nil && d.Payment.Status != kassa.StatusRequiresPaymentMethod {
		return d, kassa.Errorf(kassa.EINVALID, "payment_unexpected_state",
			"payment %s finished authentication before the cancel and is now %s", id, d.Payment.Status)
	} else if d == nil {
		return nil, err
	}
	// The challenge failed meanwhile: nothing can be approved any more.
	p, err := e.store.Payment(ctx, pr, id)
	if err != nil {
		return nil, err
	}
	return e.abandon(ctx, p, reason)
}

// CompleteAuthentication is called when the shopper comes back from a 3-D
// Secure challenge: it asks the processor for the outcome and records it.
// It needs no credentials because it only learns what the processor already
// decided; a payment not awaiting authentication is returned unchanged.
func (e *Engine) CompleteAuthentication(ctx context.Context, paymentID string) (*PaymentDetail, error) {
	p, err := e.store.PaymentByID(ctx, paymentID)
	if err != nil {
		return nil, err
	}
	all, err := e.store.Transactions(ctx, []string{p.ID}, false)
	if err != nil {
		return nil, err
	}
	txns := all[p.ID]
	if p.Status != kassa.StatusRequiresAction {
		return &PaymentDetail{Payment: p, Totals: kassa.ComputeTotals(txns)}, nil
	}
	var pending *kassa.Transaction
	for i := range txns {
		if txns[i].Status == kassa.TxnPending && (txns[i].Type == kassa.TxnAuthorize || txns[i].Type == kassa.TxnSale) {
			pending = &txns[i]
		}
	}
	if pending == nil {
		return nil, errors.New("engine: payment requires action without a pending authorization")
	}
	resp, callErr := e.status(ctx, pending.ID)
	if callErr == nil && resp.Outcome == processor.ActionRequired {
		return &PaymentDetail{Payment: p, Totals: kassa.ComputeTotals(txns)}, nil
	}
	return e.record(ctx, pending, resp, callErr)
}

func (e *Engine) status(ctx context.Context, ref string) (processor.Response, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.ProcessorTimeout)
	defer cancel()
	return e.proc.Status(ctx, ref)
}

// RefundParams are the inputs of a refund.
type RefundParams struct {
	PaymentID string
	Amount    *int64 // nil: all that is left
	Reason    string
	Metadata  map[string]string
}

// CreateRefund refunds captured money. The refundable amount is computed
// from the ledger under the payment's lock, counting refunds still in flight,
// so concurrent refunds can never exceed what was captured.
func (e *Engine) CreateRefund(ctx context.Context, pr kassa.Principal, params RefundParams) (*kassa.Refund, error) {
	if params.PaymentID == "" {
		return nil, kassa.Invalid("payment", "parameter_missing", "payment is required")
	}
	if params.Reason != "" && !kassa.RefundReasons[params.Reason] {
		return nil, kassa.Invalid("reason", "parameter_invalid", "reason must be one of duplicate, fraudulent, requested_by_customer")
	}
	if err := checkMetadata(params.Metadata); err != nil {
		return nil, err
	}
	var refund *kassa.Refund
	_, txn, err := e.followOn(ctx, pr, params.PaymentID, kassa.TxnRefund,
		func(p *kassa.Payment, txns []kassa.Transaction, t kassa.Totals) (int64, *kassa.Transaction, error) {
			a := t.Refundable()
			if params.Amount != nil {
				a = *params.Amount
			}
			if err := p.CheckRefund(a, t); err != nil {
				return 0, nil, err
			}
			return a, lastApproved(txns, kassa.TxnSale, kassa.TxnCapture), nil
		},
		func(tx kassa.Tx, p *kassa.Payment, x *kassa.Transaction) error {
			refund = &kassa.Refund{ID: kassa.NewID("re"), PaymentID: p.ID, MerchantID: p.MerchantID, Livemode: p.Livemode,
				TransactionID: x.ID, Amount: x.Amount, Currency: x.Currency, Reason: params.Reason, Metadata: params.Metadata,
				Status: kassa.TxnPending, Created: x.Created}
			if err := tx.InsertRefund(ctx, refund); err != nil {
				return err
			}
			return tx.InsertEvent(ctx, kassa.NewEvent(kassa.EventRefundCreated, p.MerchantID, p.Livemode, p.ID, refund.Object(), x.Created))
		})
	if txn == nil {
		return nil, err
	}
	r, rerr := e.store.Refund(ctx, pr, refund.ID)
	if rerr != nil {
		return nil, rerr
	}
	return r, err
}
