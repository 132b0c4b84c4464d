package store_test

import (
	"context"
	"testing"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

func TestMigrateTwiceAndReopen(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			dsn := storetest.DSN(t, d)
			for i := 0; i < 2; i++ {
				db, err := store.Open(ctx, dsn)
				if err != nil {
					t.Fatal(err)
				}
				if err := db.Migrate(ctx); err != nil {
					t.Fatalf("migrate #%d: %v", i+1, err)
				}
				has, err := db.HasMerchants(ctx)
				if err != nil || has {
					t.Fatalf("HasMerchants = %v, %v; want false, nil", has, err)
				}
				db.Close()
			}
		})
	}
}

func TestClaimOrderIsExclusive(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var holders []string
		for _, pay := range []string{"pay_a", "pay_b", "pay_a"} {
			err := db.Write(ctx, func(tx kassa.Tx) error {
				h, err := tx.ClaimOrder(ctx, "mer_1", false, "order-1", pay)
				holders = append(holders, h)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if holders[0] != "pay_a" || holders[1] != "pay_a" || holders[2] != "pay_a" {
			t.Fatalf("holders = %v, want pay_a each time", holders)
		}
		// Releasing by a non-holder does nothing; by the holder frees the order.
		db.Write(ctx, func(tx kassa.Tx) error { return tx.ReleaseOrder(ctx, "mer_1", false, "order-1", "pay_b") })
		db.Write(ctx, func(tx kassa.Tx) error {
			h, _ := tx.ClaimOrder(ctx, "mer_1", false, "order-1", "pay_b")
			if h != "pay_a" {
				t.Errorf("after release by non-holder, holder = %s", h)
			}
			return nil
		})
		db.Write(ctx, func(tx kassa.Tx) error { return tx.ReleaseOrder(ctx, "mer_1", false, "order-1", "pay_a") })
		db.Write(ctx, func(tx kassa.Tx) error {
			h, _ := tx.ClaimOrder(ctx, "mer_1", false, "order-1", "pay_b")
			if h != "pay_b" {
				t.Errorf("after release, holder = %s, want pay_b", h)
			}
			// Live mode is a separate namespace.
			if h, _ := tx.ClaimOrder(ctx, "mer_1", true, "order-1", "pay_c"); h != "pay_c" {
				t.Errorf("live claim holder = %s, want pay_c", h)
			}
			return nil
		})
	})
}
