package engine_test

import (
	"bytes"
	"sync"
	"testing"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
)

// A merchant can bind a shop and replace its own binding, but never take
// over a shop another merchant has bound, not even by racing for a new one;
// only an operator's explicit reassign moves a shop.
func TestShoplazzaBindingCannotBeTakenOver(t *testing.T) {
	eachDialect(t, engine.Config{}, func(t *testing.T, h *harness) {
		sl, err := engine.NewShoplazza(h.eng, bytes.Repeat([]byte{7}, 32))
		if err != nil {
			t.Fatal(err)
		}
		other, err := h.eng.CreateMerchant(h.ctx, "Other", "")
		if err != nil {
			t.Fatal(err)
		}
		params := func(merchant, domain string) engine.ShoplazzaBindParams {
			return engine.ShoplazzaBindParams{MerchantID: merchant, AppID: "app", ClientSecret: "secret-" + merchant,
				ShopDomain: domain, AccessToken: "token", AccountID: "acct"}
		}
		// Racing for a new shop: exactly one merchant wins it.
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, m := range []string{h.pr.MerchantID, other.Merchant.ID} {
			wg.Add(1)
			go func(i int, m string) {
				defer wg.Done()
				_, errs[i] = sl.Bind(h.ctx, params(m, "race.myshoplaza.com"))
			}(i, m)
		}
		wg.Wait()
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("both or neither won the race: %v / %v", errs[0], errs[1])
		}
		for _, err := range errs {
			if err != nil && kassa.ErrorCode(err) != "shop_bound_elsewhere" {
				t.Fatalf("loser got %v, want shop_bound_elsewhere", err)
			}
		}

		if _, err := sl.Bind(h.ctx, params(h.pr.MerchantID, "acme.myshoplaza.com")); err != nil {
			t.Fatal(err)
		}
		if _, err := sl.Bind(h.ctx, params(h.pr.MerchantID, "acme.myshoplaza.com")); err != nil {
			t.Fatalf("rebinding one's own shop: %v", err)
		}
		_, err = sl.Bind(h.ctx, params(other.Merchant.ID, "acme.myshoplaza.com"))
		if kassa.ErrorKind(err) != kassa.ECONFLICT || kassa.ErrorCode(err) != "shop_bound_elsewhere" {
			t.Fatalf("takeover: %v, want ECONFLICT shop_bound_elsewhere", err)
		}
		if b, err := sl.Binding(h.ctx, "acme.myshoplaza.com"); err != nil || b.MerchantID != h.pr.MerchantID {
			t.Fatalf("after a refused takeover the shop belongs to %+v (%v)", b, err)
		}
		p := params(other.Merchant.ID, "acme.myshoplaza.com")
		p.Reassign = true
		if b, err := sl.Bind(h.ctx, p); err != nil || b.MerchantID != other.Merchant.ID {
			t.Fatalf("operator reassign: %+v, %v", b, err)
		}
	})
}
