package engine_test

import (
	"bytes"
	"sync"
	"testing"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
)

// subscriptions lists the notification subscriptions of a subject as
// "id url format event_types".
func (h *harness) subscriptions(subject string) []string {
	h.t.Helper()
	rows, err := h.db.SQL().QueryContext(h.ctx, `SELECT id, url, format, event_types FROM notification_subscriptions
		WHERE subject_id = $1 ORDER BY id`, subject)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, url, format, types string
		if err := rows.Scan(&id, &url, &format, &types); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, id+" "+url+" "+format+" "+types)
	}
	return out
}

// TestIzipayBindSubscribesTheIPN: the LoadForm that binds a session's
// payment subscribes its urlIPN to the payment's final events in the same
// transaction; racing LoadForms of one token leave exactly one payment
// payable and one subscription, and a payment that lost the race (canceled
// as a duplicate) sends no IPN.
func TestIzipayBindSubscribesTheIPN(t *testing.T) {
	eachDialect(t, engine.Config{}, func(t *testing.T, h *harness) {
		z, err := engine.NewIzipay(h.eng, bytes.Repeat([]byte{7}, 32))
		if err != nil {
			t.Fatal(err)
		}
		c, err := z.IzipayCredentials(h.ctx, h.pr.MerchantID)
		if err != nil {
			t.Fatal(err)
		}
		token, _, err := z.IssueIzipayToken(h.ctx, engine.IzipayTokenRequest{TransactionID: "TX12345", MerchantCode: c.MerchantCode,
			PublicKey: c.PublicKey, OrderNumber: "ORD12345", Amount: "10.00"})
		if err != nil {
			t.Fatal(err)
		}
		form := engine.IzipayForm{TransactionID: "TX12345", OrderNumber: "ORD12345", Amount: "10.00", Currency: "PEN",
			IPNURL: "https://shop.example/ipn", Payment: engine.PaymentParams{CaptureMethod: kassa.CaptureAutomatic}}
		const n = 6
		var wg sync.WaitGroup
		payments := make([]string, n)
		for i := range n {
			wg.Go(func() {
				_, d, err := z.OpenIzipayForm(h.ctx, token, form)
				if err != nil {
					t.Error(err)
					return
				}
				payments[i] = d.Payment.ID
			})
		}
		wg.Wait()
		bound := payments[0]
		for _, p := range payments {
			if p != bound {
				t.Fatalf("LoadForms of one token got payments %q", payments)
			}
		}
		if got, want := h.subscriptions(bound), "izipay:"+bound+" https://shop.example/ipn izipay payment.succeeded payment.authorized payment.canceled"; len(got) != 1 || got[0] != want {
			t.Fatalf("subscriptions of the bound payment %q, want [%q]", got, want)
		}
		t.Logf("%d payments created by %d racing LoadForms", h.count(`SELECT COUNT(*) FROM payments`), n)
		if n := h.count(`SELECT COUNT(*) FROM notification_subscriptions`); n != 1 {
			t.Fatalf("%d subscriptions; only the bound payment has one", n)
		}
		if n := h.count(`SELECT COUNT(*) FROM webhook_deliveries WHERE format = 'izipay'`); n != 0 {
			t.Fatalf("%d IPNs before any final state (losers' cancellations must send none)", n)
		}
		if _, err := h.eng.ConfirmPayment(h.ctx, h.pr, bound, card(visa)); err != nil {
			t.Fatal(err)
		}
		if n := h.count(`SELECT COUNT(*) FROM webhook_deliveries d JOIN events e ON e.id = d.event_id
			WHERE d.endpoint_id = $1 AND d.format = 'izipay' AND d.url = 'https://shop.example/ipn' AND e.type = 'payment.succeeded'`,
			"izipay:"+bound); n != 1 {
			t.Fatalf("%d IPN deliveries of payment.succeeded, want 1", n)
		}

		// A form without urlIPN subscribes nothing.
		token2, _, err := z.IssueIzipayToken(h.ctx, engine.IzipayTokenRequest{TransactionID: "TX67890", MerchantCode: c.MerchantCode,
			PublicKey: c.PublicKey, OrderNumber: "ORD67890", Amount: "10.00"})
		if err != nil {
			t.Fatal(err)
		}
		form.TransactionID, form.OrderNumber, form.IPNURL = "TX67890", "ORD67890", ""
		_, d, err := z.OpenIzipayForm(h.ctx, token2, form)
		if err != nil {
			t.Fatal(err)
		}
		if got := h.subscriptions(d.Payment.ID); len(got) != 0 {
			t.Fatalf("form without urlIPN subscribed %q", got)
		}
	})
}

// TestOrderIPNSubscription: an order with an ipnUrl is subscribed to its
// own order.updated events when created, in the format its single-try
// choice names; every status change queues one IPN with the event.
func TestOrderIPNSubscription(t *testing.T) {
	eachDialect(t, engine.Config{}, func(t *testing.T, h *harness) {
		r, err := h.eng.CreateRoute(h.ctx, "", kassa.Route{From: "PEN", To: "USD", Rate: "0.27", FeePercent: "1", Min: 100,
			PayoutMode: kassa.PayoutManual})
		if err != nil {
			t.Fatal(err)
		}
		for _, single := range []bool{false, true} {
			o, err := h.eng.CreateOrder(h.ctx, h.pr, engine.OrderParams{RouteID: r.ID, Amount: "100", Agreement: true,
				ToValues: []kassa.OrderValue{{Key: "account", Value: "ACC12345678"}}, IPNURL: "https://shop.example/ipn",
				IPNSecret: "s3cret", IPNSingleTry: single})
			if err != nil {
				t.Fatal(err)
			}
			format := engine.FormatIziIPN
			if single {
				format = engine.FormatIziIPNOnce
			}
			if got, want := h.subscriptions(o.ID), "ipn:"+o.ID+" https://shop.example/ipn "+format+" order.updated"; len(got) != 1 || got[0] != want {
				t.Fatalf("subscriptions %q, want [%q]", got, want)
			}
			if _, err := h.eng.ConfirmPayment(h.ctx, h.pr, o.PaymentID, card(visa)); err != nil {
				t.Fatal(err)
			}
			events := h.count(`SELECT COUNT(*) FROM events WHERE type = 'order.updated' AND data LIKE $1`, `%"`+o.ID+`"%`)
			ipns := h.count(`SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = $1 AND format = $2`, "ipn:"+o.ID, format)
			if events == 0 || ipns != events {
				t.Fatalf("single-try %v: %d order events, %d IPNs", single, events, ipns)
			}
			// The order's payment events are not the IPN's business.
			if n := h.count(`SELECT COUNT(*) FROM webhook_deliveries d JOIN events e ON e.id = d.event_id
				WHERE d.endpoint_id = $1 AND e.type <> 'order.updated'`, "ipn:"+o.ID); n != 0 {
				t.Fatalf("%d IPNs of other events", n)
			}
		}
	})
}
