package engine_test

import (
	"testing"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/processor"
)

// TestChargeAttemptsAreBounded: a payment takes a bounded number of
// declined charges; after that it refuses confirms (a card-testing loop on
// one payment ends) and changes nothing, while a new payment of the same
// order can still be paid.
func TestChargeAttemptsAreBounded(t *testing.T) {
	eachDialect(t, engine.Config{MaxChargeAttempts: 3}, func(t *testing.T, h *harness) {
		p := h.create(1000, "attempts-1", kassa.CaptureAutomatic)
		for i := 0; i < 3; i++ {
			if _, err := h.eng.ConfirmPayment(h.ctx, h.pr, p.ID, card(processor.CardDeclined)); kassa.ErrorKind(err) != kassa.ECARD {
				t.Fatalf("attempt %d: %v, want a decline", i+1, err)
			}
		}
		before := h.snapshot(p.ID)
		_, err := h.eng.ConfirmPayment(h.ctx, h.pr, p.ID, card(visa))
		if kassa.ErrorKind(err) != kassa.EINVALID || kassa.ErrorCode(err) != "payment_attempts_exceeded" {
			t.Fatalf("fourth attempt: %v, want payment_attempts_exceeded", err)
		}
		h.sameSnapshot("refused attempt", before, p.ID)
		if n := h.count(`SELECT COUNT(*) FROM simulator_operations WHERE amount = 1000`); n != 3 {
			t.Fatalf("the processor saw %d charges, want 3", n)
		}
		// The order is free again: a new payment for it succeeds.
		if d, err := h.pay(1000, "attempts-1", kassa.CaptureAutomatic, visa); err != nil || d.Payment.Status != kassa.StatusSucceeded {
			t.Fatalf("new payment of the order: %+v, %v", d, err)
		}
	})
}
