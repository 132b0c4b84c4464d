package api_test

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/kassa-pay/kassa"
)

func withKey(key, path string, body any) request {
	return request{method: "POST", path: path, body: body, header: map[string]string{"Idempotency-Key": key}}
}

// wantReplay fails unless r repeats first byte for byte, marked as replayed.
func wantReplay(t *testing.T, first, r *reply) {
	t.Helper()
	if r.status != first.status || !bytes.Equal(r.body, first.body) {
		t.Errorf("replay differs:\nfirst  %s\nreplay %s", first, r)
	}
	if r.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay without Idempotent-Replayed: true: %v", r.header)
	}
}

func (m *merchant) countPayments(t *testing.T) int {
	t.Helper()
	var l paymentList
	m.get(t, "/v1/payments?limit=100").want(t, 200).decode(t, &l)
	return len(l.Data)
}

// testIdempotency: Idempotency-Key over HTTP, with Stripe's rules.
func testIdempotency(t *testing.T, e *env) {
	m := e.newMerchant("Idempotent shop")
	body := obj{"amount": 4200, "currency": "USD", "order_id": "idem-1", "confirm": true, "payment_method": card(visa)}

	first := m.do(t, withKey("key-1", "/v1/payments", body)).want(t, 201)
	if first.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("first answer marked as replayed")
	}
	p := first.payment(t)
	if p.Status != kassa.StatusSucceeded {
		t.Fatalf("first: %s", first)
	}
	second := m.do(t, withKey("key-1", "/v1/payments", body))
	wantReplay(t, first, second)
	if n := m.countPayments(t); n != 1 {
		t.Errorf("%d payments after a replay, want 1", n)
	}

	// The same key with other parameters, or on another endpoint, is refused.
	other := obj{"amount": 4201, "currency": "USD", "order_id": "idem-1", "confirm": true, "payment_method": card(visa)}
	m.do(t, withKey("key-1", "/v1/payments", other)).wantError(t, 400, "idempotency_error", "idempotency_key_reused", "Idempotency-Key")
	m.do(t, withKey("key-1", "/v1/refunds", obj{"payment": p.ID})).wantError(t, 400, "idempotency_error", "idempotency_key_reused", "Idempotency-Key")
	// Keys belong to a merchant: another merchant's identical request is its own.
	o := e.newMerchant("Other shop")
	if r := o.do(t, withKey("key-1", "/v1/payments", body)).want(t, 201); r.header.Get("Idempotent-Replayed") != "" || r.payment(t).ID == p.ID {
		t.Errorf("another merchant's key-1 replayed the first merchant's answer: %s", r)
	}

	// A 400 changed nothing and does not use up the key: the corrected
	// request runs under it, and is then replayed.
	bad := obj{"currency": "USD", "order_id": "idem-2"}
	m.do(t, withKey("key-2", "/v1/payments", bad)).wantError(t, 400, "invalid_request_error", "parameter_missing", "amount")
	m.do(t, withKey("key-2", "/v1/payments", bad)).wantError(t, 400, "invalid_request_error", "parameter_missing", "amount")
	good := obj{"amount": 300, "currency": "USD", "order_id": "idem-2"}
	fixed := m.do(t, withKey("key-2", "/v1/payments", good)).want(t, 201)
	if fixed.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("corrected request was answered from the store: %s", fixed)
	}
	wantReplay(t, fixed, m.do(t, withKey("key-2", "/v1/payments", good)))
	if n := m.countPayments(t); n != 2 {
		t.Errorf("%d payments, want 2", n)
	}

	// A decline (402) is stored: the retry gets the same decline, and the
	// card is not charged twice.
	q := fixed.payment(t)
	decline := obj{"payment_method": card("4000000000000002")}
	d := m.do(t, withKey("key-3", "/v1/payments/"+q.ID+"/confirm", decline))
	d.wantError(t, 402, "card_error", "card_declined", "")
	wantReplay(t, d, m.do(t, withKey("key-3", "/v1/payments/"+q.ID+"/confirm", decline)))
	var txns struct {
		Data []kassa.TransactionObject `json:"data"`
	}
	m.get(t, "/v1/payments/"+q.ID+"/transactions").want(t, 200).decode(t, &txns)
	if len(txns.Data) != 1 || txns.Data[0].Status != kassa.TxnFailed {
		t.Errorf("after a replayed decline: %+v", txns.Data)
	}

	// Capture, refund and cancel take keys too.
	a := m.post(t, "/v1/payments", obj{"amount": 800, "currency": "USD", "capture_method": "manual", "confirm": true, "payment_method": card(visa)}).want(t, 201).payment(t)
	c := m.do(t, withKey("cap-1", "/v1/payments/"+a.ID+"/capture", obj{"amount": 600})).want(t, 200)
	wantReplay(t, c, m.do(t, withKey("cap-1", "/v1/payments/"+a.ID+"/capture", obj{"amount": 600})))
	r := m.do(t, withKey("ref-1", "/v1/refunds", obj{"payment": a.ID, "amount": 100})).want(t, 201)
	wantReplay(t, r, m.do(t, withKey("ref-1", "/v1/refunds", obj{"payment": a.ID, "amount": 100})))
	if g := m.get(t, "/v1/payments/"+a.ID).want(t, 200).payment(t); g.AmountCaptured != 600 || g.AmountRefunded != 100 {
		t.Errorf("after replayed capture and refund: captured %d refunded %d", g.AmountCaptured, g.AmountRefunded)
	}
	long := string(bytes.Repeat([]byte("k"), 256))
	m.do(t, withKey(long, "/v1/payments", good)).wantError(t, 400, "invalid_request_error", "idempotency_key_invalid", "Idempotency-Key")
}

