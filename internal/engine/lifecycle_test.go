package engine_test

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/processor"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

// TestExpiry: past PaymentTTL the reconciler cancels payments still awaiting
// the shopper (reason "expired") and gives their orders back; paid and
// authorized payments are left alone.
func TestExpiry(t *testing.T) {
	eachDialect(t, engine.Config{PaymentTTL: time.Hour}, func(t *testing.T, h *harness) {
		open := h.create(1000, "", "")
		openOrder := h.create(1000, "exp-open", "")
		threeDS, err := h.pay(1000, "exp-3ds", kassa.CaptureAutomatic, processor.CardRequires3DS)
		if err != nil || threeDS.Payment.Status != kassa.StatusRequiresAction {
			t.Fatalf("3-D Secure payment: %+v, %v", threeDS, err)
		}
		declined := h.create(1000, "exp-declined", "")
		if _, err := h.eng.ConfirmPayment(h.ctx, h.pr, declined.ID, card(processor.CardDeclined)); kassa.ErrorKind(err) != kassa.ECARD {
			t.Fatalf("decline: %v", err)
		}
		paid := h.mustPay(1000, "exp-paid", kassa.CaptureAutomatic)
		auth := h.mustPay(1000, "exp-auth", kassa.CaptureManual)
		if open.ExpiresAt.Sub(open.Created) != time.Hour {
			t.Errorf("expires_at - created = %s, want the TTL", open.ExpiresAt.Sub(open.Created))
		}

		h.clock.Advance(59 * time.Minute)
		if rep := h.reconcile(); rep.Expired != 0 {
			t.Errorf("expired %d payments before their TTL", rep.Expired)
		}
		h.clock.Advance(2 * time.Minute)
		// Past expiry, before the reconciler ran: the payment cannot be paid any more.
		before := h.snapshot(openOrder.ID)
		_, err = h.eng.ConfirmPayment(h.ctx, h.pr, openOrder.ID, card(visa))
		wantErr(t, "confirm an expired payment", err, kassa.EINVALID, "payment_expired")
		h.sameSnapshot("confirm an expired payment", before, openOrder.ID)

		if rep := h.reconcile(); rep.Expired != 4 {
			t.Errorf("expired %d payments, want 4", rep.Expired)
		}
		for _, id := range []string{open.ID, openOrder.ID, threeDS.Payment.ID, declined.ID} {
			d := h.payment(id)
			if d.Payment.Status != kassa.StatusCanceled || d.Payment.CanceledReason != "expired" || d.Payment.NextAction != nil {
				t.Errorf("payment %s (order %q): %s reason %q", id, d.Payment.OrderID, d.Payment.Status, d.Payment.CanceledReason)
			}
			if types := h.eventTypes(id); types[len(types)-1] != kassa.EventPaymentCanceled {
				t.Errorf("payment %s: events %v", id, types)
			}
			if o := h.eng.Object(d); o.CanceledReason != "expired" || o.CheckoutURL != "" {
				t.Errorf("payment %s object: reason %q checkout %q", id, o.CanceledReason, o.CheckoutURL)
			}
		}
		if x := wantTxn(t, h, threeDS.Payment.ID, kassa.TxnSale, kassa.TxnFailed); x.DeclineCode != "authentication_abandoned" {
			t.Errorf("expired 3-D Secure row: %+v", x)
		}
		if h.claim("exp-3ds") != "" {
			t.Error("expired payment still holds its order")
		}
		for _, d := range []*engine.PaymentDetail{paid, auth} {
			if got := h.payment(d.Payment.ID).Payment.Status; got != d.Payment.Status {
				t.Errorf("%s was changed by expiry: %s", d.Payment.OrderID, got)
			}
		}
		if rep := h.reconcile(); rep.Expired != 0 {
			t.Errorf("second pass expired %d", rep.Expired)
		}
		// The released order can be paid by a new payment.
		h.mustPay(1000, "exp-3ds", kassa.CaptureAutomatic)
		checkEventInvariants(t, h)
	})
}

