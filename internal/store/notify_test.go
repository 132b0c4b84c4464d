package store_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

func nfSeedMerchant(t *testing.T, db *store.DB, id string) {
	t.Helper()
	ctx := context.Background()
	if err := db.Write(ctx, func(tx kassa.Tx) error {
		return tx.InsertMerchant(ctx, &kassa.Merchant{ID: id, Name: id, Created: time.Now()})
	}); err != nil {
		t.Fatal(err)
	}
}

func nfSeedPayment(t *testing.T, db *store.DB, merchant, id, notifyURL string) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	if err := db.Write(ctx, func(tx kassa.Tx) error {
		return tx.InsertPayment(ctx, &kassa.Payment{ID: id, MerchantID: merchant, Amount: 1000, Currency: "USD",
			CaptureMethod: kassa.CaptureAutomatic, Status: kassa.StatusRequiresPaymentMethod, ClientSecret: id + "_secret",
			NotifyURL: notifyURL, Created: now, Updated: now, ExpiresAt: now.Add(time.Hour)})
	}); err != nil {
		t.Fatal(err)
	}
}

func nfAddEndpoint(t *testing.T, db *store.DB, merchant string, live bool, status string, events ...string) string {
	t.Helper()
	if len(events) == 0 {
		events = []string{"*"}
	}
	now := time.Now()
	e := &notify.Endpoint{ID: kassa.NewID("we"), MerchantID: merchant, Livemode: live, URL: "https://example.com/hook",
		Events: events, Format: notify.FormatStandard, Secret: notify.NewSecret(), Status: status, Created: now, Updated: now}
	if err := db.InsertEndpoint(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	return e.ID
}

func nfInsertEvent(t *testing.T, db *store.DB, merchant, typ, payment string) string {
	t.Helper()
	ctx := context.Background()
	e := kassa.NewEvent(typ, merchant, false, payment, map[string]string{"id": payment}, time.Now())
	if err := db.Write(ctx, func(tx kassa.Tx) error { return tx.InsertEvent(ctx, e) }); err != nil {
		t.Fatal(err)
	}
	return e.ID
}

func nfDestinations(t *testing.T, db *store.DB, eventID string) []string {
	t.Helper()
	ds, err := db.EventDeliveries(context.Background(), eventID)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range ds {
		if d.Status != notify.StatusPending || d.Attempts != 0 {
			t.Errorf("new delivery %s→%q: status %s, attempts %d", d.EventID, d.EndpointID, d.Status, d.Attempts)
		}
		out = append(out, d.EndpointID)
	}
	sort.Strings(out)
	return out
}

// An event gets one delivery per subscribed, enabled endpoint of its
// merchant and mode, plus one to its payment's notify_url, in its own
// transaction: a rolled-back event leaves no delivery.
func TestEventEnqueuesDeliveries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		nfSeedMerchant(t, db, "mer_1")
		nfSeedMerchant(t, db, "mer_2")
		all := nfAddEndpoint(t, db, "mer_1", false, notify.EndpointEnabled)
		succ := nfAddEndpoint(t, db, "mer_1", false, notify.EndpointEnabled, kassa.EventPaymentSucceeded, kassa.EventRefundFailed)
		nfAddEndpoint(t, db, "mer_1", false, notify.EndpointDisabled)
		nfAddEndpoint(t, db, "mer_1", true, notify.EndpointEnabled)  // live mode
		nfAddEndpoint(t, db, "mer_2", false, notify.EndpointEnabled) // another merchant
		nfSeedPayment(t, db, "mer_1", "pay_n", "https://shop.example/notify")
		nfSeedPayment(t, db, "mer_1", "pay_x", "")

		check := func(typ, pay string, want ...string) {
			t.Helper()
			sort.Strings(want)
			got := nfDestinations(t, db, nfInsertEvent(t, db, "mer_1", typ, pay))
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s on %s: destinations %q, want %q", typ, pay, got, want)
			}
		}
		check(kassa.EventPaymentCreated, "pay_n", all, "")
		check(kassa.EventPaymentSucceeded, "pay_n", all, succ, "")
		check(kassa.EventPaymentSucceeded, "pay_x", all, succ)
		check(kassa.EventPaymentFailed, "pay_x", all)

		var evID string
		boom := errors.New("boom")
		err := db.Write(ctx, func(tx kassa.Tx) error {
			e := kassa.NewEvent(kassa.EventPaymentSucceeded, "mer_1", false, "pay_n", nil, time.Now())
			evID = e.ID
			if err := tx.InsertEvent(ctx, e); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("write: %v", err)
		}
		if ds, err := db.EventDeliveries(ctx, evID); err != nil || len(ds) != 0 {
			t.Fatalf("rolled-back event left deliveries %v (%v)", ds, err)
		}
	})
}

