package notify_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/internal/processor"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

// The transactional outbox, end to end through the engine: an event and
// its deliveries commit with the state change that caused them, or not at
// all. faultyStore makes the engine's write transaction fail at the
// moment it writes one event type — before writing it ("no state change
// without its event": the change made earlier in the transaction must
// vanish) or just after ("no event without its state change": the event
// and its deliveries must vanish with the failed transaction).

var errFault = errors.New("injected failure")

type faultyStore struct {
	*store.DB
	failType  atomic.Value // string: the event type whose write fails ("" none)
	afterEmit atomic.Bool  // fail after the event is written (else instead of writing it)
}

func (s *faultyStore) fail(typ string, after bool) { s.failType.Store(typ); s.afterEmit.Store(after) }

func (s *faultyStore) Write(ctx context.Context, fn func(kassa.Tx) error) error {
	return s.DB.Write(ctx, func(tx kassa.Tx) error { return fn(&faultyTx{Tx: tx, s: s}) })
}

// faultyTx is the store's transaction with InsertEvent intercepted; the
// order and subscription methods the engine looks for are passed through.
type faultyTx struct {
	kassa.Tx
	s *faultyStore
}

func (t *faultyTx) InsertEvent(ctx context.Context, e *kassa.Event) error {
	if typ, _ := t.s.failType.Load().(string); typ != "" && e.Type == typ {
		if t.s.afterEmit.Load() {
			if err := t.Tx.InsertEvent(ctx, e); err != nil {
				return err
			}
		}
		return errFault
	}
	return t.Tx.InsertEvent(ctx, e)
}

func (t *faultyTx) ot() kassa.OrderTx { return t.Tx.(kassa.OrderTx) }
func (t *faultyTx) InsertRoute(ctx context.Context, r *kassa.Route) error {
	return t.ot().InsertRoute(ctx, r)
}
func (t *faultyTx) InsertOrder(ctx context.Context, o *kassa.Order) error {
	return t.ot().InsertOrder(ctx, o)
}
func (t *faultyTx) LockOrder(ctx context.Context, id string) (*kassa.Order, error) {
	return t.ot().LockOrder(ctx, id)
}
func (t *faultyTx) UpdateOrder(ctx context.Context, o *kassa.Order) error {
	return t.ot().UpdateOrder(ctx, o)
}
func (t *faultyTx) Subscribe(ctx context.Context, s *notify.Subscription) error {
	return t.Tx.(notify.Subscriber).Subscribe(ctx, s)
}

var (
	_ kassa.OrderTx     = (*faultyTx)(nil)
	_ notify.Subscriber = (*faultyTx)(nil)
)

