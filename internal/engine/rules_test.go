package engine_test

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/processor"
)

// TestOneOrderPaidOnce: 50 payments of one order are confirmed at the same
// moment (50 browser tabs). Exactly one reaches the processor and succeeds;
// the others are refused with order_already_paid and leave no ledger row.
func TestOneOrderPaidOnce(t *testing.T) {
	eachDialect(t, engine.Config{}, func(t *testing.T, h *harness) {
		const n = 50
		ids := make([]string, n)
		for i := range ids {
			ids[i] = h.create(1999, "order-race", kassa.CaptureAutomatic).ID
		}
		errs := make([]error, n)
		parallel(n, func(i int) {
			_, errs[i] = h.eng.ConfirmPayment(h.ctx, h.pr, ids[i], card(visa))
		})
		winner := ""
		for i, err := range errs {
			switch {
			case err == nil:
				if winner != "" {
					t.Errorf("two payments of one order succeeded: %s and %s", winner, ids[i])
				}
				winner = ids[i]
			case kassa.ErrorKind(err) == kassa.ECONFLICT && kassa.ErrorCode(err) == "order_already_paid":
				p := h.payment(ids[i]).Payment
				if p.Status != kassa.StatusRequiresPaymentMethod || p.Card != nil {
					t.Errorf("refused payment %s was changed: %s %+v", ids[i], p.Status, p.Card)
				}
				if got := h.eventTypes(ids[i]); !slices.Equal(got, []string{kassa.EventPaymentCreated}) {
					t.Errorf("refused payment %s has events %v", ids[i], got)
				}
			default:
				t.Errorf("payment %s: %v", ids[i], err)
			}
		}
		if winner == "" {
			t.Fatal("no payment succeeded")
		}
		if p := h.payment(winner).Payment; p.Status != kassa.StatusSucceeded || h.claim("order-race") != winner {
			t.Errorf("winner %s is %s, claim %q", winner, p.Status, h.claim("order-race"))
		}
		q := `SELECT COUNT(*) FROM transactions t JOIN payments p ON p.id = t.payment_id WHERE p.merchant_id = $1 AND p.order_id = $2`
		if got := h.count(q+` AND t.type = 'sale' AND t.status = 'succeeded'`, h.pr.MerchantID, "order-race"); got != 1 {
			t.Errorf("succeeded sales for the order = %d, want 1", got)
		}
		if got := h.count(q, h.pr.MerchantID, "order-race"); got != 1 {
			t.Errorf("ledger rows for the order = %d, want 1 (the losers must not reach the processor)", got)
		}
		if got := h.count(`SELECT COUNT(*) FROM simulator_operations`); got != 1 {
			t.Errorf("processor operations = %d, want 1", got)
		}
		// Create-and-confirm in one call is refused the same way, and leaves no payment.
		_, err := h.pay(1999, "order-race", kassa.CaptureAutomatic, visa)
		wantErr(t, "create and confirm a paid order", err, kassa.ECONFLICT, "order_already_paid")
		if got := h.count(`SELECT COUNT(*) FROM payments WHERE order_id = $1`, "order-race"); got != n {
			t.Errorf("payments of the order = %d, want %d", got, n)
		}
	})
}

