package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

func subscribe(t *testing.T, db *store.DB, s *notify.Subscription) {
	t.Helper()
	ctx := context.Background()
	if err := db.Write(ctx, func(tx kassa.Tx) error { return notify.Subscribe(ctx, tx, s) }); err != nil {
		t.Fatal(err)
	}
}

// insertObjectEvent writes an event whose object is obj ({"id": …, "metadata": …}).
func insertObjectEvent(t *testing.T, db *store.DB, merchant, typ, payment string, obj any) string {
	t.Helper()
	ctx := context.Background()
	e := kassa.NewEvent(typ, merchant, false, payment, obj, time.Now())
	if err := db.Write(ctx, func(tx kassa.Tx) error { return tx.InsertEvent(ctx, e) }); err != nil {
		t.Fatal(err)
	}
	return e.ID
}

type refundObj struct {
	ID       string            `json:"id"`
	Metadata map[string]string `json:"metadata"`
}

// TestSubscriptionsFanOut checks the matching rules of notification
// subscriptions on both databases: subject (the payment, or the object of
// a payment-less event), event types, metadata, merchant and mode; the
// delivery's destination, URL and format come from the subscription.
func TestSubscriptionsFanOut(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		nfSeedMerchant(t, db, "m_a")
		nfSeedMerchant(t, db, "m_b")
		nfSeedPayment(t, db, "m_a", "pay_1", "")
		nfSeedPayment(t, db, "m_a", "pay_2", "")

		subscribe(t, db, &notify.Subscription{ID: "ipnx:pay_1", Subject: "pay_1", MerchantID: "m_a", URL: "https://ipn.example/1",
			Format: "fmt_ipn", EventTypes: []string{kassa.EventPaymentSucceeded, kassa.EventPaymentRequiresAction}})
		subscribe(t, db, &notify.Subscription{ID: "all:pay_1", Subject: "pay_1", MerchantID: "m_a", URL: "https://all.example/",
			Format: "fmt_all"})
		subscribe(t, db, &notify.Subscription{ID: "refund:r-1", Subject: "pay_1", MerchantID: "m_a", URL: "https://refund.example/",
			Format: "fmt_refund", EventTypes: []string{kassa.EventRefundSucceeded}, MetadataKey: "shop.refund", MetadataValue: "r-1"})
		// Another merchant's subscription to the same subject never fires.
		subscribe(t, db, &notify.Subscription{ID: "other:pay_1", Subject: "pay_1", MerchantID: "m_b", URL: "https://other.example/",
			Format: "fmt_all"})
		subscribe(t, db, &notify.Subscription{ID: "ipn:ord_1", Subject: "ord_1", MerchantID: "m_a", URL: "https://order.example/",
			Format: "fmt_order", EventTypes: []string{kassa.EventOrderUpdated}})

		cases := []struct {
			name    string
			typ     string
			payment string
			obj     any
			want    []string
		}{
			{"type listed", kassa.EventPaymentSucceeded, "pay_1", map[string]string{"id": "pay_1"}, []string{"all:pay_1", "ipnx:pay_1"}},
			// "payment.requires_action" holds "_", a LIKE wildcard: the match is exact.
			{"type with underscore", kassa.EventPaymentRequiresAction, "pay_1", map[string]string{"id": "pay_1"}, []string{"all:pay_1", "ipnx:pay_1"}},
			{"type not listed", kassa.EventPaymentCanceled, "pay_1", map[string]string{"id": "pay_1"}, []string{"all:pay_1"}},
			{"other payment", kassa.EventPaymentSucceeded, "pay_2", map[string]string{"id": "pay_2"}, nil},
			{"refund asked for", kassa.EventRefundSucceeded, "pay_1", refundObj{"re_1", map[string]string{"shop.refund": "r-1"}},
				[]string{"all:pay_1", "refund:r-1"}},
			{"another refund", kassa.EventRefundSucceeded, "pay_1", refundObj{"re_2", map[string]string{"shop.refund": "r-2"}}, []string{"all:pay_1"}},
			{"refund without metadata", kassa.EventRefundSucceeded, "pay_1", refundObj{"re_3", nil}, []string{"all:pay_1"}},
			{"order event: its object is the subject", kassa.EventOrderUpdated, "", map[string]string{"id": "ord_1"}, []string{"ipn:ord_1"}},
			{"another order", kassa.EventOrderUpdated, "", map[string]string{"id": "ord_2"}, nil},
		}
		for _, c := range cases {
			id := insertObjectEvent(t, db, "m_a", c.typ, c.payment, c.obj)
			if got := nfDestinations(t, db, id); !slices.Equal(got, c.want) {
				t.Errorf("%s: destinations %q, want %q", c.name, got, c.want)
			}
		}

		// The delivery carries the subscription's URL and format.
		id := insertObjectEvent(t, db, "m_a", kassa.EventPaymentSucceeded, "pay_1", map[string]string{"id": "pay_1"})
		ds, err := db.EventDeliveries(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.EndpointID == "ipnx:pay_1" && (d.URL != "https://ipn.example/1" || d.Format != "fmt_ipn" || d.MerchantID != "m_a") {
				t.Errorf("delivery %+v", d)
			}
		}

		// Subscribing again replaces: the next event goes to the new URL
		// and types; the delivery already queued keeps its URL.
		subscribe(t, db, &notify.Subscription{ID: "ipnx:pay_1", Subject: "pay_1", MerchantID: "m_a", URL: "https://ipn.example/2",
			Format: "fmt_ipn", EventTypes: []string{kassa.EventPaymentCanceled}})
		id2 := insertObjectEvent(t, db, "m_a", kassa.EventPaymentCanceled, "pay_1", map[string]string{"id": "pay_1"})
		ds, err = db.EventDeliveries(ctx, id2)
		if err != nil {
			t.Fatal(err)
		}
		var urls []string
		for _, d := range ds {
			urls = append(urls, d.EndpointID+" "+d.URL)
		}
		if want := []string{"all:pay_1 https://all.example/", "ipnx:pay_1 https://ipn.example/2"}; !slices.Equal(urls, want) {
			t.Errorf("after resubscribing: %q, want %q", urls, want)
		}
		if got := nfDestinations(t, db, insertObjectEvent(t, db, "m_a", kassa.EventPaymentSucceeded, "pay_1", map[string]string{"id": "pay_1"})); !slices.Equal(got, []string{"all:pay_1"}) {
			t.Errorf("type dropped by the new subscription still delivered: %q", got)
		}

		// A manual redelivery re-arms the subscription's delivery with the
		// rest of the event's destinations.
		ds, err = db.Redeliver(ctx, kassa.Principal{MerchantID: "m_a"}, id, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		var again []string
		for _, d := range ds {
			again = append(again, d.EndpointID)
		}
		slices.Sort(again)
		if want := []string{"all:pay_1", "ipnx:pay_1"}; !slices.Equal(again, want) {
			t.Errorf("redelivered to %q, want %q", again, want)
		}
	})
}

