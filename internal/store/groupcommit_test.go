package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

// Concurrent writes share commits, yet each is all-or-nothing on its own: a
// failing write leaves no trace and does not undo its batch neighbours.
func TestConcurrentWritesAreIndependent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		const n = 200
		errBoom := errors.New("boom")
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				errs[i] = db.Write(ctx, func(tx kassa.Tx) error {
					m := &kassa.Merchant{ID: fmt.Sprintf("mer_%03d", i), Name: "m", Created: time.Now()}
					if err := tx.InsertMerchant(ctx, m); err != nil {
						return err
					}
					if i%3 == 0 {
						return errBoom // after a write: it must be rolled back
					}
					return nil
				})
			}(i)
		}
		wg.Wait()
		for i := 0; i < n; i++ {
			_, err := db.Merchant(ctx, fmt.Sprintf("mer_%03d", i))
			switch {
			case i%3 == 0 && !errors.Is(errs[i], errBoom):
				t.Fatalf("write %d: err = %v, want boom", i, errs[i])
			case i%3 == 0 && kassa.ErrorKind(err) != kassa.ENOTFOUND:
				t.Fatalf("failed write %d left a merchant behind (err %v)", i, err)
			case i%3 != 0 && (errs[i] != nil || err != nil):
				t.Fatalf("write %d: write err %v, read err %v", i, errs[i], err)
			}
		}
	})
}

// A panic inside a write reaches its caller and does not poison the batch.
func TestWritePanicIsContained(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("panic in fn was swallowed")
				}
			}()
			db.Write(ctx, func(tx kassa.Tx) error {
				tx.InsertMerchant(ctx, &kassa.Merchant{ID: "mer_panic", Name: "m", Created: time.Now()})
				panic("bug")
			})
		}()
		if err := db.Write(ctx, func(tx kassa.Tx) error {
			return tx.InsertMerchant(ctx, &kassa.Merchant{ID: "mer_after", Name: "m", Created: time.Now()})
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Merchant(ctx, "mer_panic"); kassa.ErrorKind(err) != kassa.ENOTFOUND {
			t.Fatalf("panicked write persisted (err %v)", err)
		}
	})
}