// TestDeclineReleasesOrder: a declined attempt moves no money and gives the
// order back; an authorization (even before capture) and a processing
// payment hold it; a voided authorization releases it.
func TestDeclineReleasesOrder(t *testing.T) {
	eachDialect(t, engine.Config{}, func(t *testing.T, h *harness) {
		a := h.create(1000, "order-d", kassa.CaptureAutomatic)
		_, err := h.eng.ConfirmPayment(h.ctx, h.pr, a.ID, card(processor.CardDeclined))
		wantErr(t, "declined", err, kassa.ECARD, "card_declined")
		if h.claim("order-d") != "" {
			t.Fatal("a declined payment holds the order")
		}
		b := h.mustPay(1000, "order-d", kassa.CaptureAutomatic)
		_, err = h.eng.ConfirmPayment(h.ctx, h.pr, a.ID, card(visa))
		wantErr(t, "retry after another payment succeeded", err, kassa.ECONFLICT, "order_already_paid")
		if h.claim("order-d") != b.Payment.ID {
			t.Error("claim moved")
		}

		auth := h.mustPay(1000, "order-m", kassa.CaptureManual)
		_, err = h.pay(1000, "order-m", kassa.CaptureAutomatic, visa)
		wantErr(t, "pay an authorized order", err, kassa.ECONFLICT, "order_already_paid")
		if d, err := h.eng.CancelPayment(h.ctx, h.pr, auth.Payment.ID, "abandoned"); err != nil || d.Payment.CanceledReason != "abandoned" {
			t.Fatalf("void: %+v, %v", d, err)
		}
		if h.claim("order-m") != "" {
			t.Fatal("a voided authorization holds the order")
		}
		h.mustPay(1000, "order-m", kassa.CaptureAutomatic)

		// Orders are per merchant: another merchant's order of the same name is separate.
		other, err := h.eng.CreateMerchant(h.ctx, "Other", "")
		if err != nil {
			t.Fatal(err)
		}
		pr2, _ := h.eng.Authenticate(h.ctx, other.SecretKey)
		if _, err := h.eng.CreatePayment(h.ctx, pr2, params(1000, "order-d", ""), card(visa)); err != nil {
			t.Errorf("another merchant's order of the same id: %v", err)
		}
	})
}

// TestRefundsNeverExceedCaptured: 20 refunds of 100 race against a capture
// of 1000: exactly 10 succeed and the payment shows 1000 refunded.
func TestRefundsNeverExceedCaptured(t *testing.T) {
	eachDialect(t, engine.Config{}, func(t *testing.T, h *harness) {
		d := h.mustPay(1500, "refund-race", kassa.CaptureManual)
		if d, err := h.eng.CapturePayment(h.ctx, h.pr, d.Payment.ID, i64(1000)); err != nil || d.Totals.Captured != 1000 {
			t.Fatalf("capture: %+v, %v", d, err)
		}
		var ok, refused atomic.Int64
		var mu sync.Mutex
		parallel(20, func(i int) {
			r, err := h.eng.CreateRefund(h.ctx, h.pr, engine.RefundParams{PaymentID: d.Payment.ID, Amount: i64(100)})
			switch {
			case err == nil && r.Status == kassa.TxnSucceeded:
				ok.Add(1)
			case kassa.ErrorKind(err) == kassa.EINVALID && (kassa.ErrorCode(err) == "amount_too_large" || kassa.ErrorCode(err) == "charge_already_refunded"):
				refused.Add(1)
			default:
				mu.Lock()
				t.Errorf("refund #%d: %+v, %v", i, r, err)
				mu.Unlock()
			}
		})
		if ok.Load() != 10 || refused.Load() != 10 {
			t.Errorf("refunds: %d succeeded, %d refused; want 10 and 10", ok.Load(), refused.Load())
		}
		after := h.payment(d.Payment.ID)
		if after.Totals.Refunded != 1000 || after.Totals.Refundable() != 0 || after.Payment.Object(after.Totals, "", false).AmountRefunded != 1000 {
			t.Errorf("totals after the race: %+v", after.Totals)
		}
		if got := h.count(`SELECT COUNT(*) FROM transactions WHERE payment_id = $1 AND type = 'refund'`, d.Payment.ID); got != 10 {
			t.Errorf("refund ledger rows = %d, want 10", got)
		}
		if got := h.count(`SELECT COUNT(*) FROM simulator_operations WHERE kind = 'refund' AND outcome = 'approved'`); got != 10 {
			t.Errorf("refunds at the processor = %d, want 10", got)
		}
		_, err := h.eng.CreateRefund(h.ctx, h.pr, engine.RefundParams{PaymentID: d.Payment.ID})
		wantErr(t, "refund the rest of a fully refunded payment", err, kassa.EINVALID, "charge_already_refunded")
	})
}

