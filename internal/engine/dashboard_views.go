package engine

import (
	"context"

	"github.com/kassa-pay/kassa"
)

// Views and guards the merchant dashboard needs beyond what the API uses.

// BindShopOf binds a shop for the merchant of p.MerchantID as Bind does,
// but refuses (ECONFLICT shop_bound_elsewhere) a shop domain that another
// merchant has bound: a merchant's staff may replace their own binding,
// never take over another merchant's shop. The check and Bind are two
// statements, not one transaction: two merchants binding the same new
// domain at the same instant can still race, and the later write wins.
func (s *Shoplazza) BindShopOf(ctx context.Context, p ShoplazzaBindParams) (*ShoplazzaBinding, error) {
	old, err := s.st.ShoplazzaShop(ctx, NormalizeShopDomain(p.ShopDomain))
	switch {
	case err == nil && old.MerchantID != p.MerchantID:
		return nil, kassa.Errorf(kassa.ECONFLICT, "shop_bound_elsewhere",
			"the shop %s is bound to another merchant; ask the gateway's operator", old.ShopDomain)
	case err != nil && kassa.ErrorKind(err) != kassa.ENOTFOUND:
		return nil, err
	}
	return s.Bind(ctx, p)
}

// ExistingIzipayCredentials returns a merchant's Izipay credentials
// without creating them (ENOTFOUND when the merchant has none yet), so
// that merely looking at them changes nothing.
func (z *Izipay) ExistingIzipayCredentials(ctx context.Context, merchantID string) (*IzipayCredentials, error) {
	return z.HashKeyOf(ctx, merchantID, false)
}