// testIdempotencyInFlight: while the first request with a key is at the
// processor, a retry with the key answers 409 and charges nothing.
func testIdempotencyInFlight(t *testing.T, e *env) {
	m := e.newMerchant("Slow shop")
	entered, release := e.gate.hold()
	defer release()
	body := obj{"amount": 999, "currency": "USD", "description": holdDescription, "confirm": true, "payment_method": card(visa)}
	type result struct {
		r   *reply
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := m.send(withKey("slow-1", "/v1/payments", body))
		done <- result{r, err}
	}()
	select {
	case <-entered:
	case res := <-done:
		t.Fatalf("the first request finished without reaching the processor: %v %v", res.r, res.err)
	case <-time.After(20 * time.Second):
		t.Fatal("the first request never reached the processor")
	}
	m.do(t, withKey("slow-1", "/v1/payments", body)).wantError(t, 409, "invalid_request_error", "idempotency_key_in_use", "")
	m.do(t, withKey("slow-1", "/v1/payments", body)).wantError(t, 409, "invalid_request_error", "idempotency_key_in_use", "")
	release()
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	first := res.r.want(t, 201)
	if p := first.payment(t); p.Status != kassa.StatusSucceeded {
		t.Errorf("held payment: %s", first)
	}
	wantReplay(t, first, m.do(t, withKey("slow-1", "/v1/payments", body)))
	if n := m.countPayments(t); n != 1 {
		t.Errorf("%d payments, want 1", n)
	}
}

// testOneOrderOneSuccess: 50 payments of one order confirmed at once over
// HTTP: exactly one succeeds, the others are refused before the processor.
func testOneOrderOneSuccess(t *testing.T, e *env) {
	m := e.newMerchant("Race shop")
	const n = 50
	pids := make([]string, n)
	for i := range pids {
		pids[i] = m.post(t, "/v1/payments", obj{"amount": 1999, "currency": "EUR", "order_id": "race-1"}).want(t, 201).payment(t).ID
	}
	replies := make([]*reply, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			replies[i], errs[i] = m.send(request{method: "POST", path: "/v1/payments/" + pids[i] + "/confirm", body: obj{"payment_method": card(visa)}})
		})
	}
	close(start)
	wg.Wait()
	winner := ""
	conflicts := 0
	for i, r := range replies {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		switch r.status {
		case 200:
			if p := r.payment(t); p.Status != kassa.StatusSucceeded || winner != "" {
				t.Errorf("second success or odd status: %s (winner %s)", r, winner)
			}
			winner = pids[i]
		case 409:
			r.wantError(t, 409, "invalid_request_error", "order_already_paid", "order_id")
			conflicts++
		default:
			t.Errorf("unexpected answer: %s", r)
		}
	}
	if winner == "" || conflicts != n-1 {
		t.Fatalf("one success and %d conflicts expected; got winner %q and %d conflicts", n-1, winner, conflicts)
	}
	var l paymentList
	m.get(t, "/v1/payments?order_id=race-1&status=succeeded").want(t, 200).decode(t, &l)
	if ids(l.Data) != winner {
		t.Errorf("succeeded payments of the order: %s, want %s", ids(l.Data), winner)
	}
	m.get(t, "/v1/payments?order_id=race-1&status=requires_payment_method&limit=100").want(t, 200).decode(t, &l)
	if len(l.Data) != n-1 {
		t.Errorf("%d payments still awaiting a card, want %d", len(l.Data), n-1)
	}
	for _, p := range l.Data {
		var txns struct {
			Data []kassa.TransactionObject `json:"data"`
		}
		m.get(t, "/v1/payments/"+p.ID+"/transactions").want(t, 200).decode(t, &txns)
		if len(txns.Data) != 0 {
			t.Errorf("refused payment %s reached the processor: %+v", p.ID, txns.Data)
		}
	}
}