// TestPartialCaptureThenRefund: a partial capture releases the rest of the
// authorization, and refunds are capped at the captured amount.
func TestPartialCaptureThenRefund(t *testing.T) {
	eachDialect(t, engine.Config{}, func(t *testing.T, h *harness) {
		d := h.mustPay(1000, "partial", kassa.CaptureManual)
		id := d.Payment.ID
		if o := h.eng.Object(d); o.AmountCapturable != 1000 || o.AmountCaptured != 0 {
			t.Errorf("authorized object: capturable %d captured %d", o.AmountCapturable, o.AmountCaptured)
		}
		_, err := h.eng.CapturePayment(h.ctx, h.pr, id, i64(1001))
		wantErr(t, "capture more than authorized", err, kassa.EINVALID, "amount_too_large")
		_, err = h.eng.CapturePayment(h.ctx, h.pr, id, i64(0))
		wantErr(t, "capture 0", err, kassa.EINVALID, "amount_invalid")
		_, err = h.eng.CreateRefund(h.ctx, h.pr, engine.RefundParams{PaymentID: id, Amount: i64(1)})
		wantErr(t, "refund an uncaptured authorization", err, kassa.EINVALID, "payment_unexpected_state")

		d, err = h.eng.CapturePayment(h.ctx, h.pr, id, i64(600))
		if err != nil || d.Payment.Status != kassa.StatusSucceeded || d.Totals != (kassa.Totals{Captured: 600}) {
			t.Fatalf("partial capture: %+v, %v", d, err)
		}
		if o := h.eng.Object(d); o.AmountCapturable != 0 || o.AmountCaptured != 600 {
			t.Errorf("captured object: capturable %d captured %d", o.AmountCapturable, o.AmountCaptured)
		}
		_, err = h.eng.CreateRefund(h.ctx, h.pr, engine.RefundParams{PaymentID: id, Amount: i64(601)})
		wantErr(t, "refund more than captured", err, kassa.EINVALID, "amount_too_large")
		r, err := h.eng.CreateRefund(h.ctx, h.pr, engine.RefundParams{PaymentID: id, Amount: i64(250), Reason: "requested_by_customer"})
		if err != nil || r.Status != kassa.TxnSucceeded || r.Amount != 250 {
			t.Fatalf("refund 250: %+v, %v", r, err)
		}
		// No amount: all that is left.
		r, err = h.eng.CreateRefund(h.ctx, h.pr, engine.RefundParams{PaymentID: id})
		if err != nil || r.Amount != 350 {
			t.Fatalf("refund the rest: %+v, %v", r, err)
		}
		_, err = h.eng.CreateRefund(h.ctx, h.pr, engine.RefundParams{PaymentID: id, Amount: i64(1)})
		wantErr(t, "refund after full refund", err, kassa.EINVALID, "charge_already_refunded")
		if tot := h.payment(id).Totals; tot != (kassa.Totals{Captured: 600, Refunded: 600}) {
			t.Errorf("totals %+v", tot)
		}
		_, err = h.eng.CreateRefund(h.ctx, h.pr, engine.RefundParams{PaymentID: id, Amount: i64(1), Reason: "because"})
		wantErr(t, "unknown reason", err, kassa.EINVALID, "parameter_invalid")
	})
}