// TestModeAndMerchantIsolation: live keys never see test data (nor test keys
// live data), and merchants never see each other's.
func TestModeAndMerchantIsolation(t *testing.T) {
	eachDialect(t, engine.Config{}, func(t *testing.T, h *harness) {
		if h.pr.Livemode || h.pr.KeyKind != kassa.KeySecret || h.pr.MerchantID != h.creds.Merchant.ID {
			t.Fatalf("secret key principal %+v", h.pr)
		}
		if pk, err := h.eng.Authenticate(h.ctx, h.creds.PublishableKey); err != nil || pk.KeyKind != kassa.KeyPublishable || pk.Livemode {
			t.Errorf("publishable key principal %+v, %v", pk, err)
		}
		for _, bad := range []string{"", "sk_test_nope", h.creds.SecretKey + "x", strings.ToUpper(h.creds.SecretKey), "Bearer " + h.creds.SecretKey} {
			if _, err := h.eng.Authenticate(h.ctx, bad); kassa.ErrorKind(err) != kassa.EUNAUTHORIZED {
				t.Errorf("Authenticate(%q) = %v, want EUNAUTHORIZED", bad, err)
			}
		}

		sale := h.mustPay(1000, "iso-1", kassa.CaptureAutomatic)
		refund, err := h.eng.CreateRefund(h.ctx, h.pr, engine.RefundParams{PaymentID: sale.Payment.ID, Amount: i64(100)})
		if err != nil {
			t.Fatal(err)
		}
		auth := h.mustPay(1000, "iso-2", kassa.CaptureManual)
		evs := h.events(sale.Payment.ID)

		live := kassa.Principal{MerchantID: h.pr.MerchantID, Livemode: true, KeyKind: kassa.KeySecret}
		other, err := h.eng.CreateMerchant(h.ctx, "Other shop", "")
		if err != nil {
			t.Fatal(err)
		}
		stranger, _ := h.eng.Authenticate(h.ctx, other.SecretKey)
		before, beforeAuth := h.snapshot(sale.Payment.ID), h.snapshot(auth.Payment.ID)
		for name, pr := range map[string]kassa.Principal{"live mode": live, "another merchant": stranger} {
			notFound := func(what string, err error) {
				t.Helper()
				if kassa.ErrorKind(err) != kassa.ENOTFOUND {
					t.Errorf("%s: %s: %v, want ENOTFOUND", name, what, err)
				}
			}
			_, err := h.eng.Payment(h.ctx, pr, sale.Payment.ID)
			notFound("get payment", err)
			_, err = h.eng.PaymentTransactions(h.ctx, pr, sale.Payment.ID)
			notFound("transactions", err)
			_, err = h.eng.CreateRefund(h.ctx, pr, engine.RefundParams{PaymentID: sale.Payment.ID, Amount: i64(1)})
			notFound("refund", err)
			_, err = h.eng.CapturePayment(h.ctx, pr, auth.Payment.ID, nil)
			notFound("capture", err)
			_, err = h.eng.CancelPayment(h.ctx, pr, auth.Payment.ID, "")
			notFound("cancel", err)
			_, err = h.eng.ConfirmPayment(h.ctx, pr, auth.Payment.ID, card(visa))
			notFound("confirm", err)
			_, err = h.eng.Refund(h.ctx, pr, refund.ID)
			notFound("get refund", err)
			_, err = h.eng.Event(h.ctx, pr, evs[0].ID)
			notFound("get event", err)
			if ps, _, err := h.eng.ListPayments(h.ctx, pr, kassa.PaymentFilter{Page: kassa.Page{Limit: 100}}); err != nil || len(ps) != 0 {
				t.Errorf("%s: lists %d payments, %v", name, len(ps), err)
			}
			if rs, _, err := h.eng.ListRefunds(h.ctx, pr, kassa.RefundFilter{Page: kassa.Page{Limit: 100}}); err != nil || len(rs) != 0 {
				t.Errorf("%s: lists %d refunds, %v", name, len(rs), err)
			}
			if es, _, err := h.eng.ListEvents(h.ctx, pr, kassa.EventFilter{Page: kassa.Page{Limit: 100}}); err != nil || len(es) != 0 {
				t.Errorf("%s: lists %d events, %v", name, len(es), err)
			}
		}
		h.sameSnapshot("requests from other modes and merchants", before, sale.Payment.ID)
		h.sameSnapshot("requests from other modes and merchants", beforeAuth, auth.Payment.ID)

		// Live payments live apart, order ids included.
		lp, err := h.eng.CreatePayment(h.ctx, live, params(1000, "iso-1", ""), card(visa))
		if err != nil || !lp.Payment.Livemode || lp.Payment.Status != kassa.StatusSucceeded {
			t.Fatalf("live payment of a test-paid order id: %+v, %v", lp, err)
		}
		_, err = h.eng.Payment(h.ctx, h.pr, lp.Payment.ID)
		wantErr(t, "test key reads a live payment", err, kassa.ENOTFOUND, "resource_missing")
		if ps, _, _ := h.eng.ListPayments(h.ctx, h.pr, kassa.PaymentFilter{Page: kassa.Page{Limit: 100}}); len(ps) != 2 {
			t.Errorf("test mode lists %d payments, want 2", len(ps))
		}
	})
}

