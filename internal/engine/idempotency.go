package engine

import (
	"context"

	"github.com/kassa-pay/kassa"
)

// Idempotency-Key handling, with Stripe's rules: the first response to a key
// is stored and replayed for the same request; the same key with another
// request is refused; a key whose first request is still running answers 409.
// Keys live IdempotencyTTL (24h) at least.

// BeginIdempotent reserves key for a request with the given fingerprint. It
// returns a stored response to replay, or nil if the caller should run the
// request and then call FinishIdempotent.
func (e *Engine) BeginIdempotent(ctx context.Context, pr kassa.Principal, key, fingerprint string) (*kassa.IdempotencyKey, error) {
	if len(key) > 255 {
		return nil, kassa.Invalid("Idempotency-Key", "idempotency_key_invalid", "Idempotency-Key must be at most 255 characters")
	}
	now := e.now()
	var stored *kassa.IdempotencyKey
	err := e.store.Write(ctx, func(tx kassa.Tx) error {
		k := &kassa.IdempotencyKey{MerchantID: pr.MerchantID, Livemode: pr.Livemode, Key: key, Fingerprint: fingerprint,
			Created: now, LockedUntil: now.Add(e.cfg.IdempotencyLease)}
		s, err := tx.ReserveIdempotencyKey(ctx, k)
		if err != nil {
			return err
		}
		switch {
		case s.Inserted:
			return nil
		case s.Fingerprint != fingerprint:
			return &kassa.Error{Kind: kassa.EIDEMPOTENCY, Code: "idempotency_key_reused", Param: "Idempotency-Key",
				Message: "Keys for idempotent requests can only be used with the same parameters they were first used with."}
		case s.StatusCode != 0:
			stored = s
			return nil
		case now.Before(s.LockedUntil):
			return kassa.Errorf(kassa.ECONFLICT, "idempotency_key_in_use",
				"There is currently another in-progress request using this Idempotent Key. Retry after it completes.")
		default:
			// The first request's process died before it answered; this
			// retry takes the key over.
			if err := tx.SaveIdempotencyKey(ctx, s); err != nil { // StatusCode 0: deletes
				return err
			}
			_, err := tx.ReserveIdempotencyKey(ctx, k)
			return err
		}
	})
	return stored, err
}

// FinishIdempotent stores the response for key. A status of 0 releases the
// key instead (for requests that changed nothing, so that a corrected retry
// with the same key is possible).
func (e *Engine) FinishIdempotent(ctx context.Context, pr kassa.Principal, key string, status int, body []byte) error {
	ctx = context.WithoutCancel(ctx)
	return e.store.Write(ctx, func(tx kassa.Tx) error {
		return tx.SaveIdempotencyKey(ctx, &kassa.IdempotencyKey{MerchantID: pr.MerchantID, Livemode: pr.Livemode, Key: key,
			StatusCode: status, Response: body, LockedUntil: e.now()})
	})
}
