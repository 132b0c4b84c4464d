package engine_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/processor"
)

var errReset = fmt.Errorf("%w: connection reset by peer", processor.ErrUnknownOutcome)

// loseAnswer makes the real call for ops, then loses its answer: the
// processor acted, the engine does not know.
func loseAnswer(ops ...string) hookFunc {
	return func(ctx context.Context, op string, req processor.Request, next func() (processor.Response, error)) (processor.Response, error) {
		if !slices.Contains(ops, op) {
			return next()
		}
		if _, err := next(); err != nil {
			panic(err)
		}
		return processor.Response{}, errReset
	}
}

// neverArrives fails ops without calling the processor: the request was lost
// on the way, no money moved.
func neverArrives(ops ...string) hookFunc {
	return func(ctx context.Context, op string, req processor.Request, next func() (processor.Response, error)) (processor.Response, error) {
		if !slices.Contains(ops, op) {
			return next()
		}
		return processor.Response{}, errReset
	}
}

// crashAfter makes the real call (or not) and then kills the calling
// goroutine before the engine can record anything, as a process dying
// between the processor call and the result's commit.
func crashAfter(call bool, ops ...string) hookFunc {
	return func(ctx context.Context, op string, req processor.Request, next func() (processor.Response, error)) (processor.Response, error) {
		if !slices.Contains(ops, op) {
			return next()
		}
		if call {
			if _, err := next(); err != nil {
				panic(err)
			}
		}
		runtime.Goexit()
		panic("unreachable")
	}
}

// inCrashingGoroutine runs f in a goroutine that the processor hook may end
// with runtime.Goexit, and waits for it.
func inCrashingGoroutine(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
}

func onlyPayment(t *testing.T, h *harness, orderID string) *kassa.Payment {
	t.Helper()
	ps, _, err := h.eng.ListPayments(h.ctx, h.pr, kassa.PaymentFilter{Page: kassa.Page{Limit: 10}, OrderID: orderID})
	if err != nil || len(ps) != 1 {
		t.Fatalf("payments of order %s: %d, %v", orderID, len(ps), err)
	}
	return ps[0].Payment
}

func wantTxn(t *testing.T, h *harness, paymentID string, typ kassa.TxnType, status kassa.TxnStatus) kassa.Transaction {
	t.Helper()
	for _, x := range h.txns(paymentID) {
		if x.Type == typ {
			if x.Status != status {
				t.Errorf("payment %s: %s transaction is %s, want %s", paymentID, typ, x.Status, status)
			}
			return x
		}
	}
	t.Fatalf("payment %s has no %s transaction", paymentID, typ)
	return kassa.Transaction{}
}

