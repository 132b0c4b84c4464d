package kassa_test

import (
	"testing"
	"time"

	"github.com/kassa-pay/kassa"
)

var allStatuses = []kassa.PaymentStatus{
	kassa.StatusRequiresPaymentMethod, kassa.StatusRequiresAction, kassa.StatusProcessing,
	kassa.StatusRequiresCapture, kassa.StatusSucceeded, kassa.StatusCanceled,
}

// wantErr checks that err is an *Error of kind and code ("" kind: no error).
func wantErr(t *testing.T, what string, err error, kind, code string) {
	t.Helper()
	if kind == "" {
		if err != nil {
			t.Errorf("%s: unexpected error %v", what, err)
		}
		return
	}
	if err == nil || kassa.ErrorKind(err) != kind || kassa.ErrorCode(err) != code {
		t.Errorf("%s: error = %v (kind %q code %q); want %s %s", what, err, kassa.ErrorKind(err), kassa.ErrorCode(err), kind, code)
	}
}

func TestStatusPredicates(t *testing.T) {
	t.Parallel()
	holds := map[kassa.PaymentStatus]bool{kassa.StatusRequiresAction: true, kassa.StatusProcessing: true,
		kassa.StatusRequiresCapture: true, kassa.StatusSucceeded: true}
	terminal := map[kassa.PaymentStatus]bool{kassa.StatusSucceeded: true, kassa.StatusCanceled: true}
	for _, s := range allStatuses {
		if !s.Valid() {
			t.Errorf("%s not valid", s)
		}
		if s.HoldsOrder() != holds[s] {
			t.Errorf("%s.HoldsOrder() = %v", s, s.HoldsOrder())
		}
		if s.Terminal() != terminal[s] {
			t.Errorf("%s.Terminal() = %v", s, s.Terminal())
		}
	}
	for _, s := range []kassa.PaymentStatus{"", "paid", "Succeeded"} {
		if s.Valid() || s.HoldsOrder() || s.Terminal() {
			t.Errorf("%q is accepted", s)
		}
	}
	for s, settled := range map[kassa.TxnStatus]bool{kassa.TxnPending: false, kassa.TxnUnknown: false, kassa.TxnSucceeded: true, kassa.TxnFailed: true} {
		if s.Settled() != settled {
			t.Errorf("%s.Settled() = %v", s, s.Settled())
		}
	}
}

func TestCheckConfirm(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	want := map[kassa.PaymentStatus]string{
		kassa.StatusRequiresPaymentMethod: "",
		kassa.StatusRequiresAction:        "payment_unexpected_state",
		kassa.StatusProcessing:            "payment_unexpected_state",
		kassa.StatusRequiresCapture:       "payment_unexpected_state",
		kassa.StatusSucceeded:             "payment_already_succeeded",
		kassa.StatusCanceled:              "payment_unexpected_state",
	}
	for _, s := range allStatuses {
		p := &kassa.Payment{ID: "pay_1", Status: s, ExpiresAt: now.Add(time.Hour)}
		kind := kassa.EINVALID
		if want[s] == "" {
			kind = ""
		}
		wantErr(t, "confirm "+string(s), p.CheckConfirm(now), kind, want[s])
	}
	p := &kassa.Payment{ID: "pay_1", Status: kassa.StatusRequiresPaymentMethod, ExpiresAt: now}
	wantErr(t, "confirm at expiry instant", p.CheckConfirm(now), "", "")
	wantErr(t, "confirm after expiry", p.CheckConfirm(now.Add(time.Microsecond)), kassa.EINVALID, "payment_expired")
	p.ExpiresAt = time.Time{}
	wantErr(t, "confirm without expiry", p.CheckConfirm(now.AddDate(10, 0, 0)), "", "")
}

