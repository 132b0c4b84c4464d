package api_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

// TestConcurrentRefundsOverHTTP: 24 refunds of 150 race over HTTP for a
// payment with 1000 captured. Exactly six fit (900); the others are refused
// with 400 and a clear code, and the refunded total never exceeds what was
// captured, on SQLite and PostgreSQL.
func TestConcurrentRefundsOverHTTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		m := e.newMerchant("Refund race shop")
		p := m.post(t, "/v1/payments", obj{"amount": 1200, "currency": "USD", "capture_method": "manual", "confirm": true, "payment_method": card(visa)}).
			want(t, 201).payment(t)
		m.post(t, "/v1/payments/"+p.ID+"/capture", obj{"amount": 1000}).want(t, 200)

		const n, each = 24, 150
		replies := make([]*reply, n)
		errs := make([]error, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				replies[i], errs[i] = m.send(request{method: "POST", path: "/v1/refunds", body: obj{"payment": p.ID, "amount": each}})
			})
		}
		close(start)
		wg.Wait()
		ok := 0
		for i, r := range replies {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			switch r.status {
			case 201:
				ok++
			case 400:
				var er apiError
				r.decode(t, &er)
				if er.Error.Type != "invalid_request_error" || (er.Error.Code != "amount_too_large" && er.Error.Code != "charge_already_refunded") {
					t.Errorf("refused refund: %s", r)
				}
			default:
				t.Errorf("unexpected answer: %s", r)
			}
		}
		if ok != 1000/each {
			t.Errorf("%d refunds of %d succeeded, want %d", ok, each, 1000/each)
		}
		g := m.get(t, "/v1/payments/"+p.ID).want(t, 200).payment(t)
		if g.AmountRefunded != int64(ok*each) || g.AmountRefunded > g.AmountCaptured {
			t.Errorf("amount_refunded %d of %d captured after %d successes", g.AmountRefunded, g.AmountCaptured, ok)
		}
		var refunds int
		for _, x := range ledger(t, m, p.ID) {
			if x.Type == kassa.TxnRefund {
				refunds++
				if x.Status != kassa.TxnSucceeded {
					t.Errorf("refund ledger row %+v", x)
				}
			}
		}
		if refunds != ok {
			t.Errorf("%d refund ledger rows, want %d: refused refunds must not reach the processor", refunds, ok)
		}
		// The last 100 still fits exactly; one more unit does not.
		m.post(t, "/v1/refunds", obj{"payment": p.ID, "amount": 101}).wantError(t, 400, "invalid_request_error", "amount_too_large", "amount")
		m.post(t, "/v1/refunds", obj{"payment": p.ID, "amount": 100}).want(t, 201)
	})
}

// TestMetadataBounds: metadata is a bounded string map (50 keys of at most
// 40 characters, values of at most 500); each breach names its param and
// writes nothing.
func TestMetadataBounds(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m := newEnv(t, db).newMerchant("Metadata shop")
		many := obj{}
		for i := range 51 {
			many[fmt.Sprintf("k%02d", i)] = "v"
		}
		for _, c := range []struct {
			name     string
			metadata obj
			code     string
			param    string
		}{
			{"51 keys", many, "parameter_invalid", "metadata"},
			{"key of 41 characters", obj{strings.Repeat("k", 41): "v"}, "parameter_invalid", "metadata[" + strings.Repeat("k", 41) + "]"},
			{"value of 501 characters", obj{"note": strings.Repeat("v", 501)}, "parameter_too_long", "metadata[note]"},
		} {
			t.Run(c.name, func(t *testing.T) {
				m.post(t, "/v1/payments", obj{"amount": 100, "currency": "USD", "metadata": c.metadata}).
					wantError(t, 400, "invalid_request_error", c.code, c.param)
			})
		}
		delete(many, "k50")
		p := m.post(t, "/v1/payments", obj{"amount": 100, "currency": "USD", "metadata": many}).want(t, 201).payment(t)
		if len(p.Metadata) != 50 || m.countPayments(t) != 1 {
			t.Errorf("50 keys: %d kept, %d payments", len(p.Metadata), m.countPayments(t))
		}
	})
}

// TestTestAndLiveKeysSeparate: a merchant's live secret key (rolled as the
// dashboard does) and its test key are separate modes over HTTP: each sees
// only its own payments, order ids and idempotency keys, and livemode says
// which mode a payment belongs to.
func TestTestAndLiveKeysSeparate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		test := e.newMerchant("Two modes shop")
		sk, err := e.eng.RollSecretKey(context.Background(), test.id, true)
		if err != nil || !strings.HasPrefix(sk, "sk_live_") {
			t.Fatalf("live key: %q, %v", sk, err)
		}
		live := &merchant{e: e, id: test.id, sk: sk}

		body := obj{"amount": 900, "currency": "USD", "order_id": "both-modes", "confirm": true, "payment_method": card(visa)}
		tp := test.do(t, withKey("same-key", "/v1/payments", body)).want(t, 201).payment(t)
		lp := live.do(t, withKey("same-key", "/v1/payments", body)).want(t, 201).payment(t) // neither the order nor the key is shared
		if tp.Livemode || !lp.Livemode || tp.ID == lp.ID || lp.Status != kassa.StatusSucceeded {
			t.Fatalf("test %+v\nlive %+v", tp, lp)
		}
		test.get(t, "/v1/payments/"+lp.ID).wantError(t, 404, "invalid_request_error", "resource_missing", "")
		live.get(t, "/v1/payments/"+tp.ID).wantError(t, 404, "invalid_request_error", "resource_missing", "")
		live.post(t, "/v1/refunds", obj{"payment": tp.ID}).wantError(t, 404, "invalid_request_error", "resource_missing", "payment")
		for _, c := range []struct {
			m    *merchant
			want string
		}{{test, tp.ID}, {live, lp.ID}} {
			var l paymentList
			c.m.get(t, "/v1/payments").want(t, 200).decode(t, &l)
			if ids(l.Data) != c.want {
				t.Errorf("list: %s, want %s", ids(l.Data), c.want)
			}
		}
	})
}