func TestEventCommitsWithItsStateChange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		fs := &faultyStore{DB: db}
		fs.fail("", false)
		eng := engine.New(fs, processor.NewSimulator(db.SQL(), ""), engine.Config{ReconcileGrace: time.Nanosecond},
			slog.New(slog.NewTextHandler(io.Discard, nil)))
		creds, err := eng.CreateMerchant(ctx, "Outbox", "")
		if err != nil {
			t.Fatal(err)
		}
		mpr := kassa.Principal{MerchantID: creds.Merchant.ID}
		hooks := newReceiver(t, nil)
		shop := newReceiver(t, nil)
		ipn := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {})
		cfg := testConfig()
		cfg.Formats[engine.FormatIziIPN] = notify.Standard{Retries: fast} // any format: the fan-out is what is checked
		svc, _ := start(t, db, cfg)
		ep, err := svc.CreateEndpoint(ctx, mpr, notify.EndpointParams{URL: hooks.URL})
		if err != nil {
			t.Fatal(err)
		}

		countRows := func(query string, args ...any) int {
			t.Helper()
			var n int
			if err := db.SQL().QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		events := func(paymentID, typ string) []*kassa.Event {
			t.Helper()
			evs, _, err := eng.ListEvents(ctx, mpr, kassa.EventFilter{Page: kassa.Page{Limit: 100}, PaymentID: paymentID, Type: typ})
			if err != nil {
				t.Fatal(err)
			}
			return evs
		}
		allEvents := countRows(`SELECT COUNT(*) FROM events`)
		allDeliveries := countRows(`SELECT COUNT(*) FROM webhook_deliveries`)
		unchanged := func(what string) {
			t.Helper()
			if n := countRows(`SELECT COUNT(*) FROM events`); n != allEvents {
				t.Errorf("%s: %d events written, want none", what, n-allEvents)
			}
			if n := countRows(`SELECT COUNT(*) FROM webhook_deliveries`); n != allDeliveries {
				t.Errorf("%s: %d deliveries queued, want none", what, n-allDeliveries)
			}
		}
		settle := func() {
			allEvents = countRows(`SELECT COUNT(*) FROM events`)
			allDeliveries = countRows(`SELECT COUNT(*) FROM webhook_deliveries`)
		}
		card := &kassa.Card{Number: "4242424242424242", ExpMonth: 12, ExpYear: 2034, CVC: "123"}

		for _, after := range []bool{false, true} {
			mode := map[bool]string{false: "event refused", true: "failure after the event"}[after]

			// payment.created: no payment without its event.
			settle()
			payments := countRows(`SELECT COUNT(*) FROM payments WHERE merchant_id = $1`, mpr.MerchantID)
			fs.fail(kassa.EventPaymentCreated, after)
			_, err := eng.CreatePayment(ctx, mpr, engine.PaymentParams{Amount: 1500, Currency: "EUR", NotifyURL: shop.URL}, nil)
			if !errors.Is(err, errFault) {
				t.Fatalf("%s: create: %v", mode, err)
			}
			if n := countRows(`SELECT COUNT(*) FROM payments WHERE merchant_id = $1`, mpr.MerchantID); n != payments {
				t.Fatalf("%s: a payment exists without its payment.created", mode)
			}
			unchanged(mode + ", payment.created")

			// payment.succeeded: the charge went through at the processor,
			// but the transaction that records it failed. The payment is not
			// succeeded, nothing was announced; the reconciler records it
			// later with exactly one event and its deliveries.
			fs.fail("", false)
			d, err := eng.CreatePayment(ctx, mpr, engine.PaymentParams{Amount: 1500, Currency: "EUR", NotifyURL: shop.URL}, nil)
			if err != nil {
				t.Fatal(err)
			}
			p := d.Payment
			settle()
			fs.fail(kassa.EventPaymentSucceeded, after)
			if _, err := eng.ConfirmPayment(ctx, mpr, p.ID, card); err == nil {
				t.Fatalf("%s: confirm succeeded through a failed transaction", mode)
			}
			got, err := eng.Payment(ctx, mpr, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Payment.Status == kassa.StatusSucceeded || got.Totals.Captured != 0 {
				t.Fatalf("%s: payment %s (captured %d) without its payment.succeeded", mode, got.Payment.Status, got.Totals.Captured)
			}
			if evs := events(p.ID, kassa.EventPaymentSucceeded); len(evs) != 0 {
				t.Fatalf("%s: payment.succeeded written for a change that did not commit", mode)
			}
			// The pending ledger row was committed before the processor call:
			// only that is new, no event.
			unchanged(mode + ", payment.succeeded")

			fs.fail("", false)
			eng.Reconcile(ctx)
			got, err = eng.Payment(ctx, mpr, p.ID)
			if err != nil || got.Payment.Status != kassa.StatusSucceeded {
				t.Fatalf("%s: after reconciling: %+v, %v", mode, got, err)
			}
			evs := events(p.ID, kassa.EventPaymentSucceeded)
			if len(evs) != 1 {
				t.Fatalf("%s: %d payment.succeeded events, want 1", mode, len(evs))
			}
			waitStatus(t, db, evs[0].ID, ep.ID, notify.StatusDelivered)
			waitStatus(t, db, evs[0].ID, "", notify.StatusDelivered)
			if hooks.count(evs[0].ID) != 1 || shop.count(evs[0].ID) != 1 {
				t.Fatalf("%s: payment.succeeded received %d / %d times", mode, hooks.count(evs[0].ID), shop.count(evs[0].ID))
			}
		}

		// order.updated: an order does not move without its event and IPN.
		rt, err := eng.CreateRoute(ctx, "", kassa.Route{From: "PEN", To: "USD", Rate: "0.27", Min: 100})
		if err != nil {
			t.Fatal(err)
		}
		o, err := eng.CreateOrder(ctx, mpr, engine.OrderParams{RouteID: rt.ID, Amount: "50", Agreement: true,
			ToValues: []kassa.OrderValue{{Key: "account", Value: "ACC12345678"}}, IPNURL: ipn.URL, IPNSecret: "s"})
		if err != nil {
			t.Fatal(err)
		}
		for _, after := range []bool{false, true} {
			settle()
			fs.fail(kassa.EventOrderUpdated, after)
			if _, _, err := eng.StartOrderPayment(ctx, o.UID, o.Secret); !errors.Is(err, errFault) {
				t.Fatalf("start payment: %v", err)
			}
			if cur, err := eng.OperatorOrder(ctx, o.ID); err != nil || cur.Status != kassa.OrderNew || len(cur.History) != 1 {
				t.Fatalf("order moved without its event: %+v, %v", cur, err)
			}
			unchanged("order.updated")
		}
		fs.fail("", false)
		if _, _, err := eng.StartOrderPayment(ctx, o.UID, o.Secret); err != nil {
			t.Fatal(err)
		}
		if n := countRows(`SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = $1`, "ipn:"+o.ID); n != 1 {
			t.Fatalf("the order's move queued %d IPNs, want 1", n)
		}
	})
}
