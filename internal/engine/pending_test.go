package engine_test

import (
	"context"
	"sync"
	"testing"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/processor"
)

// TestPendingFirst: while the processor is being called, the ledger row of
// that call is already committed as pending, readable by another connection;
// for charges the payment is committed as processing and holds its order;
// for refunds the refund and its refund.created event are committed.
func TestPendingFirst(t *testing.T) {
	eachDialect(t, engine.Config{}, func(t *testing.T, h *harness) {
		var mu sync.Mutex
		calls := map[string]int{}
		h.proc.set(func(ctx context.Context, op string, req processor.Request, next func() (processor.Response, error)) (processor.Response, error) {
			if op == "status" {
				return next()
			}
			mu.Lock()
			calls[op]++
			mu.Unlock()
			// A separate read (the read pool, not the engine's transaction).
			x, err := h.db.Transaction(ctx, req.Reference)
			if err != nil {
				t.Errorf("%s: ledger row %s is not committed before the processor call: %v", op, req.Reference, err)
				return next()
			}
			if x.Status != kassa.TxnPending || string(x.Type) != op || x.Amount != req.Amount || x.Currency != req.Currency {
				t.Errorf("%s: committed row = %s %s %d %s; want pending %s %d %s", op, x.Type, x.Status, x.Amount, x.Currency, op, req.Amount, req.Currency)
			}
			switch op {
			case "sale", "authorize":
				p, err := h.db.PaymentByID(ctx, x.PaymentID)
				if err != nil || p.Status != kassa.StatusProcessing {
					t.Errorf("%s: payment during the call = %v, %v; want processing", op, p, err)
				}
				if holder := h.claim(req.OrderID); holder != x.PaymentID {
					t.Errorf("%s: order %s held by %q during the call, want %s", op, req.OrderID, holder, x.PaymentID)
				}
			case "refund":
				rs, _, err := h.eng.ListRefunds(ctx, h.pr, kassa.RefundFilter{Page: kassa.Page{Limit: 10}, PaymentID: x.PaymentID})
				found := false
				for _, r := range rs {
					found = found || (r.TransactionID == x.ID && r.Status == kassa.TxnPending)
				}
				if err != nil || !found {
					t.Errorf("refund: no committed pending refund for %s (%v)", x.ID, err)
				}
				if got := h.eventTypes(x.PaymentID); got[len(got)-1] != kassa.EventRefundCreated {
					t.Errorf("refund: events during the call = %v, want refund.created last", got)
				}
			}
			return next()
		})

		sale := h.mustPay(1000, "pf-sale", kassa.CaptureAutomatic)
		if _, err := h.eng.CreateRefund(h.ctx, h.pr, engine.RefundParams{PaymentID: sale.Payment.ID, Amount: i64(300)}); err != nil {
			t.Fatal(err)
		}
		auth := h.mustPay(1000, "pf-auth", kassa.CaptureManual)
		if d, err := h.eng.CapturePayment(h.ctx, h.pr, auth.Payment.ID, nil); err != nil || d.Payment.Status != kassa.StatusSucceeded {
			t.Fatalf("capture: %v", err)
		}
		// Confirming an existing payment takes the same path as create-and-confirm.
		p := h.create(500, "pf-void", kassa.CaptureManual)
		if _, err := h.eng.ConfirmPayment(h.ctx, h.pr, p.ID, card(visa)); err != nil {
			t.Fatal(err)
		}
		if d, err := h.eng.CancelPayment(h.ctx, h.pr, p.ID, ""); err != nil || d.Payment.Status != kassa.StatusCanceled {
			t.Fatalf("cancel: %v", err)
		}
		want := map[string]int{"sale": 1, "refund": 1, "authorize": 2, "capture": 1, "void": 1}
		mu.Lock()
		defer mu.Unlock()
		for op, n := range want {
			if calls[op] != n {
				t.Errorf("%s calls = %d, want %d (all: %v)", op, calls[op], n, calls)
			}
		}
	})
}
