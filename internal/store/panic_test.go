package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/store"
)

// TestWriteSurvivesPanic: a Write whose fn panics (a bug somewhere in the
// engine, recovered by the HTTP server) must not leave its transaction open:
// that would keep the payment's row lock (PostgreSQL) or the only writer
// connection (SQLite) forever, and every later write would hang.
func TestWriteSurvivesPanic(t *testing.T) {
	eachDialectParallel(t, func(t *testing.T, db *store.DB) {
		seedMerchant(t, db, "mer_1")
		insert(t, db, func(tx kassa.Tx) error { return tx.InsertPayment(bg, newPayment("pay_1", "mer_1", false)) })
		pr := kassa.Principal{MerchantID: "mer_1"}
		func() {
			defer func() {
				if recover() == nil {
					t.Error("the panic did not reach the caller")
				}
			}()
			db.Write(bg, func(tx kassa.Tx) error {
				p, err := tx.LockPayment(bg, pr, "pay_1")
				if err != nil {
					return err
				}
				p.Status = kassa.StatusCanceled
				if err := tx.UpdatePayment(bg, p); err != nil {
					return err
				}
				panic("bug")
			})
		}()
		ctx, cancel := context.WithTimeout(bg, 5*time.Second)
		defer cancel()
		err := db.Write(ctx, func(tx kassa.Tx) error {
			p, err := tx.LockPayment(ctx, pr, "pay_1")
			if err != nil {
				return err
			}
			if p.Status != kassa.StatusRequiresPaymentMethod {
				t.Errorf("the panicking write's change is visible: %s", p.Status)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("write after a panicking write: %v", err)
		}
	})
}