// TestIllegalMovesChangeNothing: each request that breaks a rule of the
// state machine is refused with EINVALID and leaves the payment, its ledger,
// its events, refunds, order claims and the processor untouched.
func TestIllegalMovesChangeNothing(t *testing.T) {
	eachDialect(t, engine.Config{}, func(t *testing.T, h *harness) {
		canceled := h.mustPay(1000, "ill-canceled", kassa.CaptureManual)
		if _, err := h.eng.CancelPayment(h.ctx, h.pr, canceled.Payment.ID, ""); err != nil {
			t.Fatal(err)
		}
		canceledUnpaid := h.create(1000, "ill-unpaid", kassa.CaptureManual)
		if _, err := h.eng.CancelPayment(h.ctx, h.pr, canceledUnpaid.ID, "duplicate"); err != nil {
			t.Fatal(err)
		}
		sale := h.mustPay(1000, "ill-sale", kassa.CaptureAutomatic)
		captured := h.mustPay(1000, "ill-captured", kassa.CaptureManual)
		if _, err := h.eng.CapturePayment(h.ctx, h.pr, captured.Payment.ID, nil); err != nil {
			t.Fatal(err)
		}
		authorized := h.mustPay(1000, "ill-auth", kassa.CaptureManual)
		unpaid := h.create(1000, "ill-open", kassa.CaptureAutomatic)

		cases := []struct {
			name    string
			payment string
			do      func(id string) error
			code    string
		}{
			{"capture a canceled authorization", canceled.Payment.ID, func(id string) error {
				_, err := h.eng.CapturePayment(h.ctx, h.pr, id, nil)
				return err
			}, "payment_unexpected_state"},
			{"capture a canceled payment", canceledUnpaid.ID, func(id string) error {
				_, err := h.eng.CapturePayment(h.ctx, h.pr, id, nil)
				return err
			}, "payment_unexpected_state"},
			{"confirm a canceled payment", canceledUnpaid.ID, func(id string) error {
				_, err := h.eng.ConfirmPayment(h.ctx, h.pr, id, card(visa))
				return err
			}, "payment_unexpected_state"},
			{"refund more than captured", sale.Payment.ID, func(id string) error {
				_, err := h.eng.CreateRefund(h.ctx, h.pr, engine.RefundParams{PaymentID: id, Amount: i64(1001)})
				return err
			}, "amount_too_large"},
			{"refund a negative amount", sale.Payment.ID, func(id string) error {
				_, err := h.eng.CreateRefund(h.ctx, h.pr, engine.RefundParams{PaymentID: id, Amount: i64(-1)})
				return err
			}, "amount_invalid"},
			{"confirm a succeeded payment", sale.Payment.ID, func(id string) error {
				_, err := h.eng.ConfirmPayment(h.ctx, h.pr, id, card(visa))
				return err
			}, "payment_already_succeeded"},
			{"capture twice", captured.Payment.ID, func(id string) error {
				_, err := h.eng.CapturePayment(h.ctx, h.pr, id, nil)
				return err
			}, "payment_unexpected_state"},
			{"capture a sale", sale.Payment.ID, func(id string) error {
				_, err := h.eng.CapturePayment(h.ctx, h.pr, id, i64(1))
				return err
			}, "payment_unexpected_state"},
			{"cancel a succeeded sale", sale.Payment.ID, func(id string) error {
				_, err := h.eng.CancelPayment(h.ctx, h.pr, id, "")
				return err
			}, "payment_unexpected_state"},
			{"cancel a captured payment", captured.Payment.ID, func(id string) error {
				_, err := h.eng.CancelPayment(h.ctx, h.pr, id, "")
				return err
			}, "payment_unexpected_state"},
			{"cancel a canceled payment", canceled.Payment.ID, func(id string) error {
				_, err := h.eng.CancelPayment(h.ctx, h.pr, id, "")
				return err
			}, "payment_unexpected_state"},
			{"cancel with an unknown reason", authorized.Payment.ID, func(id string) error {
				_, err := h.eng.CancelPayment(h.ctx, h.pr, id, "bored")
				return err
			}, "parameter_invalid"},
			{"refund an authorization", authorized.Payment.ID, func(id string) error {
				_, err := h.eng.CreateRefund(h.ctx, h.pr, engine.RefundParams{PaymentID: id, Amount: i64(1)})
				return err
			}, "payment_unexpected_state"},
			{"confirm an authorized payment", authorized.Payment.ID, func(id string) error {
				_, err := h.eng.ConfirmPayment(h.ctx, h.pr, id, card(visa))
				return err
			}, "payment_unexpected_state"},
			{"capture an unpaid payment", unpaid.ID, func(id string) error {
				_, err := h.eng.CapturePayment(h.ctx, h.pr, id, nil)
				return err
			}, "payment_unexpected_state"},
			{"refund an unpaid payment", unpaid.ID, func(id string) error {
				_, err := h.eng.CreateRefund(h.ctx, h.pr, engine.RefundParams{PaymentID: id})
				return err
			}, "payment_unexpected_state"},
			{"confirm without a card", unpaid.ID, func(id string) error {
				_, err := h.eng.ConfirmPayment(h.ctx, h.pr, id, nil)
				return err
			}, "parameter_missing"},
		}
		for _, c := range cases {
			before := h.snapshot(c.payment)
			wantErr(t, c.name, c.do(c.payment), kassa.EINVALID, c.code)
			h.sameSnapshot(c.name, before, c.payment)
		}

		// A card refused by validation never reaches the ledger either.
		before := h.snapshot(unpaid.ID)
		bad := card(visa)
		bad.CVC = "12"
		_, err := h.eng.ConfirmPayment(h.ctx, h.pr, unpaid.ID, bad)
		wantErr(t, "confirm with an invalid CVC", err, kassa.ECARD, "invalid_cvc")
		h.sameSnapshot("an invalid card", before, unpaid.ID)
	})
}