func TestCheckCapture(t *testing.T) {
	t.Parallel()
	auth := kassa.Totals{Authorized: 1000}
	for _, s := range allStatuses {
		p := &kassa.Payment{ID: "pay_1", Status: s}
		if s == kassa.StatusRequiresCapture {
			wantErr(t, "capture", p.CheckCapture(1000, auth), "", "")
			continue
		}
		wantErr(t, "capture in "+string(s), p.CheckCapture(1000, auth), kassa.EINVALID, "payment_unexpected_state")
	}
	p := &kassa.Payment{ID: "pay_1", Status: kassa.StatusRequiresCapture}
	wantErr(t, "partial capture", p.CheckCapture(1, auth), "", "")
	wantErr(t, "capture 0", p.CheckCapture(0, auth), kassa.EINVALID, "amount_invalid")
	wantErr(t, "capture -1", p.CheckCapture(-1, auth), kassa.EINVALID, "amount_invalid")
	wantErr(t, "capture more than authorized", p.CheckCapture(1001, auth), kassa.EINVALID, "amount_too_large")
	wantErr(t, "capture after release", p.CheckCapture(1, kassa.Totals{}), kassa.EINVALID, "amount_too_large")
}

func TestCheckCancel(t *testing.T) {
	t.Parallel()
	want := map[kassa.PaymentStatus][2]string{
		kassa.StatusRequiresPaymentMethod: {"", ""},
		kassa.StatusRequiresAction:        {"", ""},
		kassa.StatusRequiresCapture:       {"", ""},
		kassa.StatusProcessing:            {kassa.ECONFLICT, "payment_processing"},
		kassa.StatusSucceeded:             {kassa.EINVALID, "payment_unexpected_state"},
		kassa.StatusCanceled:              {kassa.EINVALID, "payment_unexpected_state"},
	}
	for _, s := range allStatuses {
		p := &kassa.Payment{ID: "pay_1", Status: s}
		wantErr(t, "cancel "+string(s), p.CheckCancel(), want[s][0], want[s][1])
	}
}

func TestCheckRefund(t *testing.T) {
	t.Parallel()
	captured := kassa.Totals{Captured: 1000}
	for _, s := range allStatuses {
		p := &kassa.Payment{ID: "pay_1", Status: s}
		if s == kassa.StatusSucceeded {
			wantErr(t, "refund", p.CheckRefund(1000, captured), "", "")
			continue
		}
		wantErr(t, "refund in "+string(s), p.CheckRefund(1, captured), kassa.EINVALID, "payment_unexpected_state")
	}
	p := &kassa.Payment{ID: "pay_1", Status: kassa.StatusSucceeded}
	cases := []struct {
		name   string
		amount int64
		t      kassa.Totals
		code   string
	}{
		{"zero", 0, captured, "amount_invalid"},
		{"negative", -5, captured, "amount_invalid"},
		{"more than captured", 1001, captured, "amount_too_large"},
		{"rest after partial", 600, kassa.Totals{Captured: 1000, Refunded: 400}, ""},
		{"one over the rest", 601, kassa.Totals{Captured: 1000, Refunded: 400}, "amount_too_large"},
		{"in-flight refunds count", 301, kassa.Totals{Captured: 1000, Refunded: 400, RefundReserved: 300}, "amount_too_large"},
		{"in-flight refunds leave the rest", 300, kassa.Totals{Captured: 1000, Refunded: 400, RefundReserved: 300}, ""},
		{"fully refunded", 1, kassa.Totals{Captured: 1000, Refunded: 1000}, "charge_already_refunded"},
		{"the rest of a fully refunded payment", 0, kassa.Totals{Captured: 1000, Refunded: 1000}, "charge_already_refunded"},
		{"fully reserved", 1, kassa.Totals{Captured: 1000, Refunded: 200, RefundReserved: 800}, "amount_too_large"},
	}
	for _, c := range cases {
		kind := kassa.EINVALID
		if c.code == "" {
			kind = ""
		}
		wantErr(t, "refund "+c.name, p.CheckRefund(c.amount, c.t), kind, c.code)
	}
}

