package engine_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/processor"
)

// checkEventInvariants checks, for every payment of the harness's merchant,
// that each event exists if and only if its state change does: one
// payment.created; payment.succeeded iff succeeded; payment.canceled iff
// canceled; one payment.authorized per approved authorization; one
// payment.failed per declined charge; one payment.requires_action per
// charge that asked for 3-D Secure; one refund.created per refund and one
// refund.succeeded / refund.failed per settled refund. payment.created comes first.
func checkEventInvariants(t *testing.T, h *harness) {
	t.Helper()
	ps, more, err := h.eng.ListPayments(h.ctx, h.pr, kassa.PaymentFilter{Page: kassa.Page{Limit: 100}})
	if err != nil || more {
		t.Fatalf("list payments: %v (more %v)", err, more)
	}
	for _, d := range ps {
		p := d.Payment
		want := map[string]int{kassa.EventPaymentCreated: 1}
		if p.Status == kassa.StatusSucceeded {
			want[kassa.EventPaymentSucceeded] = 1
		}
		if p.Status == kassa.StatusCanceled {
			want[kassa.EventPaymentCanceled] = 1
		}
		for _, x := range h.txns(p.ID) {
			charge := x.Type == kassa.TxnSale || x.Type == kassa.TxnAuthorize
			switch {
			case x.Type == kassa.TxnAuthorize && x.Status == kassa.TxnSucceeded:
				want[kassa.EventPaymentAuthorized]++
			case charge && x.Status == kassa.TxnFailed && x.DeclineCode != "authentication_abandoned":
				want[kassa.EventPaymentFailed]++
			case x.Type == kassa.TxnRefund:
				want[kassa.EventRefundCreated]++
				switch x.Status {
				case kassa.TxnSucceeded:
					want[kassa.EventRefundSucceeded]++
				case kassa.TxnFailed:
					want[kassa.EventRefundFailed]++
				}
			}
			if charge && askedForAuthentication(x) {
				want[kassa.EventPaymentRequiresAction]++
			}
		}
		got := map[string]int{}
		types := h.eventTypes(p.ID)
		for _, typ := range types {
			got[typ]++
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("payment %s (%s, order %s): events %v, want counts %v", p.ID, p.Status, p.OrderID, types, want)
		}
		if len(types) > 0 && types[0] != kassa.EventPaymentCreated {
			t.Errorf("payment %s: first event %s", p.ID, types[0])
		}
	}
}

// askedForAuthentication reports whether a charge went through 3-D Secure:
// its history shows a second pending entry (the processor's "authentication
// required" answer) after the first.
func askedForAuthentication(x kassa.Transaction) bool {
	n := 0
	for _, c := range x.History {
		if c.Status == kassa.TxnPending {
			n++
		}
	}
	return n > 1
}

// eventObject decodes an event's {"object": …}.
func eventObject(t *testing.T, e *kassa.Event) map[string]any {
	t.Helper()
	var data struct {
		Object map[string]any `json:"object"`
	}
	if err := json.Unmarshal(e.Data, &data); err != nil || data.Object == nil {
		t.Fatalf("event %s data %s: %v", e.Type, e.Data, err)
	}
	return data.Object
}

// TestDeclineCards: every decline card gives its error code and decline
// code, returns the payment to requires_payment_method with last_error,
// writes one payment.failed event, and the shopper can then pay with
// another card.
func TestDeclineCards(t *testing.T) {
	eachDialect(t, engine.Config{}, func(t *testing.T, h *harness) {
		for _, c := range []struct {
			number, code, decline, response string
		}{
			{processor.CardDeclined, "card_declined", "generic_decline", "05"},
			{processor.CardInsufficientFunds, "card_declined", "insufficient_funds", "51"},
			{processor.CardExpired, "expired_card", "expired_card", "54"},
			{processor.CardIncorrectCVC, "incorrect_cvc", "incorrect_cvc", "N7"},
			{processor.CardProcessingError, "processing_error", "processing_error", "96"},
		} {
			for _, capture := range []kassa.CaptureMethod{kassa.CaptureAutomatic, kassa.CaptureManual} {
				name := c.decline + " " + string(capture)
				order := "decline-" + c.decline + "-" + string(capture)
				p := h.create(4200, order, capture)
				d, err := h.eng.ConfirmPayment(h.ctx, h.pr, p.ID, card(c.number))
				wantErr(t, name, err, kassa.ECARD, c.code)
				var ke *kassa.Error
				if e, ok := err.(*kassa.Error); ok {
					ke = e
				}
				if ke == nil || ke.DeclineCode != c.decline || ke.Message == "" {
					t.Errorf("%s: error %+v, want decline_code %s", name, ke, c.decline)
				}
				if d == nil || d.Payment.Status != kassa.StatusRequiresPaymentMethod {
					t.Fatalf("%s: returned payment %+v", name, d)
				}
				stored := h.payment(p.ID)
				le := stored.Payment.LastError
				if stored.Payment.Status != kassa.StatusRequiresPaymentMethod || le == nil || le.Type != "card_error" ||
					le.Code != c.code || le.DeclineCode != c.decline || le.Message == "" || stored.Totals != (kassa.Totals{}) {
					t.Errorf("%s: stored %s last_error %+v totals %+v", name, stored.Payment.Status, le, stored.Totals)
				}
				if stored.Payment.Card == nil || stored.Payment.Card.Last4 != c.number[12:] {
					t.Errorf("%s: card summary %+v", name, stored.Payment.Card)
				}
				x := wantTxn(t, h, p.ID, chargeType(capture), kassa.TxnFailed)
				if x.DeclineCode != c.decline || x.ResponseCode != c.response || x.ProcessorRef == "" {
					t.Errorf("%s: ledger row %+v", name, x)
				}
				evs := h.events(p.ID)
				if len(evs) != 2 || evs[1].Type != kassa.EventPaymentFailed {
					t.Fatalf("%s: events %v", name, h.eventTypes(p.ID))
				}
				obj := eventObject(t, evs[1])
				if obj["status"] != string(kassa.StatusRequiresPaymentMethod) || obj["last_error"].(map[string]any)["decline_code"] != c.decline {
					t.Errorf("%s: payment.failed data %s", name, evs[1].Data)
				}
				if h.claim(order) != "" {
					t.Errorf("%s: declined payment holds its order", name)
				}
				// The shopper tries another card; last_error is cleared.
				d, err = h.eng.ConfirmPayment(h.ctx, h.pr, p.ID, card(visa))
				if err != nil || d.Payment.LastError != nil {
					t.Errorf("%s: retry: %+v, %v", name, d, err)
				}
			}
		}
		checkEventInvariants(t, h)
	})
}

