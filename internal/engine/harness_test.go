package engine_test

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/processor"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

// clock is the engine's time source; tests move it forward to make
// transactions old enough to reconcile, payments expire and leases lapse.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// hookFunc intercepts one processor call. op is the method ("sale",
// "authorize", "capture", "void", "refund", "status"); next makes the real
// call to the simulator.
type hookFunc func(ctx context.Context, op string, req processor.Request, next func() (processor.Response, error)) (processor.Response, error)

// hookedProcessor wraps the simulator so that tests can look at the database
// while a call is in flight, lose its answer, or never make it.
type hookedProcessor struct {
	inner processor.Processor
	hook  atomic.Pointer[hookFunc]
}

func (h *hookedProcessor) set(f hookFunc) {
	if f == nil {
		h.hook.Store(nil)
		return
	}
	h.hook.Store(&f)
}

func (h *hookedProcessor) do(ctx context.Context, op string, req processor.Request, next func() (processor.Response, error)) (processor.Response, error) {
	if f := h.hook.Load(); f != nil {
		return (*f)(ctx, op, req, next)
	}
	return next()
}

func (h *hookedProcessor) Name() string { return h.inner.Name() }

func (h *hookedProcessor) Authorize(ctx context.Context, req processor.Request) (processor.Response, error) {
	return h.do(ctx, "authorize", req, func() (processor.Response, error) { return h.inner.Authorize(ctx, req) })
}

func (h *hookedProcessor) Sale(ctx context.Context, req processor.Request) (processor.Response, error) {
	return h.do(ctx, "sale", req, func() (processor.Response, error) { return h.inner.Sale(ctx, req) })
}

func (h *hookedProcessor) Capture(ctx context.Context, req processor.Request) (processor.Response, error) {
	return h.do(ctx, "capture", req, func() (processor.Response, error) { return h.inner.Capture(ctx, req) })
}

func (h *hookedProcessor) Void(ctx context.Context, req processor.Request) (processor.Response, error) {
	return h.do(ctx, "void", req, func() (processor.Response, error) { return h.inner.Void(ctx, req) })
}

func (h *hookedProcessor) Refund(ctx context.Context, req processor.Request) (processor.Response, error) {
	return h.do(ctx, "refund", req, func() (processor.Response, error) { return h.inner.Refund(ctx, req) })
}

func (h *hookedProcessor) Status(ctx context.Context, ref string) (processor.Response, error) {
	return h.do(ctx, "status", processor.Request{Reference: ref}, func() (processor.Response, error) { return h.inner.Status(ctx, ref) })
}

// harness is an engine over a real database of one dialect, the simulator
// (through hookedProcessor) and a loopback HTTP server serving the
// simulator's 3-D Secure pages at the engine's BaseURL.
type harness struct {
	t     *testing.T
	ctx   context.Context
	db    *store.DB
	sim   *processor.Simulator
	proc  *hookedProcessor
	eng   *engine.Engine
	clock *clock
	creds *engine.MerchantCredentials
	pr    kassa.Principal // the merchant in test mode
	srv   *httptest.Server
}

// newHarness builds a harness over db; cfg.Now and cfg.BaseURL are set here.
func newHarness(t *testing.T, db *store.DB, cfg engine.Config) *harness {
	t.Helper()
	h := &harness{t: t, ctx: context.Background(), db: db, clock: &clock{}}
	var handler atomic.Pointer[http.Handler]
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*handler.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(h.srv.Close)
	h.sim = processor.NewSimulator(db.SQL(), h.srv.URL)
	sh := h.sim.Handler()
	handler.Store(&sh)
	h.proc = &hookedProcessor{inner: h.sim}
	cfg.BaseURL, cfg.Now = h.srv.URL, h.clock.Now
	h.eng = engine.New(db, h.proc, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	creds, err := h.eng.CreateMerchant(h.ctx, "Tienda Test", "owner@example.com")
	if err != nil {
		t.Fatal(err)
	}
	h.creds = creds
	h.pr, err = h.eng.Authenticate(h.ctx, creds.SecretKey)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// eachDialect runs f in parallel subtests, one per dialect, each with a
// fresh database and engine.
func eachDialect(t *testing.T, cfg engine.Config, f func(t *testing.T, h *harness)) {
	t.Helper()
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			f(t, newHarness(t, storetest.Open(t, d), cfg))
		})
	}
}

// card returns a fresh, valid card with the given number.
func card(number string) *kassa.Card {
	cvc := "123"
	if kassa.CardBrand(number) == "amex" {
		cvc = "1234"
	}
	return &kassa.Card{Number: number, ExpMonth: 12, ExpYear: time.Now().Year() + 3, CVC: cvc}
}

const visa = "4242424242424242"

func params(amount int64, orderID string, capture kassa.CaptureMethod) engine.PaymentParams {
	return engine.PaymentParams{Amount: amount, Currency: "USD", OrderID: orderID, CaptureMethod: capture}
}

// pay creates a payment and confirms it with cardNumber in one call.
func (h *harness) pay(amount int64, orderID string, capture kassa.CaptureMethod, cardNumber string) (*engine.PaymentDetail, error) {
	return h.eng.CreatePayment(h.ctx, h.pr, params(amount, orderID, capture), card(cardNumber))
}