// TestReconcileLostOutcome: a call whose answer was lost leaves the
// transaction unknown and the payment processing; the reconciler asks the
// processor and applies the truth: approved if the processor acted, failed
// (with the payment retryable and its order released) if it never got the
// request.
func TestReconcileLostOutcome(t *testing.T) {
	eachDialect(t, engine.Config{}, func(t *testing.T, h *harness) {
		h.proc.set(loseAnswer("sale", "authorize"))
		sale, err := h.pay(1000, "lost-sale", kassa.CaptureAutomatic, visa)
		if err != nil {
			t.Fatalf("lost sale: %v", err)
		}
		auth, err := h.pay(700, "lost-auth", kassa.CaptureManual, visa)
		if err != nil {
			t.Fatalf("lost authorization: %v", err)
		}
		h.proc.set(neverArrives("sale"))
		lost, err := h.pay(500, "never-arrived", kassa.CaptureAutomatic, visa)
		if err != nil {
			t.Fatalf("lost request: %v", err)
		}
		h.proc.set(nil)

		for _, d := range []*engine.PaymentDetail{sale, auth, lost} {
			if d.Payment.Status != kassa.StatusProcessing {
				t.Errorf("%s: status %s, want processing", d.Payment.OrderID, d.Payment.Status)
			}
			if p := h.payment(d.Payment.ID); p.Payment.Status != kassa.StatusProcessing || p.Totals != (kassa.Totals{}) {
				t.Errorf("%s: stored %s %+v, want processing with no money", d.Payment.OrderID, p.Payment.Status, p.Totals)
			}
			if h.claim(d.Payment.OrderID) != d.Payment.ID {
				t.Errorf("%s: order not held while the outcome is unknown", d.Payment.OrderID)
			}
			if got := h.eventTypes(d.Payment.ID); !slices.Equal(got, []string{kassa.EventPaymentCreated}) {
				t.Errorf("%s: events %v before the outcome is known", d.Payment.OrderID, got)
			}
		}
		wantTxn(t, h, sale.Payment.ID, kassa.TxnSale, kassa.TxnUnknown)
		wantTxn(t, h, auth.Payment.ID, kassa.TxnAuthorize, kassa.TxnUnknown)
		wantTxn(t, h, lost.Payment.ID, kassa.TxnSale, kassa.TxnUnknown)
		// A payment whose outcome is unknown can be neither canceled nor confirmed again.
		_, err = h.eng.CancelPayment(h.ctx, h.pr, sale.Payment.ID, "")
		wantErr(t, "cancel while processing", err, kassa.ECONFLICT, "payment_processing")
		_, err = h.eng.ConfirmPayment(h.ctx, h.pr, lost.Payment.ID, card(visa))
		wantErr(t, "confirm while processing", err, kassa.EINVALID, "payment_unexpected_state")

		// Unknown rows are reconciled at once, without waiting for the grace period.
		rep := h.reconcile()
		if rep.Checked != 3 || rep.Resolved != 3 {
			t.Errorf("reconcile report %+v, want 3 checked and resolved", rep)
		}
		if d := h.payment(sale.Payment.ID); d.Payment.Status != kassa.StatusSucceeded || d.Totals.Captured != 1000 {
			t.Errorf("lost sale after reconcile: %s %+v", d.Payment.Status, d.Totals)
		}
		x := wantTxn(t, h, sale.Payment.ID, kassa.TxnSale, kassa.TxnSucceeded)
		if x.ProcessorRef == "" || x.AuthorizationCode == "" {
			t.Errorf("reconciled sale lacks processor fields: %+v", x)
		}
		if d := h.payment(auth.Payment.ID); d.Payment.Status != kassa.StatusRequiresCapture || d.Totals.Authorized != 700 {
			t.Errorf("lost authorization after reconcile: %s %+v", d.Payment.Status, d.Totals)
		}
		if got := h.eventTypes(sale.Payment.ID); !slices.Equal(got, []string{kassa.EventPaymentCreated, kassa.EventPaymentSucceeded}) {
			t.Errorf("lost sale events %v", got)
		}
		if got := h.eventTypes(auth.Payment.ID); !slices.Equal(got, []string{kassa.EventPaymentCreated, kassa.EventPaymentAuthorized}) {
			t.Errorf("lost authorization events %v", got)
		}
		// The recovered authorization is a real one: it can be captured.
		if d, err := h.eng.CapturePayment(h.ctx, h.pr, auth.Payment.ID, nil); err != nil || d.Totals.Captured != 700 {
			t.Errorf("capture the reconciled authorization: %v", err)
		}

		d := h.payment(lost.Payment.ID)
		if d.Payment.Status != kassa.StatusRequiresPaymentMethod || d.Payment.LastError == nil || d.Totals != (kassa.Totals{}) {
			t.Errorf("never-arrived payment after reconcile: %s %+v %+v", d.Payment.Status, d.Payment.LastError, d.Totals)
		}
		if x := wantTxn(t, h, lost.Payment.ID, kassa.TxnSale, kassa.TxnFailed); x.DeclineCode != "processor_no_record" {
			t.Errorf("never-arrived transaction decline code %q", x.DeclineCode)
		}
		if h.claim("never-arrived") != "" {
			t.Error("order of the never-arrived payment is still held")
		}
		if got := h.eventTypes(lost.Payment.ID); !slices.Equal(got, []string{kassa.EventPaymentCreated, kassa.EventPaymentFailed}) {
			t.Errorf("never-arrived events %v", got)
		}
		// The order is free: another payment of it succeeds, and the shopper
		// could also have retried the same payment.
		other := h.mustPay(500, "never-arrived", kassa.CaptureAutomatic)
		if h.claim("never-arrived") != other.Payment.ID {
			t.Error("the new payment does not hold the order")
		}
		_, err = h.eng.ConfirmPayment(h.ctx, h.pr, lost.Payment.ID, card(visa))
		wantErr(t, "retry the old payment of a paid order", err, kassa.ECONFLICT, "order_already_paid")

		// A second pass changes nothing: record is idempotent.
		before := h.snapshot(sale.Payment.ID)
		if rep := h.reconcile(); rep.Checked != 0 {
			t.Errorf("second pass checked %d", rep.Checked)
		}
		h.sameSnapshot("a second reconcile pass", before, sale.Payment.ID)
	})
}