// TestIdempotency: Begin/Finish store the first response and replay it;
// another request with the same key is refused; a key in flight answers
// conflict until its lease lapses, when a retry takes it over.
func TestIdempotency(t *testing.T) {
	cfg := engine.Config{IdempotencyLease: time.Minute, IdempotencyTTL: 2 * time.Hour}
	eachDialect(t, cfg, func(t *testing.T, h *harness) {
		ctx, pr := h.ctx, h.pr
		begin := func(key, fp string) (*kassa.IdempotencyKey, error) { return h.eng.BeginIdempotent(ctx, pr, key, fp) }

		if k, err := begin("k1", "fp1"); k != nil || err != nil {
			t.Fatalf("first use: %+v, %v", k, err)
		}
		_, err := begin("k1", "fp1")
		wantErr(t, "same key in flight", err, kassa.ECONFLICT, "idempotency_key_in_use")
		_, err = begin("k1", "fp2")
		wantErr(t, "other request in flight", err, kassa.EIDEMPOTENCY, "idempotency_key_reused")
		if err := h.eng.FinishIdempotent(ctx, pr, "k1", 201, []byte(`{"id":"pay_1"}`)); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ {
			k, err := begin("k1", "fp1")
			if err != nil || k == nil || k.StatusCode != 201 || string(k.Response) != `{"id":"pay_1"}` {
				t.Fatalf("replay #%d: %+v, %v", i, k, err)
			}
		}
		_, err = begin("k1", "fp2")
		wantErr(t, "same key, other request", err, kassa.EIDEMPOTENCY, "idempotency_key_reused")

		// Keys belong to a merchant in a mode.
		live := kassa.Principal{MerchantID: pr.MerchantID, Livemode: true}
		if k, err := h.eng.BeginIdempotent(ctx, live, "k1", "fp2"); k != nil || err != nil {
			t.Errorf("live mode shares test keys: %+v, %v", k, err)
		}
		other, _ := h.eng.CreateMerchant(ctx, "Other", "")
		opr, _ := h.eng.Authenticate(ctx, other.SecretKey)
		if k, err := h.eng.BeginIdempotent(ctx, opr, "k1", "fp2"); k != nil || err != nil {
			t.Errorf("merchants share keys: %+v, %v", k, err)
		}

		// A request that died: its lease lapses and a retry takes the key over.
		if k, err := begin("k2", "fp"); k != nil || err != nil {
			t.Fatal(k, err)
		}
		h.clock.Advance(30 * time.Second)
		_, err = begin("k2", "fp")
		wantErr(t, "within the lease", err, kassa.ECONFLICT, "idempotency_key_in_use")
		h.clock.Advance(31 * time.Second)
		if k, err := begin("k2", "fp"); k != nil || err != nil {
			t.Fatalf("retry after the lease: %+v, %v", k, err)
		}
		_, err = begin("k2", "fp")
		wantErr(t, "the retry holds a new lease", err, kassa.ECONFLICT, "idempotency_key_in_use")
		_, err = begin("k2", "other")
		wantErr(t, "taken-over key, other request", err, kassa.EIDEMPOTENCY, "idempotency_key_reused")
		if err := h.eng.FinishIdempotent(ctx, pr, "k2", 200, []byte("ok")); err != nil {
			t.Fatal(err)
		}
		if k, err := begin("k2", "fp"); err != nil || k == nil || k.StatusCode != 200 {
			t.Errorf("replay after takeover: %+v, %v", k, err)
		}
		// A finished key does not lapse with the lease.
		h.clock.Advance(10 * time.Minute)
		if k, err := begin("k2", "fp"); err != nil || k == nil || string(k.Response) != "ok" {
			t.Errorf("replay after the lease time: %+v, %v", k, err)
		}

		// Status 0 gives the key back (the request changed nothing).
		begin("k3", "fp")
		if err := h.eng.FinishIdempotent(ctx, pr, "k3", 0, nil); err != nil {
			t.Fatal(err)
		}
		if k, err := begin("k3", "corrected"); k != nil || err != nil {
			t.Errorf("released key: %+v, %v", k, err)
		}

		_, err = begin(strings.Repeat("k", 256), "fp")
		wantErr(t, "key too long", err, kassa.EINVALID, "idempotency_key_invalid")

		// Concurrent first uses: exactly one runs.
		errs := make([]error, 10)
		keys := make([]*kassa.IdempotencyKey, 10)
		parallel(10, func(i int) { keys[i], errs[i] = begin("k4", "fp") })
		runs := 0
		for i, err := range errs {
			switch {
			case err == nil && keys[i] == nil:
				runs++
			case kassa.ErrorCode(err) != "idempotency_key_in_use":
				t.Errorf("concurrent begin: %+v, %v", keys[i], err)
			}
		}
		if runs != 1 {
			t.Errorf("%d concurrent requests ran with one key, want 1", runs)
		}

		// Past the TTL the reconciler forgets keys.
		h.clock.Advance(3 * time.Hour)
		h.reconcile()
		if k, err := begin("k1", "fp2"); k != nil || err != nil {
			t.Errorf("key kept past its TTL: %+v, %v", k, err)
		}
	})
}

