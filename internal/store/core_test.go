package store_test

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

// eachDialectParallel is storetest.Each with parallel subtests.
func eachDialectParallel(t *testing.T, f func(t *testing.T, db *store.DB)) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			f(t, storetest.Open(t, d))
		})
	}
}

var bg = context.Background()

// at is a fixed instant with microsecond precision, as the store keeps times.
var at = time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)

func seedMerchant(t *testing.T, db *store.DB, id string) {
	t.Helper()
	if err := db.Write(bg, func(tx kassa.Tx) error {
		return tx.InsertMerchant(bg, &kassa.Merchant{ID: id, Name: "M " + id, Created: at})
	}); err != nil {
		t.Fatal(err)
	}
}

func newPayment(id, merchant string, live bool) *kassa.Payment {
	return &kassa.Payment{ID: id, MerchantID: merchant, Livemode: live, Amount: 1000, Currency: "USD",
		CaptureMethod: kassa.CaptureAutomatic, Status: kassa.StatusRequiresPaymentMethod, ClientSecret: id + "_secret",
		Created: at, Updated: at, ExpiresAt: at.Add(24 * time.Hour)}
}

func insert(t *testing.T, db *store.DB, fn func(tx kassa.Tx) error) {
	t.Helper()
	if err := db.Write(bg, fn); err != nil {
		t.Fatal(err)
	}
}

func txn(id, payment string, typ kassa.TxnType, st kassa.TxnStatus, amount int64, updated time.Time) *kassa.Transaction {
	return &kassa.Transaction{ID: id, PaymentID: payment, MerchantID: "mer_1", Type: typ, Status: st, Amount: amount,
		Currency: "USD", Processor: "simulator", Created: updated, Updated: updated}
}

// TestPaymentRoundTrip: every field written is read back as written, and
// reads are scoped to the principal's merchant and mode.
func TestPaymentRoundTrip(t *testing.T) {
	eachDialectParallel(t, func(t *testing.T, db *store.DB) {
		seedMerchant(t, db, "mer_1")
		p := newPayment("pay_1", "mer_1", false)
		p.OrderID, p.Description, p.ReturnURL, p.CancelURL, p.NotifyURL = "o-1", "Pedido ñ — 1", "https://r", "https://c", "https://n"
		p.Customer = &kassa.Customer{Email: "a@b.co", Name: "Ana"}
		p.Billing = &kassa.Address{Line1: "Av. 1", Country: "PE"}
		p.Shipping = &kassa.Address{City: "Lima"}
		p.Items = []kassa.Item{{Name: "Café", Quantity: 2, UnitPrice: 500, SKU: "C1"}}
		p.Metadata = map[string]string{"k": "v", "ü": "ñ"}
		insert(t, db, func(tx kassa.Tx) error { return tx.InsertPayment(bg, p) })

		pr := kassa.Principal{MerchantID: "mer_1"}
		got, err := db.Payment(bg, pr, "pay_1")
		if err != nil || !reflect.DeepEqual(got, p) {
			t.Fatalf("read back:\n got %+v, %v\nwant %+v", got, err, p)
		}
		for _, other := range []kassa.Principal{{MerchantID: "mer_1", Livemode: true}, {MerchantID: "mer_2"}} {
			if _, err := db.Payment(bg, other, "pay_1"); kassa.ErrorKind(err) != kassa.ENOTFOUND {
				t.Errorf("Payment as %+v: %v, want ENOTFOUND", other, err)
			}
			err := db.Write(bg, func(tx kassa.Tx) error { _, err := tx.LockPayment(bg, other, "pay_1"); return err })
			if kassa.ErrorKind(err) != kassa.ENOTFOUND {
				t.Errorf("LockPayment as %+v: %v, want ENOTFOUND", other, err)
			}
		}

		// The fields that change after creation.
		p.Status, p.Updated, p.CanceledReason = kassa.StatusRequiresAction, at.Add(time.Second), "x"
		p.LastError = &kassa.PaymentError{Type: "card_error", Code: "card_declined", DeclineCode: "generic_decline", Message: "no"}
		p.NextAction = &kassa.NextAction{Type: "redirect_to_url", RedirectURL: "https://acs"}
		p.Card = &kassa.CardSummary{Brand: "visa", Last4: "4242", ExpMonth: 12, ExpYear: 2030}
		insert(t, db, func(tx kassa.Tx) error { return tx.UpdatePayment(bg, p) })
		if got, err := db.PaymentByID(bg, "pay_1"); err != nil || !reflect.DeepEqual(got, p) {
			t.Errorf("after update:\n got %+v, %v\nwant %+v", got, err, p)
		}
		// Clearing optional fields clears them.
		p.LastError, p.NextAction, p.Card = nil, nil, nil
		insert(t, db, func(tx kassa.Tx) error { return tx.UpdatePayment(bg, p) })
		if got, _ := db.PaymentByID(bg, "pay_1"); got.LastError != nil || got.NextAction != nil || got.Card != nil {
			t.Errorf("cleared fields read back as %+v %+v %+v", got.LastError, got.NextAction, got.Card)
		}
		err = db.Write(bg, func(tx kassa.Tx) error { return tx.UpdatePayment(bg, newPayment("pay_missing", "mer_1", false)) })
		if kassa.ErrorKind(err) != kassa.ENOTFOUND {
			t.Errorf("update a missing payment: %v", err)
		}
		// The schema refuses a non-positive amount.
		bad := newPayment("pay_zero", "mer_1", false)
		bad.Amount = 0
		if err := db.Write(bg, func(tx kassa.Tx) error { return tx.InsertPayment(bg, bad) }); err == nil {
			t.Error("a payment of 0 was stored")
		}
	})
}