// TestSubscriptionRollsBackWithItsTransaction: a subscription made in a
// transaction that fails does not exist, and an event written in the same
// transaction after it is delivered to it.
func TestSubscriptionRollsBackWithItsTransaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		nfSeedMerchant(t, db, "m_a")
		nfSeedPayment(t, db, "m_a", "pay_1", "")
		sub := &notify.Subscription{ID: "x:pay_1", Subject: "pay_1", MerchantID: "m_a", URL: "https://x.example/", Format: "fmt"}
		err := db.Write(ctx, func(tx kassa.Tx) error {
			if err := notify.Subscribe(ctx, tx, sub); err != nil {
				return err
			}
			return kassa.Errorf(kassa.ECONFLICT, "lost", "lost the race")
		})
		if kassa.ErrorCode(err) != "lost" {
			t.Fatalf("Write: %v", err)
		}
		if got := nfDestinations(t, db, nfInsertEvent(t, db, "m_a", kassa.EventPaymentSucceeded, "pay_1")); len(got) != 0 {
			t.Fatalf("rolled-back subscription delivered to: %q", got)
		}
		e := kassa.NewEvent(kassa.EventPaymentSucceeded, "m_a", false, "pay_1", map[string]string{"id": "pay_1"}, time.Now())
		if err := db.Write(ctx, func(tx kassa.Tx) error {
			if err := notify.Subscribe(ctx, tx, sub); err != nil {
				return err
			}
			return tx.InsertEvent(ctx, e)
		}); err != nil {
			t.Fatal(err)
		}
		if got := nfDestinations(t, db, e.ID); !slices.Equal(got, []string{"x:pay_1"}) {
			t.Fatalf("destinations %q", got)
		}
	})
}

func TestSubscriptionValidate(t *testing.T) {
	ok := notify.Subscription{ID: "a:b", Subject: "pay_1", MerchantID: "m", URL: "https://x/", Format: "f"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*notify.Subscription){
		"no colon":          func(s *notify.Subscription) { s.ID = "we_1" },
		"no subject":        func(s *notify.Subscription) { s.Subject = "" },
		"no url":            func(s *notify.Subscription) { s.URL = "" },
		"no format":         func(s *notify.Subscription) { s.Format = "" },
		"value without key": func(s *notify.Subscription) { s.MetadataValue = "v" },
		"space in type":     func(s *notify.Subscription) { s.EventTypes = []string{"a b"} },
		"star type":         func(s *notify.Subscription) { s.EventTypes = []string{"*"} },
	} {
		s := ok
		mut(&s)
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "notify:") {
			t.Errorf("%s: Validate = %v", name, err)
		}
	}
}
