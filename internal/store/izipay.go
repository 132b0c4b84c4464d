package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
)

// Izipay Web Core credentials and session tokens (engine.IzipayStore). The
// keys arrive sealed by the engine; this file never sees them in clear.
// The IPN of an Izipay payment is a notification subscription the engine
// makes when it binds a session (notify.Subscription).

var (
	_ engine.IzipayStore = (*DB)(nil)
	_ engine.IzipayTx    = (*tx)(nil)
)

const izipayCredCols = `merchant_id, livemode, merchant_code, public_key_enc, hash_key_enc, created_at, updated_at`

func scanIzipayCred(row rowScanner, what string) (*engine.IzipayCredentialRecord, error) {
	var r engine.IzipayCredentialRecord
	var live int
	var created, updated int64
	err := row.Scan(&r.MerchantID, &live, &r.MerchantCode, &r.PublicKeySealed, &r.HashKeySealed, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("izipay credentials", what)
	}
	if err != nil {
		return nil, err
	}
	r.Livemode, r.Created, r.Updated = live == 1, fromMicros(created), fromMicros(updated)
	return &r, nil
}

// IzipayCredentials implements engine.IzipayStore.
func (db *DB) IzipayCredentials(ctx context.Context, merchantID string, livemode bool) (*engine.IzipayCredentialRecord, error) {
	return scanIzipayCred(db.read.QueryRowContext(ctx, `SELECT `+izipayCredCols+` FROM izipay_credentials
		WHERE merchant_id = $1 AND livemode = $2`, merchantID, b2i(livemode)), merchantID)
}

// IzipayCredentialsByCode implements engine.IzipayStore.
func (db *DB) IzipayCredentialsByCode(ctx context.Context, code string) (*engine.IzipayCredentialRecord, error) {
	return scanIzipayCred(db.read.QueryRowContext(ctx, `SELECT `+izipayCredCols+` FROM izipay_credentials
		WHERE merchant_code = $1`, code), code)
}

// InsertIzipayCredentials implements engine.IzipayStore. Two racing first
// uses agree on one row: the primary key decides and the loser reads the
// winner's.
func (db *DB) InsertIzipayCredentials(ctx context.Context, r *engine.IzipayCredentialRecord) (*engine.IzipayCredentialRecord, error) {
	if _, err := db.write.ExecContext(ctx, `INSERT INTO izipay_credentials (`+izipayCredCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7)
		ON CONFLICT DO NOTHING`, r.MerchantID, b2i(r.Livemode), r.MerchantCode, r.PublicKeySealed, r.HashKeySealed,
		micros(r.Created), micros(r.Updated)); err != nil {
		return nil, fmt.Errorf("store: insert izipay credentials: %w", err)
	}
	got, err := scanIzipayCred(db.write.QueryRowContext(ctx, `SELECT `+izipayCredCols+` FROM izipay_credentials
		WHERE merchant_id = $1 AND livemode = $2`, r.MerchantID, b2i(r.Livemode)), r.MerchantID)
	if kassa.ErrorKind(err) == kassa.ENOTFOUND {
		// Nothing for this merchant, so the merchant code was taken.
		return nil, kassa.Errorf(kassa.ECONFLICT, "merchant_code_taken", "merchant code %s is taken", r.MerchantCode)
	}
	return got, err
}

// UpdateIzipayKeys implements engine.IzipayStore.
func (db *DB) UpdateIzipayKeys(ctx context.Context, r *engine.IzipayCredentialRecord) error {
	res, err := db.write.ExecContext(ctx, `UPDATE izipay_credentials SET public_key_enc = $1, hash_key_enc = $2, updated_at = $3
		WHERE merchant_id = $4 AND livemode = $5`, r.PublicKeySealed, r.HashKeySealed, micros(r.Updated), r.MerchantID, b2i(r.Livemode))
	if err != nil {
		return fmt.Errorf("store: update izipay keys: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return notFound("izipay credentials", r.MerchantID)
	}
	return nil
}

const izipaySessionCols = `token_hash, merchant_id, livemode, merchant_code, transaction_id, order_number, amount, created_at,
	expires_at, payment_id, currency, type_form, origin, ipn_url, on_success, on_error, on_cancel, extra`

func scanIzipaySession(row rowScanner, what string) (*engine.IzipaySession, error) {
	var s engine.IzipaySession
	var live int
	var created, expires int64
	err := row.Scan(&s.TokenHash, &s.MerchantID, &live, &s.MerchantCode, &s.TransactionID, &s.OrderNumber, &s.Amount, &created,
		&expires, &s.PaymentID, &s.Currency, &s.TypeForm, &s.Origin, &s.IPNURL, &s.OnSuccess, &s.OnError, &s.OnCancel, &s.Extra)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("izipay session", what)
	}
	if err != nil {
		return nil, err
	}
	s.Livemode, s.Created, s.ExpiresAt = live == 1, fromMicros(created), fromMicros(expires)
	return &s, nil
}

// InsertIzipaySession implements engine.IzipayStore.
func (db *DB) InsertIzipaySession(ctx context.Context, s *engine.IzipaySession) error {
	_, err := db.write.ExecContext(ctx, `INSERT INTO izipay_sessions (`+izipaySessionCols+`)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)`,
		s.TokenHash, s.MerchantID, b2i(s.Livemode), s.MerchantCode, s.TransactionID, s.OrderNumber, s.Amount, micros(s.Created),
		micros(s.ExpiresAt), s.PaymentID, s.Currency, s.TypeForm, s.Origin, s.IPNURL, s.OnSuccess, s.OnError, s.OnCancel, s.Extra)
	if err != nil {
		return fmt.Errorf("store: insert izipay session: %w", err)
	}
	return nil
}

// IzipaySession implements engine.IzipayStore. It reads from the writer:
// LoadForm comes right after Token/Generate and must see its row.
func (db *DB) IzipaySession(ctx context.Context, tokenHash string) (*engine.IzipaySession, error) {
	return scanIzipaySession(db.write.QueryRowContext(ctx, `SELECT `+izipaySessionCols+` FROM izipay_sessions
		WHERE token_hash = $1`, tokenHash), "token")
}

// IzipaySessionByPayment implements engine.IzipayStore.
func (db *DB) IzipaySessionByPayment(ctx context.Context, paymentID string) (*engine.IzipaySession, error) {
	if paymentID == "" {
		return nil, notFound("izipay session", "payment")
	}
	return scanIzipaySession(db.read.QueryRowContext(ctx, `SELECT `+izipaySessionCols+` FROM izipay_sessions
		WHERE payment_id = $1`, paymentID), paymentID)
}

// BindIzipaySession implements engine.IzipayTx: the conditional UPDATE
// lets exactly one of racing LoadForms bind its payment.
func (t *tx) BindIzipaySession(ctx context.Context, s *engine.IzipaySession) (bool, error) {
	res, err := t.tx.ExecContext(ctx, `UPDATE izipay_sessions SET payment_id = $1, currency = $2, type_form = $3, origin = $4,
		ipn_url = $5, on_success = $6, on_error = $7, on_cancel = $8, extra = $9 WHERE token_hash = $10 AND payment_id = ''`,
		s.PaymentID, s.Currency, s.TypeForm, s.Origin, s.IPNURL, s.OnSuccess, s.OnError, s.OnCancel, s.Extra, s.TokenHash)
	if err != nil {
		return false, fmt.Errorf("store: bind izipay session: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}