// TestReconcileLostRefund: a refund whose answer was lost stays pending,
// still counts against what is refundable, and is settled by the reconciler.
func TestReconcileLostRefund(t *testing.T) {
	eachDialect(t, engine.Config{}, func(t *testing.T, h *harness) {
		d := h.mustPay(1000, "lost-refund", kassa.CaptureAutomatic)
		h.proc.set(loseAnswer("refund"))
		r, err := h.eng.CreateRefund(h.ctx, h.pr, engine.RefundParams{PaymentID: d.Payment.ID, Amount: i64(400)})
		h.proc.set(nil)
		if err != nil || r.Status != kassa.TxnUnknown || r.Object().Status != "pending" {
			t.Fatalf("lost refund: %+v, %v", r, err)
		}
		if tot := h.payment(d.Payment.ID).Totals; tot.Refunded != 0 || tot.RefundReserved != 400 {
			t.Errorf("totals with the refund in doubt: %+v", tot)
		}
		_, err = h.eng.CreateRefund(h.ctx, h.pr, engine.RefundParams{PaymentID: d.Payment.ID, Amount: i64(601)})
		wantErr(t, "refund over what the refund in doubt leaves", err, kassa.EINVALID, "amount_too_large")

		h.reconcile()
		r, err = h.eng.Refund(h.ctx, h.pr, r.ID)
		if err != nil || r.Status != kassa.TxnSucceeded {
			t.Fatalf("refund after reconcile: %+v, %v", r, err)
		}
		if tot := h.payment(d.Payment.ID).Totals; tot.Refunded != 400 || tot.RefundReserved != 0 || tot.Refundable() != 600 {
			t.Errorf("totals after reconcile: %+v", tot)
		}
		want := []string{kassa.EventPaymentCreated, kassa.EventPaymentSucceeded, kassa.EventRefundCreated, kassa.EventRefundSucceeded}
		if got := h.eventTypes(d.Payment.ID); !slices.Equal(got, want) {
			t.Errorf("events %v, want %v", got, want)
		}
	})
}

// TestReconcileAfterCrash: the process dies between the pending commit and
// the result (pending rows remain). The reconciler leaves rows younger than
// ReconcileGrace alone (their call may still be in flight) and resolves older
// ones from the processor's records.
func TestReconcileAfterCrash(t *testing.T) {
	eachDialect(t, engine.Config{ReconcileGrace: time.Minute}, func(t *testing.T, h *harness) {
		h.proc.set(crashAfter(true, "sale"))
		inCrashingGoroutine(func() { h.eng.CreatePayment(h.ctx, h.pr, params(1000, "crash-acted", ""), card(visa)) })
		h.proc.set(crashAfter(false, "sale"))
		inCrashingGoroutine(func() { h.eng.CreatePayment(h.ctx, h.pr, params(1000, "crash-before", ""), card(visa)) })
		h.proc.set(crashAfter(true, "authorize"))
		inCrashingGoroutine(func() {
			h.eng.CreatePayment(h.ctx, h.pr, params(800, "crash-auth", kassa.CaptureManual), card(visa))
		})
		h.proc.set(nil)

		acted, before, auth := onlyPayment(t, h, "crash-acted"), onlyPayment(t, h, "crash-before"), onlyPayment(t, h, "crash-auth")
		for _, p := range []*kassa.Payment{acted, before, auth} {
			if p.Status != kassa.StatusProcessing || h.claim(p.OrderID) != p.ID {
				t.Errorf("%s after the crash: %s, claim %q", p.OrderID, p.Status, h.claim(p.OrderID))
			}
		}
		wantTxn(t, h, acted.ID, kassa.TxnSale, kassa.TxnPending)
		wantTxn(t, h, before.ID, kassa.TxnSale, kassa.TxnPending)
		wantTxn(t, h, auth.ID, kassa.TxnAuthorize, kassa.TxnPending)

		if rep := h.reconcile(); rep.Checked != 0 {
			t.Errorf("reconciler touched %d pending rows younger than the grace period", rep.Checked)
		}
		wantTxn(t, h, acted.ID, kassa.TxnSale, kassa.TxnPending)

		h.clock.Advance(2 * time.Minute)
		if rep := h.reconcile(); rep.Checked != 3 || rep.Resolved != 3 {
			t.Errorf("reconcile report %+v, want 3 checked and resolved", rep)
		}
		if d := h.payment(acted.ID); d.Payment.Status != kassa.StatusSucceeded || d.Totals.Captured != 1000 {
			t.Errorf("crash after the sale: %s %+v", d.Payment.Status, d.Totals)
		}
		if d := h.payment(auth.ID); d.Payment.Status != kassa.StatusRequiresCapture || d.Totals.Authorized != 800 {
			t.Errorf("crash after the authorization: %s %+v", d.Payment.Status, d.Totals)
		}
		if d := h.payment(before.ID); d.Payment.Status != kassa.StatusRequiresPaymentMethod || d.Totals != (kassa.Totals{}) {
			t.Errorf("crash before the call: %s %+v", d.Payment.Status, d.Totals)
		}
		if h.claim("crash-before") != "" || h.claim("crash-acted") != acted.ID {
			t.Errorf("claims after reconcile: before=%q acted=%q", h.claim("crash-before"), h.claim("crash-acted"))
		}
		h.mustPay(1000, "crash-before", kassa.CaptureAutomatic)
	})
}