// TestWriteIsAllOrNothing: a Write whose fn fails leaves nothing behind,
// and does not disturb other writes.
func TestWriteIsAllOrNothing(t *testing.T) {
	eachDialectParallel(t, func(t *testing.T, db *store.DB) {
		seedMerchant(t, db, "mer_1")
		boom := errors.New("boom")
		err := db.Write(bg, func(tx kassa.Tx) error {
			if err := tx.InsertPayment(bg, newPayment("pay_1", "mer_1", false)); err != nil {
				return err
			}
			if err := tx.InsertTransaction(bg, txn("txn_1", "pay_1", kassa.TxnSale, kassa.TxnPending, 1000, at)); err != nil {
				return err
			}
			if _, err := tx.ClaimOrder(bg, "mer_1", false, "o-1", "pay_1"); err != nil {
				return err
			}
			if err := tx.InsertEvent(bg, &kassa.Event{ID: "evt_1", MerchantID: "mer_1", Type: "payment.created", PaymentID: "pay_1", Data: []byte("{}"), Created: at}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Write = %v, want fn's error", err)
		}
		if _, err := db.PaymentByID(bg, "pay_1"); kassa.ErrorKind(err) != kassa.ENOTFOUND {
			t.Errorf("payment of a failed write: %v", err)
		}
		if _, err := db.Transaction(bg, "txn_1"); kassa.ErrorKind(err) != kassa.ENOTFOUND {
			t.Errorf("transaction of a failed write: %v", err)
		}
		if _, err := db.Event(bg, kassa.Principal{MerchantID: "mer_1"}, "evt_1"); kassa.ErrorKind(err) != kassa.ENOTFOUND {
			t.Errorf("event of a failed write: %v", err)
		}
		insert(t, db, func(tx kassa.Tx) error {
			if h, err := tx.ClaimOrder(bg, "mer_1", false, "o-1", "pay_2"); err != nil || h != "pay_2" {
				t.Errorf("claim after a failed write: %q, %v", h, err)
			}
			return nil
		})

		// Failing and succeeding writes at once: each gets its own result.
		var wg sync.WaitGroup
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := "pay_c" + strconv.Itoa(i)
				err := db.Write(bg, func(tx kassa.Tx) error {
					if err := tx.InsertPayment(bg, newPayment(id, "mer_1", false)); err != nil {
						return err
					}
					if i%2 == 1 {
						return boom
					}
					return nil
				})
				if (i%2 == 1) != errors.Is(err, boom) || (i%2 == 0 && err != nil) {
					t.Errorf("write %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		ps, _, err := db.ListPayments(bg, kassa.Principal{MerchantID: "mer_1"}, kassa.PaymentFilter{Page: kassa.Page{Limit: 100}})
		if err != nil || len(ps) != 10 {
			t.Fatalf("payments after mixed writes: %d, %v", len(ps), err)
		}
		for _, p := range ps {
			if n, _ := strconv.Atoi(p.ID[len("pay_c"):]); n%2 == 1 {
				t.Errorf("payment %s of a failed write exists", p.ID)
			}
		}
	})
}

// TestLockPaymentSerializesWrites: read-modify-write under LockPayment loses
// no update, whatever the concurrency.
func TestLockPaymentSerializesWrites(t *testing.T) {
	eachDialectParallel(t, func(t *testing.T, db *store.DB) {
		seedMerchant(t, db, "mer_1")
		insert(t, db, func(tx kassa.Tx) error { return tx.InsertPayment(bg, newPayment("pay_1", "mer_1", false)) })
		pr := kassa.Principal{MerchantID: "mer_1"}
		const n = 30
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := db.Write(bg, func(tx kassa.Tx) error {
					p, err := tx.LockPayment(bg, pr, "pay_1")
					if err != nil {
						return err
					}
					c, _ := strconv.Atoi(p.CanceledReason)
					p.CanceledReason = strconv.Itoa(c + 1)
					return tx.UpdatePayment(bg, p)
				})
				if err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if p, _ := db.PaymentByID(bg, "pay_1"); p.CanceledReason != strconv.Itoa(n) {
			t.Errorf("counter = %s after %d locked increments", p.CanceledReason, n)
		}
	})
}

// TestClaimOrderRace: of 50 writes claiming one order at once, one wins and
// all see the same holder.
func TestClaimOrderRace(t *testing.T) {
	eachDialectParallel(t, func(t *testing.T, db *store.DB) {
		const n = 50
		holders := make([]string, n)
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := db.Write(bg, func(tx kassa.Tx) error {
					var err error
					holders[i], err = tx.ClaimOrder(bg, "mer_1", false, "o-race", "pay_"+strconv.Itoa(i))
					return err
				})
				if err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		winners := 0
		for i, h := range holders {
			if h != holders[0] {
				t.Errorf("claim %d saw holder %s, claim 0 saw %s", i, h, holders[0])
			}
			if h == "pay_"+strconv.Itoa(i) {
				winners++
			}
		}
		if winners != 1 {
			t.Errorf("%d claims won", winners)
		}
	})
}

// TestLedger: history, grouping and the reconciler's work list.
func TestLedger(t *testing.T) {
	eachDialectParallel(t, func(t *testing.T, db *store.DB) {
		seedMerchant(t, db, "mer_1")
		insert(t, db, func(tx kassa.Tx) error {
			for _, id := range []string{"pay_1", "pay_2"} {
				if err := tx.InsertPayment(bg, newPayment(id, "mer_1", false)); err != nil {
					return err
				}
			}
			rows := []*kassa.Transaction{
				txn("txn_1", "pay_1", kassa.TxnSale, kassa.TxnPending, 1000, at),                        // old pending
				txn("txn_2", "pay_1", kassa.TxnRefund, kassa.TxnUnknown, 100, at.Add(time.Hour)),        // unknown: always listed
				txn("txn_3", "pay_2", kassa.TxnAuthorize, kassa.TxnPending, 500, at.Add(2*time.Minute)), // young pending
				txn("txn_4", "pay_2", kassa.TxnCapture, kassa.TxnSucceeded, 500, at),
				txn("txn_5", "pay_2", kassa.TxnVoid, kassa.TxnFailed, 500, at),
			}
			for _, x := range rows {
				if err := tx.InsertTransaction(bg, x); err != nil {
					return err
				}
			}
			return nil
		})
		un, err := db.UnsettledTransactions(bg, at.Add(time.Minute), 10)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, x := range un {
			ids = append(ids, x.ID)
		}
		if !reflect.DeepEqual(ids, []string{"txn_1", "txn_2"}) {
			t.Errorf("unsettled = %v, want [txn_1 txn_2] (old pending, then unknown, by age)", ids)
		}
		if un, _ := db.UnsettledTransactions(bg, at.Add(time.Minute), 1); len(un) != 1 || un[0].ID != "txn_1" {
			t.Errorf("limit 1: %v", un)
		}

		// Settling a row appends to its history.
		x := txn("txn_1", "pay_1", kassa.TxnSale, kassa.TxnSucceeded, 1000, at.Add(time.Second))
		x.ProcessorRef, x.AuthorizationCode, x.ResponseCode, x.Message = "sim_1", "ABC123", "00", "Approved"
		insert(t, db, func(tx kassa.Tx) error { return tx.UpdateTransaction(bg, x) })
		got, err := db.Transaction(bg, "txn_1")
		if err != nil || got.Status != kassa.TxnSucceeded || got.ProcessorRef != "sim_1" || got.AuthorizationCode != "ABC123" || !got.Updated.Equal(x.Updated) {
			t.Errorf("settled row: %+v, %v", got, err)
		}
		all, err := db.Transactions(bg, []string{"pay_1", "pay_2", "pay_none"}, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(all["pay_1"]) != 2 || len(all["pay_2"]) != 3 || len(all["pay_none"]) != 0 || all["pay_1"][0].ID != "txn_1" {
			t.Fatalf("grouped: %v", all)
		}
		h := all["pay_1"][0].History
		if len(h) != 2 || h[0].Status != kassa.TxnPending || h[1].Status != kassa.TxnSucceeded || h[1].Code != "00" || h[1].Message != "Approved" {
			t.Errorf("history %+v", h)
		}
		if all, _ := db.Transactions(bg, []string{"pay_1"}, false); all["pay_1"][0].History != nil {
			t.Error("history read without asking")
		}
		if empty, err := db.Transactions(bg, nil, true); err != nil || len(empty) != 0 {
			t.Errorf("no payments: %v, %v", empty, err)
		}
		if _, err := db.Transaction(bg, "txn_none"); kassa.ErrorKind(err) != kassa.ENOTFOUND {
			t.Errorf("missing transaction: %v", err)
		}
		err = db.Write(bg, func(tx kassa.Tx) error {
			return tx.UpdateTransaction(bg, txn("txn_none", "pay_1", kassa.TxnSale, kassa.TxnFailed, 1, at))
		})
		if kassa.ErrorKind(err) != kassa.ENOTFOUND {
			t.Errorf("update a missing transaction: %v", err)
		}

		// Refunds take their status from their transaction.
		insert(t, db, func(tx kassa.Tx) error {
			return tx.InsertRefund(bg, &kassa.Refund{ID: "re_1", PaymentID: "pay_1", MerchantID: "mer_1", TransactionID: "txn_2",
				Amount: 100, Currency: "USD", Reason: "duplicate", Metadata: map[string]string{"a": "b"}, Created: at})
		})
		r, err := db.Refund(bg, kassa.Principal{MerchantID: "mer_1"}, "re_1")
		if err != nil || r.Status != kassa.TxnUnknown || r.Metadata["a"] != "b" || r.Amount != 100 {
			t.Errorf("refund: %+v, %v", r, err)
		}
		x2 := txn("txn_2", "pay_1", kassa.TxnRefund, kassa.TxnFailed, 100, at.Add(2*time.Hour))
		x2.DeclineCode = "invalid_amount"
		insert(t, db, func(tx kassa.Tx) error {
			if err := tx.UpdateTransaction(bg, x2); err != nil {
				return err
			}
			r, err := tx.RefundByTransaction(bg, "txn_2")
			if err != nil || r.ID != "re_1" || r.Status != kassa.TxnFailed || r.FailureCode != "invalid_amount" {
				t.Errorf("refund by transaction: %+v, %v", r, err)
			}
			return nil
		})
	})
}

// TestExpiredPayments: only payments still awaiting the shopper, past their expiry.
func TestExpiredPayments(t *testing.T) {
	eachDialectParallel(t, func(t *testing.T, db *store.DB) {
		seedMerchant(t, db, "mer_1")
		insert(t, db, func(tx kassa.Tx) error {
			for i, s := range []kassa.PaymentStatus{kassa.StatusRequiresPaymentMethod, kassa.StatusRequiresAction, kassa.StatusProcessing,
				kassa.StatusRequiresCapture, kassa.StatusSucceeded, kassa.StatusCanceled} {
				p := newPayment("pay_"+string(s), "mer_1", i%2 == 0)
				p.Status, p.ExpiresAt = s, at
				if err := tx.InsertPayment(bg, p); err != nil {
					return err
				}
			}
			p := newPayment("pay_later", "mer_1", false)
			p.ExpiresAt = at.Add(time.Hour)
			return tx.InsertPayment(bg, p)
		})
		ps, err := db.ExpiredPayments(bg, at.Add(time.Minute), 10)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, p := range ps {
			got[p.ID] = true
		}
		if !reflect.DeepEqual(got, map[string]bool{"pay_requires_payment_method": true, "pay_requires_action": true}) {
			t.Errorf("expired = %v", got)
		}
		if ps, _ := db.ExpiredPayments(bg, at, 10); len(ps) != 0 {
			t.Errorf("expired at the expiry instant: %d", len(ps))
		}
	})
}

// TestListPaging: newest first, cursors, filters and the has-more flag.
func TestListPaging(t *testing.T) {
	eachDialectParallel(t, func(t *testing.T, db *store.DB) {
		seedMerchant(t, db, "mer_1")
		var ids []string
		insert(t, db, func(tx kassa.Tx) error {
			for i := 0; i < 7; i++ {
				p := newPayment(kassa.NewID("pay"), "mer_1", false)
				p.Created = at.Add(time.Duration(i) * time.Minute)
				if i%3 == 0 {
					p.Status, p.OrderID = kassa.StatusSucceeded, "o-"+strconv.Itoa(i)
				}
				ids = append(ids, p.ID)
				if err := tx.InsertPayment(bg, p); err != nil {
					return err
				}
			}
			return tx.InsertPayment(bg, newPayment(kassa.NewID("pay"), "mer_1", true))
		})
		pr := kassa.Principal{MerchantID: "mer_1"}
		var seen []string
		after := ""
		for page := 0; ; page++ {
			ps, more, err := db.ListPayments(bg, pr, kassa.PaymentFilter{Page: kassa.Page{Limit: 3, StartingAfter: after}})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ps {
				seen = append(seen, p.ID)
			}
			if !more {
				break
			}
			after = ps[len(ps)-1].ID
			if page > 5 {
				t.Fatal("paging does not end")
			}
		}
		want := make([]string, len(ids))
		for i, id := range ids {
			want[len(ids)-1-i] = id
		}
		if !reflect.DeepEqual(seen, want) {
			t.Errorf("paged = %v\nwant %v", seen, want)
		}
		ps, _, _ := db.ListPayments(bg, pr, kassa.PaymentFilter{Page: kassa.Page{Limit: 10}, Status: kassa.StatusSucceeded})
		if len(ps) != 3 {
			t.Errorf("succeeded: %d, want 3", len(ps))
		}
		ps, _, _ = db.ListPayments(bg, pr, kassa.PaymentFilter{Page: kassa.Page{Limit: 10}, OrderID: "o-3"})
		if len(ps) != 1 || ps[0].ID != ids[3] {
			t.Errorf("order o-3: %v", ps)
		}
		gte, lte := at.Add(2*time.Minute), at.Add(4*time.Minute)
		ps, _, _ = db.ListPayments(bg, pr, kassa.PaymentFilter{Page: kassa.Page{Limit: 10}, CreatedGTE: &gte, CreatedLTE: &lte})
		if len(ps) != 3 {
			t.Errorf("created in [2m, 4m]: %d, want 3", len(ps))
		}
	})
}

// TestIdempotencyKeys: reserve once, read the stored record back, save,
// delete by age; concurrent reservations have one winner.
func TestIdempotencyKeys(t *testing.T) {
	eachDialectParallel(t, func(t *testing.T, db *store.DB) {
		k := &kassa.IdempotencyKey{MerchantID: "mer_1", Key: "k", Fingerprint: "fp", Created: at, LockedUntil: at.Add(time.Minute)}
		var first, second *kassa.IdempotencyKey
		insert(t, db, func(tx kassa.Tx) error {
			var err error
			first, err = tx.ReserveIdempotencyKey(bg, k)
			return err
		})
		insert(t, db, func(tx kassa.Tx) error {
			var err error
			second, err = tx.ReserveIdempotencyKey(bg, &kassa.IdempotencyKey{MerchantID: "mer_1", Key: "k", Fingerprint: "other", Created: at.Add(time.Hour)})
			return err
		})
		if !first.Inserted || second.Inserted || second.Fingerprint != "fp" || second.StatusCode != 0 || !second.LockedUntil.Equal(k.LockedUntil) || !second.Created.Equal(at) {
			t.Fatalf("first %+v second %+v", first, second)
		}
		insert(t, db, func(tx kassa.Tx) error {
			return tx.SaveIdempotencyKey(bg, &kassa.IdempotencyKey{MerchantID: "mer_1", Key: "k", StatusCode: 201, Response: []byte(`{"a":1}`), LockedUntil: at})
		})
		insert(t, db, func(tx kassa.Tx) error {
			s, err := tx.ReserveIdempotencyKey(bg, k)
			if err == nil && (s.StatusCode != 201 || string(s.Response) != `{"a":1}`) {
				t.Errorf("saved key read back as %+v", s)
			}
			// Another mode is another key.
			live := *k
			live.Livemode = true
			if s, err := tx.ReserveIdempotencyKey(bg, &live); err != nil || !s.Inserted {
				t.Errorf("live key: %+v, %v", s, err)
			}
			return err
		})
		var deleted int64
		insert(t, db, func(tx kassa.Tx) error {
			var err error
			deleted, err = tx.DeleteIdempotencyKeys(bg, at.Add(time.Second))
			return err
		})
		if deleted != 2 {
			t.Errorf("deleted %d keys, want 2", deleted)
		}

		const n = 20
		var wg sync.WaitGroup
		var mu sync.Mutex
		inserted := 0
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := db.Write(bg, func(tx kassa.Tx) error {
					s, err := tx.ReserveIdempotencyKey(bg, &kassa.IdempotencyKey{MerchantID: "mer_1", Key: "race", Fingerprint: strconv.Itoa(i), Created: at, LockedUntil: at})
					if err == nil && s.Inserted {
						mu.Lock()
						inserted++
						mu.Unlock()
					}
					return err
				})
				if err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if inserted != 1 {
			t.Errorf("%d concurrent reservations inserted, want 1", inserted)
		}
	})
}