// Concurrent claimers never get the same delivery; a lease that runs out
// makes the delivery due again; an outcome from a worker whose lease ran
// out is logged but does not override the later claim.
func TestClaimDeliveries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		nfSeedMerchant(t, db, "mer_1")
		nfAddEndpoint(t, db, "mer_1", false, notify.EndpointEnabled)
		const n = 300
		err := db.Write(ctx, func(tx kassa.Tx) error {
			for i := 0; i < n; i++ {
				if err := tx.InsertEvent(ctx, kassa.NewEvent(kassa.EventPaymentCreated, "mer_1", false, "", nil, time.Now())); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					ds, err := db.ClaimDeliveries(ctx, now, now.Add(time.Hour), 7)
					if err != nil {
						t.Error(err)
						return
					}
					if len(ds) == 0 {
						return
					}
					mu.Lock()
					for _, d := range ds {
						seen[d.EventID]++
						if d.Event == nil || d.Event.ID != d.EventID || len(d.Secrets) != 1 || d.Attempts != 1 {
							t.Errorf("claimed delivery %+v lacks its event or secret", d)
						}
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(seen) != n {
			t.Fatalf("claimed %d distinct deliveries, want %d", len(seen), n)
		}
		for id, c := range seen {
			if c != 1 {
				t.Fatalf("delivery of %s claimed %d times", id, c)
			}
		}

		// Leases: nothing is due before they end; all are after.
		if ds, _ := db.ClaimDeliveries(ctx, now.Add(59*time.Minute), now.Add(2*time.Hour), 10); len(ds) != 0 {
			t.Fatalf("claimed %d leased deliveries", len(ds))
		}
		later := now.Add(61 * time.Minute)
		first, err := db.ClaimDeliveries(ctx, later, later.Add(time.Minute), 1)
		if err != nil || len(first) != 1 || first[0].Attempts != 2 {
			t.Fatalf("after the lease: %v, %v; want one delivery at attempt 2", first, err)
		}
		stale := *first[0]
		stale.Attempts = 1 // the worker that died
		rec := func(d *notify.Delivery, delivered bool) {
			t.Helper()
			status := notify.StatusPending
			if delivered {
				status = notify.StatusDelivered
			}
			err := db.RecordOutcomes(ctx, []notify.Outcome{{Delivery: d, Status: status, NextAttempt: later.Add(time.Hour),
				Attempt: notify.Attempt{ID: kassa.NewID("wha"), URL: d.URL, StatusCode: 200, Delivered: delivered, Created: later}}})
			if err != nil {
				t.Fatal(err)
			}
		}
		rec(&stale, true)
		ds, _ := db.EventDeliveries(ctx, stale.EventID)
		if ds[0].Status != notify.StatusPending {
			t.Fatalf("a stale outcome changed the delivery to %s", ds[0].Status)
		}
		rec(first[0], false)
		ds, _ = db.EventDeliveries(ctx, stale.EventID)
		if ds[0].Status != notify.StatusPending || !ds[0].NextAttempt.Equal(later.Add(time.Hour).Truncate(time.Microsecond)) {
			t.Fatalf("retry not scheduled: %+v", ds[0])
		}
		atts, _, err := db.ListAttempts(ctx, kassa.Principal{MerchantID: "mer_1"}, "", stale.EventID, kassa.Page{Limit: 10})
		if err != nil || len(atts) != 2 || atts[0].Attempt+atts[1].Attempt != 3 {
			t.Fatalf("attempt log %v, %v; want attempts 1 and 2", atts, err)
		}

		// A manual redelivery re-arms the row with a fresh schedule.
		rd, err := db.Redeliver(ctx, kassa.Principal{MerchantID: "mer_1"}, stale.EventID, later)
		if err != nil || len(rd) != 1 || rd[0].RetryFrom != 2 || rd[0].Status != notify.StatusPending {
			t.Fatalf("redeliver: %+v, %v", rd, err)
		}
		if _, err := db.Redeliver(ctx, kassa.Principal{MerchantID: "mer_2"}, stale.EventID, later); kassa.ErrorKind(err) != kassa.ENOTFOUND {
			t.Fatalf("redeliver of another merchant's event: %v", err)
		}
	})
}

// Deleting an endpoint cancels its pending deliveries; a 410 outcome
// disables it and cancels the rest.
func TestEndpointLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		pr := kassa.Principal{MerchantID: "mer_1"}
		nfSeedMerchant(t, db, "mer_1")
		a := nfAddEndpoint(t, db, "mer_1", false, notify.EndpointEnabled, kassa.EventPaymentCreated, kassa.EventPaymentFailed)
		b := nfAddEndpoint(t, db, "mer_1", false, notify.EndpointEnabled)
		e, err := db.Endpoint(ctx, pr, a)
		if err != nil || fmt.Sprint(e.Events) != "[payment.created payment.failed]" {
			t.Fatalf("endpoint: %+v, %v", e, err)
		}
		list, more, err := db.ListEndpoints(ctx, pr, kassa.Page{Limit: 1})
		if err != nil || len(list) != 1 || !more || list[0].ID != b {
			t.Fatalf("list: %v %v %v", list, more, err)
		}
		if _, err := db.Endpoint(ctx, kassa.Principal{MerchantID: "mer_1", Livemode: true}, a); kassa.ErrorKind(err) != kassa.ENOTFOUND {
			t.Fatalf("live-mode lookup of a test endpoint: %v", err)
		}
		ev := nfInsertEvent(t, db, "mer_1", kassa.EventPaymentCreated, "")
		if err := db.DeleteEndpoint(ctx, pr, a); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteEndpoint(ctx, pr, a); kassa.ErrorKind(err) != kassa.ENOTFOUND {
			t.Fatalf("second delete: %v", err)
		}
		ds, _ := db.EventDeliveries(ctx, ev)
		for _, d := range ds {
			want := map[string]string{a: notify.StatusCanceled, b: notify.StatusPending}[d.EndpointID]
			if d.Status != want {
				t.Errorf("delivery to %s: %s, want %s", d.EndpointID, d.Status, want)
			}
		}

		now := time.Now()
		claimed, err := db.ClaimDeliveries(ctx, now, now.Add(time.Minute), 1)
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claim: %v %v", claimed, err)
		}
		ev2 := nfInsertEvent(t, db, "mer_1", kassa.EventPaymentCreated, "")
		err = db.RecordOutcomes(ctx, []notify.Outcome{{Delivery: claimed[0], Status: notify.StatusFailed, DisableEndpoint: true,
			Attempt: notify.Attempt{ID: kassa.NewID("wha"), StatusCode: 410, Created: now, Response: "gone\x00\xff"}}})
		if err != nil {
			t.Fatal(err)
		}
		e, _ = db.Endpoint(ctx, pr, b)
		if e.Status != notify.EndpointDisabled || e.DisabledReason == "" {
			t.Fatalf("endpoint after 410: %+v", e)
		}
		if ds, _ := db.EventDeliveries(ctx, ev2); len(ds) != 1 || ds[0].Status != notify.StatusCanceled {
			t.Fatalf("other delivery after 410: %+v", ds)
		}
		if ds := nfDestinations(t, db, nfInsertEvent(t, db, "mer_1", kassa.EventPaymentCreated, "")); len(ds) != 0 {
			t.Fatalf("disabled endpoint got a delivery: %v", ds)
		}

		// Rolling keeps the old secret signing until its expiry.
		rolled, err := db.RollEndpointSecret(ctx, pr, b, notify.NewSecret(), now.Add(time.Hour), now)
		if err != nil || rolled.OldSecret != e.Secret || rolled.Secret == e.Secret {
			t.Fatalf("roll: %+v, %v", rolled, err)
		}
		s1, err := db.NotifySecret(ctx, pr, now)
		if err != nil || len(s1) != 1 {
			t.Fatalf("notify secret: %v %v", s1, err)
		}
		if err := db.RollNotifySecret(ctx, pr, notify.NewSecret(), now.Add(time.Hour), now); err != nil {
			t.Fatal(err)
		}
		s2, _ := db.NotifySecret(ctx, pr, now)
		if len(s2) != 2 || s2[1] != s1[0] {
			t.Fatalf("after roll: %v, want [new %s]", s2, s1[0])
		}
		if s3, _ := db.NotifySecret(ctx, pr, now.Add(2*time.Hour)); len(s3) != 1 || s3[0] != s2[0] {
			t.Fatalf("after the grace: %v", s3)
		}
	})
}
