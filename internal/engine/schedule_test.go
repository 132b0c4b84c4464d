package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/processor"
)

// TestIdempotencyKeptADay: with the default configuration a stored
// Idempotency-Key response is replayed for at least 24 hours, reconciler
// passes included; only after that does the reconciler forget it.
func TestIdempotencyKeptADay(t *testing.T) {
	eachDialect(t, engine.Config{}, func(t *testing.T, h *harness) {
		if ttl := h.eng.Config().IdempotencyTTL; ttl < 24*time.Hour {
			t.Fatalf("default IdempotencyTTL %v, want at least 24h", ttl)
		}
		if k, err := h.eng.BeginIdempotent(h.ctx, h.pr, "day-1", "fp"); k != nil || err != nil {
			t.Fatalf("first use: %+v, %v", k, err)
		}
		if err := h.eng.FinishIdempotent(h.ctx, h.pr, "day-1", 201, []byte(`{"id":"pay_day"}`)); err != nil {
			t.Fatal(err)
		}
		for _, step := range []time.Duration{time.Hour, 12 * time.Hour, 10*time.Hour + 59*time.Minute} { // 23h59m in all
			h.clock.Advance(step)
			h.reconcile()
			k, err := h.eng.BeginIdempotent(h.ctx, h.pr, "day-1", "fp")
			if err != nil || k == nil || string(k.Response) != `{"id":"pay_day"}` {
				t.Fatalf("replay after %v more: %+v, %v", step, k, err)
			}
			_, err = h.eng.BeginIdempotent(h.ctx, h.pr, "day-1", "other")
			wantErr(t, "reused key within the day", err, kassa.EIDEMPOTENCY, "idempotency_key_reused")
		}
		h.clock.Advance(2 * time.Minute)
		h.reconcile()
		if k, err := h.eng.BeginIdempotent(h.ctx, h.pr, "day-1", "other"); k != nil || err != nil {
			t.Errorf("key still kept after 24h and a reconciler pass: %+v, %v", k, err)
		}
	})
}

// TestRunReconcilerSchedule: RunReconciler makes a pass as soon as it
// starts (kassa serve resolves what a crash left at start) and then one per
// interval (every minute in kassa serve).
func TestRunReconcilerSchedule(t *testing.T) {
	eachDialect(t, engine.Config{}, func(t *testing.T, h *harness) {
		// A timed-out charge leaves an unknown row and a processing payment.
		timedOut := func(order string) string {
			d, err := h.eng.CreatePayment(h.ctx, h.pr, params(1500, order, kassa.CaptureAutomatic), card(processor.CardTimeout))
			if err != nil || d.Payment.Status != kassa.StatusProcessing {
				t.Fatalf("timeout card: %+v, %v", d, err)
			}
			return d.Payment.ID
		}
		waitSucceeded := func(what, id string) {
			t.Helper()
			deadline := time.Now().Add(20 * time.Second)
			for time.Now().Before(deadline) {
				if h.payment(id).Payment.Status == kassa.StatusSucceeded {
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			t.Fatalf("%s: payment %s still %s", what, id, h.payment(id).Payment.Status)
		}
		run := func(interval time.Duration) (stop func()) {
			ctx, cancel := context.WithCancel(h.ctx)
			done := make(chan struct{})
			go func() { h.eng.RunReconciler(ctx, interval); close(done) }()
			return func() { cancel(); <-done }
		}

		// At start: the pass runs before the first interval (an hour) ends.
		first := timedOut("sched-1")
		h.clock.Advance(2 * time.Minute) // past the reconcile grace
		stop := run(time.Hour)
		waitSucceeded("pass at start", first)
		stop()

		// Every interval: a row that appears while it runs is resolved by a later pass.
		stop = run(30 * time.Millisecond)
		defer stop()
		second := timedOut("sched-2")
		if st := h.payment(second).Payment.Status; st != kassa.StatusProcessing {
			t.Fatalf("within the grace period the reconciler left it alone, but it is %s", st)
		}
		h.clock.Advance(2 * time.Minute)
		waitSucceeded("a later pass", second)
	})
}