// mustPay is pay that must succeed.
func (h *harness) mustPay(amount int64, orderID string, capture kassa.CaptureMethod) *engine.PaymentDetail {
	h.t.Helper()
	d, err := h.pay(amount, orderID, capture, visa)
	if err != nil {
		h.t.Fatalf("pay %d %s: %v", amount, orderID, err)
	}
	want := kassa.StatusSucceeded
	if capture == kassa.CaptureManual {
		want = kassa.StatusRequiresCapture
	}
	if d.Payment.Status != want {
		h.t.Fatalf("pay %d %s: status %s, want %s", amount, orderID, d.Payment.Status, want)
	}
	return d
}

// create makes a payment awaiting a payment method.
func (h *harness) create(amount int64, orderID string, capture kassa.CaptureMethod) *kassa.Payment {
	h.t.Helper()
	d, err := h.eng.CreatePayment(h.ctx, h.pr, params(amount, orderID, capture), nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return d.Payment
}

// payment reads a payment and its totals back from the database.
func (h *harness) payment(id string) *engine.PaymentDetail {
	h.t.Helper()
	d, err := h.eng.Payment(h.ctx, h.pr, id)
	if err != nil {
		h.t.Fatalf("payment %s: %v", id, err)
	}
	return d
}

// txns returns a payment's ledger rows with history, oldest first.
func (h *harness) txns(paymentID string) []kassa.Transaction {
	h.t.Helper()
	all, err := h.db.Transactions(h.ctx, []string{paymentID}, true)
	if err != nil {
		h.t.Fatal(err)
	}
	return all[paymentID]
}

// events returns a payment's events, oldest first.
func (h *harness) events(paymentID string) []*kassa.Event {
	h.t.Helper()
	evs, more, err := h.eng.ListEvents(h.ctx, h.pr, kassa.EventFilter{Page: kassa.Page{Limit: 100}, PaymentID: paymentID})
	if err != nil || more {
		h.t.Fatalf("events of %s: more=%v, %v", paymentID, more, err)
	}
	for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
		evs[i], evs[j] = evs[j], evs[i]
	}
	return evs
}

func (h *harness) eventTypes(paymentID string) []string {
	var out []string
	for _, e := range h.events(paymentID) {
		out = append(out, e.Type)
	}
	return out
}

// claim returns the payment holding an order, or "" if none does, read
// straight from the order_claims table.
func (h *harness) claim(orderID string) string {
	h.t.Helper()
	var holder string
	err := h.db.SQL().QueryRowContext(h.ctx, `SELECT payment_id FROM order_claims WHERE merchant_id = $1 AND order_id = $2`,
		h.pr.MerchantID, orderID).Scan(&holder)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		h.t.Fatal(err)
	}
	return holder
}

// count runs a COUNT(*) query.
func (h *harness) count(query string, args ...any) int {
	h.t.Helper()
	var n int
	if err := h.db.SQL().QueryRowContext(h.ctx, query, args...).Scan(&n); err != nil {
		h.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// snapshot is everything a rule-breaking request must leave unchanged.
type snapshot struct {
	Payment *kassa.Payment
	Txns    []kassa.Transaction
	Events  []string
	Refunds []*kassa.Refund
	Claims  int
	SimOps  int
}

func (h *harness) snapshot(paymentID string) snapshot {
	h.t.Helper()
	p, err := h.db.PaymentByID(h.ctx, paymentID)
	if err != nil {
		h.t.Fatal(err)
	}
	var evs []string
	for _, e := range h.events(paymentID) {
		evs = append(evs, e.ID+" "+e.Type)
	}
	refunds, _, err := h.eng.ListRefunds(h.ctx, h.pr, kassa.RefundFilter{Page: kassa.Page{Limit: 100}, PaymentID: paymentID})
	if err != nil {
		h.t.Fatal(err)
	}
	return snapshot{Payment: p, Txns: h.txns(paymentID), Events: evs, Refunds: refunds,
		Claims: h.count(`SELECT COUNT(*) FROM order_claims`), SimOps: h.count(`SELECT COUNT(*) FROM simulator_operations`)}
}

func (h *harness) sameSnapshot(what string, before snapshot, paymentID string) {
	h.t.Helper()
	if after := h.snapshot(paymentID); !reflect.DeepEqual(before, after) {
		h.t.Errorf("%s changed the database:\nbefore %+v\nafter  %+v", what, before, after)
	}
}

// wantErr checks err's kind and code.
func wantErr(t *testing.T, what string, err error, kind, code string) {
	t.Helper()
	if err == nil || kassa.ErrorKind(err) != kind || kassa.ErrorCode(err) != code {
		t.Errorf("%s: error = %v (kind %q, code %q); want %s %s", what, err, kassa.ErrorKind(err), kassa.ErrorCode(err), kind, code)
	}
}

// reconcile runs one reconciler pass and fails the test on errors.
func (h *harness) reconcile() engine.ReconcileReport {
	h.t.Helper()
	rep := h.eng.Reconcile(h.ctx)
	if rep.Errors != 0 {
		h.t.Fatalf("reconcile: %+v", rep)
	}
	return rep
}

// parallel runs f(i) for i in [0, n) at once, released together.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			f(i)
		}()
	}
	close(start)
	wg.Wait()
}

func i64(v int64) *int64 { return &v }