// TestRestartDurability: everything the engine acknowledged is there, with
// the same totals, after the database is closed and opened again.
func TestRestartDurability(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dsn := storetest.DSN(t, d)
			db, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			h := newHarness(t, db, engine.Config{})

			full := engine.PaymentParams{Amount: 12345, Currency: "kwd", OrderID: "dur-full", Description: "Pedido 42 — ñandú",
				Customer:  &kassa.Customer{Email: "ana@example.com", Name: "Ana", Phone: "+51 1 555"},
				Billing:   &kassa.Address{Line1: "Av. Larco 123", City: "Lima", Country: "PE"},
				Shipping:  &kassa.Address{Line1: "Jr. Unión 1", City: "Lima", Country: "PE", Name: "Ana"},
				Items:     []kassa.Item{{Name: "Café", Quantity: 2, UnitPrice: 5000, SKU: "CAF-1"}, {Name: "Taza", Quantity: 1, UnitPrice: 2345}},
				ReturnURL: "https://shop.example/return", CancelURL: "https://shop.example/cancel", NotifyURL: "https://shop.example/ipn",
				Metadata: map[string]string{"cart": "42", "ñ": "ü"}}
			created, err := h.eng.CreatePayment(ctx, h.pr, full, card("378282246310005"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.eng.CreateRefund(ctx, h.pr, engine.RefundParams{PaymentID: created.Payment.ID, Amount: i64(2345),
				Reason: "requested_by_customer", Metadata: map[string]string{"ticket": "7"}}); err != nil {
				t.Fatal(err)
			}
			partial := h.mustPay(1000, "dur-partial", kassa.CaptureManual)
			if _, err := h.eng.CapturePayment(ctx, h.pr, partial.Payment.ID, i64(600)); err != nil {
				t.Fatal(err)
			}
			h.mustPay(700, "dur-auth", kassa.CaptureManual)
			if _, err := h.pay(500, "dur-declined", "", processor.CardInsufficientFunds); kassa.ErrorKind(err) != kassa.ECARD {
				t.Fatal(err)
			}
			if _, err := h.pay(900, "dur-3ds", "", processor.CardRequires3DS); err != nil {
				t.Fatal(err)
			}
			h.create(50, "", "")

			type state struct {
				Payments []*engine.PaymentDetail
				Txns     map[string][]kassa.Transaction
				Events   []*kassa.Event
				Refunds  []*kassa.Refund
			}
			read := func(eng *engine.Engine, db *store.DB) state {
				t.Helper()
				var s state
				var err error
				if s.Payments, _, err = eng.ListPayments(ctx, h.pr, kassa.PaymentFilter{Page: kassa.Page{Limit: 100}}); err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, p := range s.Payments {
					ids = append(ids, p.Payment.ID)
				}
				if s.Txns, err = db.Transactions(ctx, ids, true); err != nil {
					t.Fatal(err)
				}
				if s.Events, _, err = eng.ListEvents(ctx, h.pr, kassa.EventFilter{Page: kassa.Page{Limit: 100}}); err != nil {
					t.Fatal(err)
				}
				if s.Refunds, _, err = eng.ListRefunds(ctx, h.pr, kassa.RefundFilter{Page: kassa.Page{Limit: 100}}); err != nil {
					t.Fatal(err)
				}
				return s
			}
			before := read(h.eng, db)
			if len(before.Payments) != 6 || len(before.Refunds) != 1 {
				t.Fatalf("before restart: %d payments, %d refunds", len(before.Payments), len(before.Refunds))
			}
			// What was written is what was asked for.
			got := before.Payments[len(before.Payments)-1].Payment
			if got.Currency != "KWD" || got.Description != full.Description || !reflect.DeepEqual(got.Customer, full.Customer) ||
				!reflect.DeepEqual(got.Billing, full.Billing) || !reflect.DeepEqual(got.Shipping, full.Shipping) ||
				!reflect.DeepEqual(got.Items, full.Items) || !reflect.DeepEqual(got.Metadata, full.Metadata) ||
				got.NotifyURL != full.NotifyURL || got.Card == nil || got.Card.Brand != "amex" || got.Card.Last4 != "0005" {
				t.Errorf("stored payment %+v", got)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}

			db2, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db2.Close() })
			if err := db2.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			eng2 := engine.New(db2, processor.NewSimulator(db2.SQL(), h.srv.URL), engine.Config{BaseURL: h.srv.URL},
				slog.New(slog.NewTextHandler(io.Discard, nil)))
			pr, err := eng2.Authenticate(ctx, h.creds.SecretKey)
			if err != nil || pr != h.pr {
				t.Fatalf("key after restart: %+v, %v", pr, err)
			}
			after := read(eng2, db2)
			if !reflect.DeepEqual(before, after) {
				t.Errorf("state changed across restart:\nbefore %+v\nafter  %+v", before, after)
			}
			totals := map[string]kassa.Totals{}
			for _, p := range after.Payments {
				totals[p.Payment.OrderID] = p.Totals
			}
			if totals["dur-full"] != (kassa.Totals{Captured: 12345, Refunded: 2345}) || totals["dur-partial"] != (kassa.Totals{Captured: 600}) ||
				totals["dur-auth"] != (kassa.Totals{Authorized: 700}) || totals["dur-declined"] != (kassa.Totals{}) {
				t.Errorf("totals after restart: %+v", totals)
			}
			// The reopened gateway carries on: orders stay claimed, refunds continue from the ledger.
			_, err = eng2.CreatePayment(ctx, pr, params(1000, "dur-partial", ""), card(visa))
			wantErr(t, "pay a paid order after restart", err, kassa.ECONFLICT, "order_already_paid")
			if _, err := eng2.CreateRefund(ctx, pr, engine.RefundParams{PaymentID: got.ID, Amount: i64(10001)}); kassa.ErrorCode(err) != "amount_too_large" {
				t.Errorf("refund past the rest after restart: %v", err)
			}
			if r, err := eng2.CreateRefund(ctx, pr, engine.RefundParams{PaymentID: got.ID}); err != nil || r.Amount != 10000 {
				t.Errorf("refund the rest after restart: %+v, %v", r, err)
			}
		})
	}
}