func TestComputeTotals(t *testing.T) {
	t.Parallel()
	x := func(typ kassa.TxnType, st kassa.TxnStatus, amount int64) kassa.Transaction {
		return kassa.Transaction{Type: typ, Status: st, Amount: amount}
	}
	const (
		ok      = kassa.TxnSucceeded
		failed  = kassa.TxnFailed
		pending = kassa.TxnPending
		unknown = kassa.TxnUnknown
	)
	cases := []struct {
		name       string
		txns       []kassa.Transaction
		want       kassa.Totals
		refundable int64
	}{
		{"empty", nil, kassa.Totals{}, 0},
		{"sale pending", []kassa.Transaction{x(kassa.TxnSale, pending, 1000)}, kassa.Totals{}, 0},
		{"sale unknown", []kassa.Transaction{x(kassa.TxnSale, unknown, 1000)}, kassa.Totals{}, 0},
		{"sale declined then approved", []kassa.Transaction{x(kassa.TxnSale, failed, 1000), x(kassa.TxnSale, ok, 1000)},
			kassa.Totals{Captured: 1000}, 1000},
		{"authorized", []kassa.Transaction{x(kassa.TxnAuthorize, ok, 1000)}, kassa.Totals{Authorized: 1000}, 0},
		{"authorization declined", []kassa.Transaction{x(kassa.TxnAuthorize, failed, 1000)}, kassa.Totals{}, 0},
		{"partial capture releases the rest", []kassa.Transaction{x(kassa.TxnAuthorize, ok, 1000), x(kassa.TxnCapture, ok, 600)},
			kassa.Totals{Captured: 600}, 600},
		{"capture pending keeps the authorization", []kassa.Transaction{x(kassa.TxnAuthorize, ok, 1000), x(kassa.TxnCapture, pending, 1000)},
			kassa.Totals{Authorized: 1000}, 0},
		{"capture failed keeps the authorization", []kassa.Transaction{x(kassa.TxnAuthorize, ok, 1000), x(kassa.TxnCapture, failed, 1000)},
			kassa.Totals{Authorized: 1000}, 0},
		{"voided", []kassa.Transaction{x(kassa.TxnAuthorize, ok, 1000), x(kassa.TxnVoid, ok, 1000)}, kassa.Totals{}, 0},
		{"void failed", []kassa.Transaction{x(kassa.TxnAuthorize, ok, 1000), x(kassa.TxnVoid, failed, 1000)},
			kassa.Totals{Authorized: 1000}, 0},
		{"refunds of every status", []kassa.Transaction{
			x(kassa.TxnSale, ok, 1000), x(kassa.TxnRefund, ok, 300), x(kassa.TxnRefund, pending, 200),
			x(kassa.TxnRefund, unknown, 100), x(kassa.TxnRefund, failed, 50)},
			kassa.Totals{Captured: 1000, Refunded: 300, RefundReserved: 300}, 400},
		{"fully refunded", []kassa.Transaction{x(kassa.TxnSale, ok, 1000), x(kassa.TxnRefund, ok, 1000)},
			kassa.Totals{Captured: 1000, Refunded: 1000}, 0},
	}
	for _, c := range cases {
		got := kassa.ComputeTotals(c.txns)
		if got != c.want || got.Refundable() != c.refundable {
			t.Errorf("%s: totals = %+v (refundable %d); want %+v (refundable %d)", c.name, got, got.Refundable(), c.want, c.refundable)
		}
	}
}

func TestPaymentObject(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	p := &kassa.Payment{ID: "pay_1", Status: kassa.StatusRequiresCapture, Amount: 1000, Currency: "USD",
		ClientSecret: "pay_1_secret_x", Created: now, ExpiresAt: now.Add(time.Hour)}
	o := p.Object(kassa.Totals{Authorized: 1000}, "https://k/pay/x", false)
	if o.AmountCapturable != 1000 || o.ClientSecret != "" || o.Metadata == nil || o.Created != now.Unix() || o.Object != "payment" {
		t.Errorf("object = %+v", o)
	}
	if o := p.Object(kassa.Totals{Authorized: 1000}, "", true); o.ClientSecret != "pay_1_secret_x" {
		t.Errorf("client secret not shown to its owner")
	}
	p.Status = kassa.StatusSucceeded
	if o := p.Object(kassa.Totals{Captured: 600, Refunded: 100}, "", false); o.AmountCapturable != 0 || o.AmountCaptured != 600 || o.AmountRefunded != 100 {
		t.Errorf("succeeded object = %+v", o)
	}
	for st, want := range map[kassa.TxnStatus]string{kassa.TxnPending: "pending", kassa.TxnUnknown: "pending",
		kassa.TxnSucceeded: "succeeded", kassa.TxnFailed: "failed"} {
		if got := kassa.RefundStatus(st); got != want {
			t.Errorf("RefundStatus(%s) = %s, want %s", st, got, want)
		}
	}
	r := &kassa.Refund{ID: "re_1", Status: kassa.TxnSucceeded, FailureCode: "x"}
	if o := r.Object(); o.FailureCode != "" || o.Status != "succeeded" {
		t.Errorf("succeeded refund shows %+v", o)
	}
}
