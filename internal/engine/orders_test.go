package engine_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/processor"
)

// flakyPayouts wraps the payout simulator: while lose is set, it makes the
// payout and then loses the answer (a timeout after the money moved).
type flakyPayouts struct {
	inner *processor.PayoutSimulator
	mu    sync.Mutex
	lose  bool
	refs  []string
}

func (f *flakyPayouts) Name() string { return "flaky" }

func (f *flakyPayouts) Payout(ctx context.Context, req processor.PayoutRequest) (processor.PayoutResponse, error) {
	f.mu.Lock()
	f.refs = append(f.refs, req.Reference)
	lose := f.lose
	f.mu.Unlock()
	resp, err := f.inner.Payout(ctx, req)
	if lose {
		return processor.PayoutResponse{}, errors.New("timeout")
	}
	return resp, err
}

func (f *flakyPayouts) references() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.refs...)
}

func (h *harness) paidOrder(mode kassa.PayoutMode, account string) *kassa.Order {
	h.t.Helper()
	r, err := h.eng.CreateRoute(h.ctx, "", kassa.Route{From: "PEN", To: "USD", Rate: "0.27", FeePercent: "1", Min: 100, PayoutMode: mode})
	if err != nil {
		h.t.Fatal(err)
	}
	o, err := h.eng.CreateOrder(h.ctx, h.pr, engine.OrderParams{RouteID: r.ID, Amount: "100", Agreement: true,
		ToValues: []kassa.OrderValue{{Key: "account", Value: account}}})
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.eng.ConfirmPayment(h.ctx, h.pr, o.PaymentID, card("4242424242424242")); err != nil {
		h.t.Fatal(err)
	}
	return h.order(o.ID)
}