// TestEventFlows: the events of each successful flow, in order, with the
// object as it was after each change.
func TestEventFlows(t *testing.T) {
	eachDialect(t, engine.Config{}, func(t *testing.T, h *harness) {
		// Sale, then two partial refunds.
		sale := h.mustPay(1000, "ev-sale", kassa.CaptureAutomatic)
		for _, a := range []int64{300, 700} {
			if _, err := h.eng.CreateRefund(h.ctx, h.pr, engine.RefundParams{PaymentID: sale.Payment.ID, Amount: i64(a)}); err != nil {
				t.Fatal(err)
			}
		}
		evs := h.events(sale.Payment.ID)
		want := []string{kassa.EventPaymentCreated, kassa.EventPaymentSucceeded, kassa.EventRefundCreated, kassa.EventRefundSucceeded,
			kassa.EventRefundCreated, kassa.EventRefundSucceeded}
		if got := h.eventTypes(sale.Payment.ID); !slices.Equal(got, want) {
			t.Fatalf("sale events %v, want %v", got, want)
		}
		if o := eventObject(t, evs[0]); o["status"] != "requires_payment_method" || o["amount"] != float64(1000) || o["client_secret"] != nil {
			t.Errorf("payment.created object %v", o)
		}
		if o := eventObject(t, evs[1]); o["status"] != "succeeded" || o["amount_captured"] != float64(1000) || o["card"] == nil {
			t.Errorf("payment.succeeded object %v", o)
		}
		for i, a := range []float64{300, 700} {
			created, done := eventObject(t, evs[2+2*i]), eventObject(t, evs[3+2*i])
			if created["object"] != "refund" || created["status"] != "pending" || created["amount"] != a {
				t.Errorf("refund.created object %v", created)
			}
			if done["status"] != "succeeded" || done["id"] != created["id"] {
				t.Errorf("refund.succeeded object %v", done)
			}
		}

		// Authorize, then capture.
		auth := h.mustPay(800, "ev-capture", kassa.CaptureManual)
		if _, err := h.eng.CapturePayment(h.ctx, h.pr, auth.Payment.ID, nil); err != nil {
			t.Fatal(err)
		}
		evs = h.events(auth.Payment.ID)
		want = []string{kassa.EventPaymentCreated, kassa.EventPaymentAuthorized, kassa.EventPaymentSucceeded}
		if got := h.eventTypes(auth.Payment.ID); !slices.Equal(got, want) {
			t.Errorf("capture events %v, want %v", got, want)
		}
		if o := eventObject(t, evs[1]); o["status"] != "requires_capture" || o["amount_capturable"] != float64(800) {
			t.Errorf("payment.authorized object %v", o)
		}
		if o := eventObject(t, evs[2]); o["status"] != "succeeded" || o["amount_captured"] != float64(800) {
			t.Errorf("payment.succeeded after capture %v", o)
		}

		// Authorize, then void; and cancel before paying.
		void := h.mustPay(800, "ev-void", kassa.CaptureManual)
		if _, err := h.eng.CancelPayment(h.ctx, h.pr, void.Payment.ID, "fraudulent"); err != nil {
			t.Fatal(err)
		}
		want = []string{kassa.EventPaymentCreated, kassa.EventPaymentAuthorized, kassa.EventPaymentCanceled}
		if got := h.eventTypes(void.Payment.ID); !slices.Equal(got, want) {
			t.Errorf("void events %v, want %v", got, want)
		}
		if o := eventObject(t, h.events(void.Payment.ID)[2]); o["status"] != "canceled" || o["cancellation_reason"] != "fraudulent" {
			t.Errorf("payment.canceled object %v", o)
		}
		open := h.create(100, "ev-open", "")
		if _, err := h.eng.CancelPayment(h.ctx, h.pr, open.ID, ""); err != nil {
			t.Fatal(err)
		}
		if got := h.eventTypes(open.ID); !slices.Equal(got, []string{kassa.EventPaymentCreated, kassa.EventPaymentCanceled}) {
			t.Errorf("cancel events %v", got)
		}

		// Events are scoped to the merchant and listed by type.
		all, _, err := h.eng.ListEvents(h.ctx, h.pr, kassa.EventFilter{Page: kassa.Page{Limit: 100}, Type: kassa.EventPaymentSucceeded})
		if err != nil || len(all) != 2 {
			t.Errorf("payment.succeeded events: %d, %v", len(all), err)
		}
		if e, err := h.eng.Event(h.ctx, h.pr, all[0].ID); err != nil || e.Type != kassa.EventPaymentSucceeded {
			t.Errorf("get event: %+v, %v", e, err)
		}
		checkEventInvariants(t, h)
	})
}
