package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/kassa-pay/kassa"
)

// KeyStore lists and rolls API keys; internal/store's *DB implements it.
type KeyStore interface {
	// APIKeys returns the merchant's unrevoked keys of one mode, oldest first.
	APIKeys(ctx context.Context, merchantID string, live bool) ([]*kassa.APIKey, error)
	// RollSecretKey, in one transaction, revokes every unrevoked secret key
	// of the merchant and mode at now, stores next (and pub, when not nil:
	// the mode had no publishable key yet), and returns the revoked keys'
	// hashes.
	RollSecretKey(ctx context.Context, next, pub *kassa.APIKey, now time.Time) ([]string, error)
}

func (e *Engine) keys() (KeyStore, error) {
	s, ok := e.store.(KeyStore)
	if !ok {
		return nil, fmt.Errorf("engine: store %T does not list API keys", e.store)
	}
	return s, nil
}

// APIKeys returns the merchant's active keys of one mode. Secret keys carry
// only their prefix: the key itself was shown once and is not stored.
func (e *Engine) APIKeys(ctx context.Context, merchantID string, live bool) ([]*kassa.APIKey, error) {
	st, err := e.keys()
	if err != nil {
		return nil, err
	}
	return st.APIKeys(ctx, merchantID, live)
}

// RollSecretKey replaces the merchant's secret key of one mode: the old key
// stops working at once (its cached authentication in this instance is
// dropped; other instances forget it within Config.KeyCacheTTL), and the new
// key is returned, to be shown once. A mode without keys (live, on a
// merchant that only had test keys) gets a publishable key too.
func (e *Engine) RollSecretKey(ctx context.Context, merchantID string, live bool) (string, error) {
	st, err := e.keys()
	if err != nil {
		return "", err
	}
	if _, err := e.store.Merchant(ctx, merchantID); err != nil {
		return "", err
	}
	mode := "test"
	if live {
		mode = "live"
	}
	now := e.now()
	sk := "sk_" + mode + "_" + kassa.RandomToken(24)
	next := &kassa.APIKey{ID: kassa.NewID("key"), MerchantID: merchantID, Livemode: live, Kind: kassa.KeySecret,
		Hash: HashKey(sk), Prefix: sk[:12], Created: now}
	var pub *kassa.APIKey
	existing, err := st.APIKeys(ctx, merchantID, live)
	if err != nil {
		return "", err
	}
	hasPub := false
	for _, k := range existing {
		hasPub = hasPub || k.Kind == kassa.KeyPublishable
	}
	if !hasPub {
		pk := "pk_" + mode + "_" + kassa.RandomToken(24)
		pub = &kassa.APIKey{ID: kassa.NewID("key"), MerchantID: merchantID, Livemode: live, Kind: kassa.KeyPublishable,
			Hash: HashKey(pk), Prefix: pk[:12], Plain: pk, Created: now}
	}
	revoked, err := st.RollSecretKey(ctx, next, pub, now)
	if err != nil {
		return "", err
	}
	e.keyMu.Lock()
	for _, h := range revoked {
		delete(e.keyCache, h)
	}
	e.keyMu.Unlock()
	e.log.Info("secret key rolled", "merchant", merchantID, "livemode", live, "revoked", len(revoked))
	return sk, nil
}
