package kassa_test

import (
	"math/big"
	"testing"
	"time"

	"github.com/kassa-pay/kassa"
)

func route(t *testing.T, from, to, rate, fee string) *kassa.Route {
	t.Helper()
	r := &kassa.Route{From: from, To: to, Rate: rate, FeePercent: fee}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRouteQuoteExactAndRoundedDown(t *testing.T) {
	cases := []struct {
		from, to, rate, fee string
		in, want            int64
	}{
		{"PEN", "USD", "0.27", "1", 10000, 2673},                    // 100.00 × 0.27 × 0.99 = 26.73 exactly
		{"PEN", "USD", "0.27", "1", 1001, 267},                      // 2.675673 → 2.67 (down, not to nearest)
		{"PEN", "USD", "0.27", "0", 1, 0},                           // 0.0027 → 0.00
		{"USD", "JPY", "150.5", "0", 100, 150},                      // 150.5 yen → 150 (JPY has no minor unit)
		{"JPY", "USD", "0.0066", "0", 1000, 660},                    // ¥1000 → 6.60
		{"KWD", "USD", "3.25", "0.5", 1001, 323},                    // 1.001 KD × 3.25 × 0.995 = 3.2369... → 3.23
		{"USD", "KWD", "0.307", "0", 100, 307},                      // 1.00 → 0.307 KD
		{"PEN", "USD", "0.1", "0", 30, 3},                           // 0.30 × 0.1 = 0.03 exactly (in float64, 0.3*0.1 < 0.03)
		{"PEN", "USD", "0.000000000001", "0", 999999999999999, 999}, // 9999999999999.99 × 1e-12 = 9.99
	}
	for _, c := range cases {
		r := route(t, c.from, c.to, c.rate, c.fee)
		got, err := r.Quote(c.in)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s→%s rate %s fee %s: Quote(%d) = %d, want %d", c.from, c.to, c.rate, c.fee, c.in, got, c.want)
		}
	}
}

// TestRouteQuoteMatchesRational checks Quote against a direct rational
// computation over many amounts: never more than the exact value, and
// less by under one minor unit.
func TestRouteQuoteMatchesRational(t *testing.T) {
	r := route(t, "PEN", "USD", "0.2713", "1.25")
	for in := int64(1); in < 200000; in += 137 {
		got, err := r.Quote(in)
		if err != nil {
			t.Fatal(err)
		}
		exact := new(big.Rat).Mul(big.NewRat(in, 1), big.NewRat(2713, 10000))
		exact.Mul(exact, big.NewRat(9875, 10000))
		diff := new(big.Rat).Sub(exact, big.NewRat(got, 1))
		if diff.Sign() < 0 || diff.Cmp(big.NewRat(1, 1)) >= 0 {
			t.Fatalf("Quote(%d) = %d, exact %s", in, got, exact.FloatString(6))
		}
	}
}

func TestRouteValidate(t *testing.T) {
	bad := []kassa.Route{
		{From: "XXX", To: "USD", Rate: "1"},
		{From: "PEN", To: "USD", Rate: "0"},
		{From: "PEN", To: "USD", Rate: "1e3"},
		{From: "PEN", To: "USD", Rate: "-1"},
		{From: "PEN", To: "USD", Rate: "0.27", FeePercent: "100"},
		{From: "PEN", To: "USD", Rate: "0.27", Min: 500, Max: 100},
		{From: "PEN", To: "USD", Rate: "0.27", PayoutMode: "sometimes"},
		{From: "PEN", To: "USD", Rate: "0.27", ToFields: []kassa.RouteField{{Key: "a", Pattern: "("}}},
		{From: "PEN", To: "USD", Rate: "0.27", XMLTo: "A:B"},
	}
	for i, r := range bad {
		if err := r.Validate(); kassa.ErrorKind(err) != kassa.EINVALID {
			t.Errorf("case %d: Validate() = %v, want EINVALID", i, err)
		}
	}
	r := kassa.Route{From: "pen", To: "usd", Rate: "0.27"}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	if r.XMLFrom != "PEN" || r.XMLTo != "USD" || r.PayoutMode != kassa.PayoutAutomatic || len(r.ToFields) != 1 || r.FeePercent != "0" {
		t.Errorf("defaults not applied: %+v", r)
	}
}