func (h *harness) order(id string) *kassa.Order {
	h.t.Helper()
	o, err := h.eng.Order(h.ctx, h.pr, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return o
}

// TestPayoutLostAnswerIsAskedAgainWithTheSameReference: the payout's
// reference is committed before the call; an answer lost in a timeout
// leaves it pending, and the retry (once the grace has passed) uses the
// same reference, so the recipient is paid once.
func TestPayoutLostAnswerIsAskedAgainWithTheSameReference(t *testing.T) {
	eachDialect(t, engine.Config{ReconcileGrace: time.Minute}, func(t *testing.T, h *harness) {
		pp := &flakyPayouts{inner: processor.NewPayoutSimulator(h.db.SQL()), lose: true}
		o := h.paidOrder(kassa.PayoutAutomatic, "ACC12345678")
		if o.Status != kassa.OrderInProgressPayout || !o.Paid {
			t.Fatalf("paid order on an automatic route: %s paid=%t", o.Status, o.Paid)
		}
		if _, err := h.eng.ProcessPayouts(h.ctx, pp, 10); err != nil {
			t.Fatal(err)
		}
		o = h.order(o.ID)
		if o.Status != kassa.OrderInProgressPayout || o.PayoutStatus != kassa.PayoutPending || o.PayoutRef == "" {
			t.Fatalf("after a lost answer: %s %s %q", o.Status, o.PayoutStatus, o.PayoutRef)
		}
		// Not yet stale: another instance may still be waiting for the answer.
		if n, _ := h.eng.ProcessPayouts(h.ctx, pp, 10); n != 0 {
			t.Fatalf("a fresh pending payout was retried (%d)", n)
		}
		// The operator cannot hold an order whose payout may be in flight.
		if _, err := h.eng.ActOnOrder(h.ctx, nil, o.ID, engine.ActionHold, ""); kassa.ErrorCode(err) != "payout_in_progress" {
			t.Fatalf("hold during a payout: %v", err)
		}
		pp.mu.Lock()
		pp.lose = false
		pp.mu.Unlock()
		h.clock.Advance(2 * time.Minute)
		if _, err := h.eng.ProcessPayouts(h.ctx, pp, 10); err != nil {
			t.Fatal(err)
		}
		o = h.order(o.ID)
		if o.Status != kassa.OrderDone || o.PayoutStatus != kassa.PayoutSucceeded {
			t.Fatalf("after the retry: %s %s", o.Status, o.PayoutStatus)
		}
		refs := pp.references()
		if len(refs) != 2 || refs[0] != refs[1] || refs[0] != o.PayoutRef {
			t.Fatalf("payout references %v (order %s)", refs, o.PayoutRef)
		}
		if n := h.count(`SELECT COUNT(*) FROM simulator_payouts`); n != 1 {
			t.Fatalf("%d payouts at the processor, want 1", n)
		}
	})
}

// TestPayoutRacingRunnersPayOnce: runners of several instances find the
// same due order; only one claims the attempt.
func TestPayoutRacingRunnersPayOnce(t *testing.T) {
	eachDialect(t, engine.Config{ReconcileGrace: time.Minute}, func(t *testing.T, h *harness) {
		pp := &flakyPayouts{inner: processor.NewPayoutSimulator(h.db.SQL())}
		o := h.paidOrder(kassa.PayoutAutomatic, "ACC12345678")
		parallel(6, func(int) {
			if _, err := h.eng.ProcessPayouts(h.ctx, pp, 10); err != nil {
				t.Error(err)
			}
		})
		if refs := pp.references(); len(refs) != 1 {
			t.Fatalf("payout called %d times: %v", len(refs), refs)
		}
		if o = h.order(o.ID); o.Status != kassa.OrderDone {
			t.Fatalf("status %s", o.Status)
		}
		if n := h.count(`SELECT COUNT(*) FROM events WHERE type = $1 AND data LIKE $2`, kassa.EventOrderUpdated, `%"status":"done"%`); n != 1 {
			t.Fatalf("%d done events", n)
		}
	})
}

// TestOrderPaymentFormRenewed: the card form's client secret lives 15
// minutes; pressing pay later replaces the order's payment, and the new
// one pays the order.
func TestOrderPaymentFormRenewed(t *testing.T) {
	eachDialect(t, engine.Config{}, func(t *testing.T, h *harness) {
		r, err := h.eng.CreateRoute(h.ctx, h.pr.MerchantID, kassa.Route{From: "PEN", To: "USD", Rate: "0.27", PayoutMode: kassa.PayoutManual})
		if err != nil {
			t.Fatal(err)
		}
		o, err := h.eng.CreateOrder(h.ctx, h.pr, engine.OrderParams{RouteID: r.ID, Amount: "10.50", Agreement: true,
			ToValues: []kassa.OrderValue{{Key: "account", Value: "ACC12345678"}}})
		if err != nil {
			t.Fatal(err)
		}
		_, p1, err := h.eng.StartOrderPayment(h.ctx, o.UID, o.Secret)
		if err != nil || p1.ID != o.PaymentID {
			t.Fatalf("first pay: %v %v", p1, err)
		}
		h.clock.Advance(14 * time.Minute)
		o2, p2, err := h.eng.StartOrderPayment(h.ctx, o.UID, o.Secret)
		if err != nil || p2.ID == p1.ID || o2.PaymentID != p2.ID || p2.Amount != 1050 || p2.Currency != "PEN" {
			t.Fatalf("renewed: %+v %v", p2, err)
		}
		if st := h.payment(p1.ID).Payment.Status; st != kassa.StatusCanceled {
			t.Fatalf("replaced payment is %s", st)
		}
		if _, err := h.eng.ConfirmPayment(h.ctx, h.pr, p2.ID, card("4242424242424242")); err != nil {
			t.Fatal(err)
		}
		if o = h.order(o.ID); o.Status != kassa.OrderInProgress || !o.Paid {
			t.Fatalf("after paying the new payment: %s paid=%t", o.Status, o.Paid)
		}
		if _, _, err := h.eng.StartOrderPayment(h.ctx, o.UID, o.Secret); kassa.ErrorCode(err) != "order_not_payable" {
			t.Fatalf("pay a paid order: %v", err)
		}
		if _, _, err := h.eng.StartOrderPayment(h.ctx, o.UID, o.Secret+"x"); kassa.ErrorKind(err) != kassa.ENOTFOUND {
			t.Fatalf("wrong secret: %v", err)
		}
	})
}