// TestDoubleSubmit: the same confirm, capture or cancel sent many times at
// once (double clicks, client retries) reaches the processor once.
func TestDoubleSubmit(t *testing.T) {
	eachDialect(t, engine.Config{}, func(t *testing.T, h *harness) {
		const n = 10
		p := h.create(1000, "double-confirm", kassa.CaptureManual)
		errs := make([]error, n)
		parallel(n, func(i int) { _, errs[i] = h.eng.ConfirmPayment(h.ctx, h.pr, p.ID, card(visa)) })
		if ok := countOK(t, "confirm", errs, "payment_unexpected_state"); ok != 1 {
			t.Errorf("%d confirms of one payment succeeded", ok)
		}

		// Captures and cancels of one authorization race: one of them wins.
		parallel(n, func(i int) {
			if i%2 == 0 {
				_, errs[i] = h.eng.CapturePayment(h.ctx, h.pr, p.ID, nil)
			} else {
				_, errs[i] = h.eng.CancelPayment(h.ctx, h.pr, p.ID, "")
			}
		})
		if ok := countOK(t, "capture/cancel", errs, "payment_unexpected_state", "payment_processing"); ok != 1 {
			t.Errorf("%d captures/cancels of one authorization succeeded", ok)
		}
		d := h.payment(p.ID)
		switch d.Payment.Status {
		case kassa.StatusSucceeded:
			if d.Totals.Captured != 1000 {
				t.Errorf("captured %d", d.Totals.Captured)
			}
		case kassa.StatusCanceled:
			if d.Totals != (kassa.Totals{}) {
				t.Errorf("canceled with totals %+v", d.Totals)
			}
		default:
			t.Errorf("after the race: %s", d.Payment.Status)
		}
		if got := h.count(`SELECT COUNT(*) FROM simulator_operations WHERE kind IN ('capture', 'void')`); got != 1 {
			t.Errorf("captures and voids at the processor: %d, want 1", got)
		}
		if got := h.count(`SELECT COUNT(*) FROM transactions WHERE payment_id = $1`, p.ID); got != 2 {
			t.Errorf("ledger rows: %d, want 2", got)
		}
		checkEventInvariants(t, h)
	})
}

// countOK counts nil errors and checks that the others are refusals with
// one of codes (EINVALID or ECONFLICT).
func countOK(t *testing.T, what string, errs []error, codes ...string) int {
	t.Helper()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case (kassa.ErrorKind(err) == kassa.EINVALID || kassa.ErrorKind(err) == kassa.ECONFLICT) && slices.Contains(codes, kassa.ErrorCode(err)):
		default:
			t.Errorf("%s: %v", what, err)
		}
	}
	return ok
}