// lifecycleEdges is the lifecycle written out independently of the
// implementation's table: the moves allowed from each non-final status,
// for an unpaid and a paid order (hold is checked separately: it is left
// only to where it came from, to returned, or to deleted).
var lifecycleEdges = map[kassa.OrderStatus]struct{ unpaid, paid []kassa.OrderStatus }{
	kassa.OrderNew: {
		unpaid: []kassa.OrderStatus{kassa.OrderWaitPayment, kassa.OrderErrorPayment, kassa.OrderHold, kassa.OrderDeleted},
		paid:   []kassa.OrderStatus{kassa.OrderWaitPayment, kassa.OrderErrorPayment, kassa.OrderInProgress, kassa.OrderHold}},
	kassa.OrderWaitPayment: {
		unpaid: []kassa.OrderStatus{kassa.OrderErrorPayment, kassa.OrderHold, kassa.OrderDeleted},
		paid:   []kassa.OrderStatus{kassa.OrderErrorPayment, kassa.OrderInProgress, kassa.OrderHold}},
	kassa.OrderErrorPayment: {
		unpaid: []kassa.OrderStatus{kassa.OrderWaitPayment, kassa.OrderHold, kassa.OrderDeleted},
		paid:   []kassa.OrderStatus{kassa.OrderWaitPayment, kassa.OrderInProgress, kassa.OrderHold}},
	kassa.OrderInProgress: {
		unpaid: []kassa.OrderStatus{kassa.OrderHold},
		paid:   []kassa.OrderStatus{kassa.OrderInProgressPayout, kassa.OrderHold, kassa.OrderReturned}},
	kassa.OrderInProgressPayout: {
		unpaid: []kassa.OrderStatus{kassa.OrderDone, kassa.OrderHold},
		paid:   []kassa.OrderStatus{kassa.OrderDone, kassa.OrderErrorPayout, kassa.OrderHold}},
	kassa.OrderErrorPayout: {
		unpaid: []kassa.OrderStatus{kassa.OrderHold},
		paid:   []kassa.OrderStatus{kassa.OrderInProgressPayout, kassa.OrderHold, kassa.OrderReturned}},
}

// TestOrderTransitions checks every (from, to, paid) move against the
// lifecycle above: allowed moves pass, every other one is refused with
// order_transition_invalid, and final statuses never move.
func TestOrderTransitions(t *testing.T) {
	now := time.Now()
	for _, from := range kassa.OrderStatuses {
		for _, to := range kassa.OrderStatuses {
			for _, paid := range []bool{false, true} {
				o := &kassa.Order{UID: 1, Status: from, Paid: paid}
				err := o.CheckTransition(to)
				var allowed bool
				switch {
				case from.Final():
				case from == kassa.OrderHold:
					allowed = to == o.ReleaseTo() || (to == kassa.OrderReturned && paid) || (to == kassa.OrderDeleted && !paid)
				default:
					edges := lifecycleEdges[from].unpaid
					if paid {
						edges = lifecycleEdges[from].paid
					}
					for _, x := range edges {
						allowed = allowed || x == to
					}
				}
				if (err == nil) != allowed {
					t.Errorf("%s → %s (paid %t): err %v, allowed %t", from, to, paid, err, allowed)
				}
				if err != nil && kassa.ErrorCode(err) != "order_transition_invalid" {
					t.Errorf("%s → %s: code %q", from, to, kassa.ErrorCode(err))
				}
			}
		}
	}
	for _, s := range kassa.OrderStatuses {
		if _, ok := lifecycleEdges[s]; ok == (s.Final() || s == kassa.OrderHold) {
			t.Errorf("status %s: listed %t in the lifecycle, final %t", s, ok, s.Final())
		}
	}
	// The happy path and a hold/release round trip.
	o := &kassa.Order{UID: 7, Status: kassa.OrderNew}
	steps := []kassa.OrderStatus{kassa.OrderWaitPayment, kassa.OrderHold}
	for _, s := range steps {
		if err := o.Move(s, "", now); err != nil {
			t.Fatal(err)
		}
	}
	o.Paid = true // the payment succeeded while held
	if got := o.ReleaseTo(); got != kassa.OrderInProgress {
		t.Fatalf("release of a paid order held while unpaid goes to %s", got)
	}
	for _, s := range []kassa.OrderStatus{kassa.OrderInProgress, kassa.OrderInProgressPayout, kassa.OrderDone} {
		if err := o.Move(s, "", now); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Move(kassa.OrderHold, "", now); err == nil {
		t.Fatal("a done order moved")
	}
	if len(o.History) != 5 {
		t.Fatalf("history %v", o.History)
	}
	// A payout held by the processor is retried on release.
	o = &kassa.Order{Status: kassa.OrderInProgressPayout, Paid: true, PayoutStatus: kassa.PayoutHeld}
	if err := o.Move(kassa.OrderHold, "", now); err != nil {
		t.Fatal(err)
	}
	if o.ReleaseTo() != kassa.OrderInProgressPayout {
		t.Fatalf("release to %s", o.ReleaseTo())
	}
	if err := o.Move(kassa.OrderErrorPayout, "", now); err == nil {
		t.Fatal("hold released somewhere else than where it came from")
	}
}
