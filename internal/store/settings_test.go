package store_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

func TestMerchantSettings(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Microsecond)
		if err := db.Write(ctx, func(tx kassa.Tx) error {
			return tx.InsertMerchant(ctx, &kassa.Merchant{ID: "mer_s", Name: "Shop", Created: now})
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.MerchantSettings(ctx, "mer_s"); kassa.ErrorKind(err) != kassa.ENOTFOUND {
			t.Fatalf("before creation: err = %v, want not found", err)
		}

		// Racing first uses agree on one row and one secret.
		var wg sync.WaitGroup
		secrets := make([]string, 8)
		for i := range secrets {
			wg.Go(func() {
				s, err := db.EnsureMerchantSettings(ctx, &kassa.MerchantSettings{MerchantID: "mer_s",
					ResultSigningSecret: kassa.RandomToken(16), Created: now, Updated: now})
				if err != nil {
					t.Error(err)
					return
				}
				secrets[i] = s.ResultSigningSecret
			})
		}
		wg.Wait()
		for _, s := range secrets {
			if s == "" || s != secrets[0] {
				t.Fatalf("secrets = %v, want one shared value", secrets)
			}
		}

		later := now.Add(time.Minute)
		got, err := db.UpdateMerchantSettings(ctx, "mer_s", func(s *kassa.MerchantSettings) error {
			s.AllowedOrigins = []string{"https://shop.example", "http://localhost:8081"}
			s.DisplayName, s.LogoURL, s.AccentColor, s.Updated = "Shop & Co", "https://shop.example/logo.png", "#0a7c2f", later
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		read, err := db.MerchantSettings(ctx, "mer_s")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(read.AllowedOrigins, got.AllowedOrigins) || read.DisplayName != "Shop & Co" ||
			read.LogoURL != got.LogoURL || read.AccentColor != "#0a7c2f" || read.ResultSigningSecret != secrets[0] ||
			!read.Updated.Equal(later) || !read.Created.Equal(now) {
			t.Fatalf("read back %+v, want %+v", read, got)
		}

		// A failing update writes nothing.
		boom := errors.New("boom")
		if _, err := db.UpdateMerchantSettings(ctx, "mer_s", func(s *kassa.MerchantSettings) error {
			s.DisplayName = "changed"
			return boom
		}); !errors.Is(err, boom) {
			t.Fatalf("err = %v, want boom", err)
		}
		if read, _ := db.MerchantSettings(ctx, "mer_s"); read.DisplayName != "Shop & Co" {
			t.Fatalf("display name = %q after a failed update", read.DisplayName)
		}
		if _, err := db.UpdateMerchantSettings(ctx, "mer_none", func(*kassa.MerchantSettings) error { return nil }); kassa.ErrorKind(err) != kassa.ENOTFOUND {
			t.Fatalf("update of missing settings: err = %v", err)
		}
	})
}