// TestTimeoutCard: the simulator's timeout card is charged but its answer
// never comes back. The payment is processing with an unknown transaction
// until the reconciler learns that it succeeded.
func TestTimeoutCard(t *testing.T) {
	eachDialect(t, engine.Config{}, func(t *testing.T, h *harness) {
		for _, capture := range []kassa.CaptureMethod{kassa.CaptureAutomatic, kassa.CaptureManual} {
			p := h.create(2500, "timeout-"+string(capture), capture)
			d, err := h.eng.ConfirmPayment(h.ctx, h.pr, p.ID, card(processor.CardTimeout))
			if err != nil {
				t.Fatalf("%s: confirm: %v", capture, err)
			}
			if d.Payment.Status != kassa.StatusProcessing {
				t.Errorf("%s: status %s, want processing", capture, d.Payment.Status)
			}
			typ := kassa.TxnSale
			if capture == kassa.CaptureManual {
				typ = kassa.TxnAuthorize
			}
			if x := wantTxn(t, h, p.ID, typ, kassa.TxnUnknown); x.Message == "" {
				t.Errorf("unknown transaction has no message: %+v", x)
			}
		}
		h.reconcile()
		if d := h.payment(onlyPayment(t, h, "timeout-automatic").ID); d.Payment.Status != kassa.StatusSucceeded || d.Totals.Captured != 2500 {
			t.Errorf("automatic after reconcile: %s %+v", d.Payment.Status, d.Totals)
		}
		if d := h.payment(onlyPayment(t, h, "timeout-manual").ID); d.Payment.Status != kassa.StatusRequiresCapture || d.Totals.Authorized != 2500 {
			t.Errorf("manual after reconcile: %s %+v", d.Payment.Status, d.Totals)
		}
	})
}

// TestReconcileStatusUnavailable: when the processor cannot answer Status,
// the transaction stays unknown and the payment processing; nothing is guessed.
func TestReconcileStatusUnavailable(t *testing.T) {
	eachDialect(t, engine.Config{}, func(t *testing.T, h *harness) {
		h.proc.set(loseAnswer("sale"))
		d, err := h.pay(1000, "status-down", kassa.CaptureAutomatic, visa)
		if err != nil {
			t.Fatal(err)
		}
		h.proc.set(neverArrives("status"))
		before := h.snapshot(d.Payment.ID)
		if rep := h.eng.Reconcile(h.ctx); rep.Errors != 1 || rep.Resolved != 0 {
			t.Errorf("report %+v, want one error", rep)
		}
		h.sameSnapshot("reconcile without processor status", before, d.Payment.ID)
		h.proc.set(nil)
		h.reconcile()
		if p := h.payment(d.Payment.ID); p.Payment.Status != kassa.StatusSucceeded {
			t.Errorf("after the processor is back: %s", p.Payment.Status)
		}
	})
}
