package engine

import (
	"context"
)

// Views and guards the merchant dashboard needs beyond what the API uses.

// ExistingIzipayCredentials returns a merchant's Izipay credentials
// without creating them (ENOTFOUND when the merchant has none yet), so
// that merely looking at them changes nothing.
func (z *Izipay) ExistingIzipayCredentials(ctx context.Context, merchantID string) (*IzipayCredentials, error) {
	return z.HashKeyOf(ctx, merchantID, false)
}
