package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
)

// Shoplazza payments app (engine.ShoplazzaStore): shop bindings, whose
// secrets arrive sealed by the engine, and the payment and refund request
// records that make Shoplazza's ids idempotent. The Notify deliveries are
// notification subscriptions the engine makes (notify.Subscription).
// Request records are read from the writer: a retry follows its first
// request closely and must see it.

var (
	_ engine.ShoplazzaStore = (*DB)(nil)
	_ engine.ShoplazzaTx    = (*tx)(nil)
)

const shoplazzaShopCols = `shop_domain, merchant_id, livemode, app_id, account_id, model, iframe_width, iframe_height,
	client_secret_enc, access_token_enc, sign_key_enc, created_at, updated_at`

func scanShoplazzaShop(row rowScanner, what string) (*engine.ShoplazzaBindingRecord, error) {
	var r engine.ShoplazzaBindingRecord
	var live int
	var created, updated int64
	err := row.Scan(&r.ShopDomain, &r.MerchantID, &live, &r.AppID, &r.AccountID, &r.Model, &r.IframeWidth, &r.IframeHeight,
		&r.ClientSecretSealed, &r.AccessTokenSealed, &r.SignKeySealed, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("shoplazza shop", what)
	}
	if err != nil {
		return nil, err
	}
	r.Livemode, r.Created, r.Updated = live == 1, fromMicros(created), fromMicros(updated)
	return &r, nil
}

// ShoplazzaShop implements engine.ShoplazzaStore.
func (db *DB) ShoplazzaShop(ctx context.Context, shopDomain string) (*engine.ShoplazzaBindingRecord, error) {
	return scanShoplazzaShop(db.write.QueryRowContext(ctx, `SELECT `+shoplazzaShopCols+` FROM shoplazza_shops WHERE shop_domain = $1`,
		shopDomain), shopDomain)
}

// ShoplazzaShopsOf implements engine.ShoplazzaStore.
func (db *DB) ShoplazzaShopsOf(ctx context.Context, merchantID string) ([]*engine.ShoplazzaBindingRecord, error) {
	return collect(ctx, db.read, func(r rowScanner) (*engine.ShoplazzaBindingRecord, error) { return scanShoplazzaShop(r, merchantID) }, `SELECT `+shoplazzaShopCols+` FROM shoplazza_shops WHERE merchant_id = $1
		ORDER BY shop_domain`, merchantID)
}

// PutShoplazzaShop implements engine.ShoplazzaStore.
func (db *DB) PutShoplazzaShop(ctx context.Context, r *engine.ShoplazzaBindingRecord, reassign bool) error {
	res, err := db.write.ExecContext(ctx, `INSERT INTO shoplazza_shops (`+shoplazzaShopCols+`)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)
		ON CONFLICT (shop_domain) DO UPDATE SET merchant_id = excluded.merchant_id, livemode = excluded.livemode,
			app_id = excluded.app_id, account_id = excluded.account_id, model = excluded.model,
			iframe_width = excluded.iframe_width, iframe_height = excluded.iframe_height,
			client_secret_enc = excluded.client_secret_enc, access_token_enc = excluded.access_token_enc,
			sign_key_enc = excluded.sign_key_enc, updated_at = excluded.updated_at
		WHERE shoplazza_shops.merchant_id = excluded.merchant_id OR $14 = 1`,
		r.ShopDomain, r.MerchantID, b2i(r.Livemode), r.AppID, r.AccountID, r.Model, r.IframeWidth, r.IframeHeight,
		r.ClientSecretSealed, r.AccessTokenSealed, r.SignKeySealed, micros(r.Created), micros(r.Updated), b2i(reassign))
	if err != nil {
		return fmt.Errorf("store: put shoplazza shop: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return kassa.Errorf(kassa.ECONFLICT, "shop_bound_elsewhere",
			"the shop %s is bound to another merchant; the gateway's operator can move it with kassa shoplazza bind --reassign", r.ShopDomain)
	}
	return nil
}

const shoplazzaPaymentCols = `shop_domain, request_id, merchant_id, livemode, app_id, shoplazza_order_id, type, amount, currency,
	test, cancel_url, complete_url, callback_url, origins, fingerprint, extra, payment_id, response_status, response,
	complete_redirect, locked_until, created_at`

func scanShoplazzaPayment(row rowScanner, what string) (*engine.ShoplazzaPayment, error) {
	var s engine.ShoplazzaPayment
	var live, test int
	var origins, response string
	var locked, created int64
	err := row.Scan(&s.ShopDomain, &s.RequestID, &s.MerchantID, &live, &s.AppID, &s.ShoplazzaOrderID, &s.Type, &s.Amount,
		&s.Currency, &test, &s.CancelURL, &s.CompleteURL, &s.CallbackURL, &origins, &s.Fingerprint, &s.Extra, &s.PaymentID,
		&s.ResponseStatus, &response, &s.CompleteRedirect, &locked, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("shoplazza payment", what)
	}
	if err != nil {
		return nil, err
	}
	s.Livemode, s.Test, s.Origins = live == 1, test == 1, strings.Fields(origins)
	s.Response, s.LockedUntil, s.Created = []byte(response), fromMicros(locked), fromMicros(created)
	return &s, nil
}

// ShoplazzaPayment implements engine.ShoplazzaStore.
func (db *DB) ShoplazzaPayment(ctx context.Context, shopDomain, requestID string) (*engine.ShoplazzaPayment, error) {
	return scanShoplazzaPayment(db.write.QueryRowContext(ctx, `SELECT `+shoplazzaPaymentCols+` FROM shoplazza_payments
		WHERE shop_domain = $1 AND request_id = $2`, shopDomain, requestID), requestID)
}

// ShoplazzaPaymentByPayment implements engine.ShoplazzaStore.
func (db *DB) ShoplazzaPaymentByPayment(ctx context.Context, paymentID string) (*engine.ShoplazzaPayment, error) {
	if paymentID == "" {
		return nil, notFound("shoplazza payment", "payment")
	}
	return scanShoplazzaPayment(db.write.QueryRowContext(ctx, `SELECT `+shoplazzaPaymentCols+` FROM shoplazza_payments
		WHERE payment_id = $1`, paymentID), paymentID)
}

// ReserveShoplazzaPayment implements engine.ShoplazzaStore. The primary key
// decides between racing first requests; the conditional UPDATE lets one
// retry take over an abandoned row.
func (db *DB) ReserveShoplazzaPayment(ctx context.Context, s *engine.ShoplazzaPayment, now time.Time) (*engine.ShoplazzaPayment, bool, error) {
	res, err := db.write.ExecContext(ctx, `INSERT INTO shoplazza_payments (`+shoplazzaPaymentCols+`)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22) ON CONFLICT DO NOTHING`,
		s.ShopDomain, s.RequestID, s.MerchantID, b2i(s.Livemode), s.AppID, s.ShoplazzaOrderID, s.Type, s.Amount, s.Currency,
		b2i(s.Test), s.CancelURL, s.CompleteURL, s.CallbackURL, strings.Join(s.Origins, " "), s.Fingerprint, s.Extra, s.PaymentID,
		s.ResponseStatus, string(s.Response), s.CompleteRedirect, micros(s.LockedUntil), micros(s.Created))
	if err != nil {
		return nil, false, fmt.Errorf("store: reserve shoplazza payment: %w", err)
	}
	mine := false
	if n, _ := res.RowsAffected(); n == 1 {
		mine = true
	} else {
		res, err := db.write.ExecContext(ctx, `UPDATE shoplazza_payments SET locked_until = $1
			WHERE shop_domain = $2 AND request_id = $3 AND response_status = 0 AND locked_until < $4 AND fingerprint = $5`,
			micros(s.LockedUntil), s.ShopDomain, s.RequestID, micros(now), s.Fingerprint)
		if err != nil {
			return nil, false, fmt.Errorf("store: take over shoplazza payment: %w", err)
		}
		n, _ := res.RowsAffected()
		mine = n == 1
	}
	got, err := db.ShoplazzaPayment(ctx, s.ShopDomain, s.RequestID)
	return got, mine, err
}

// UpdateShoplazzaPayment implements engine.ShoplazzaStore.
func (db *DB) UpdateShoplazzaPayment(ctx context.Context, s *engine.ShoplazzaPayment) error {
	return updateShoplazzaPayment(ctx, db.write, s)
}

// UpdateShoplazzaPayment implements engine.ShoplazzaTx.
func (t *tx) UpdateShoplazzaPayment(ctx context.Context, s *engine.ShoplazzaPayment) error {
	return updateShoplazzaPayment(ctx, t.tx, s)
}

func updateShoplazzaPayment(ctx context.Context, q queryer, s *engine.ShoplazzaPayment) error {
	res, err := q.ExecContext(ctx, `UPDATE shoplazza_payments SET payment_id = $1, response_status = $2, response = $3,
		complete_redirect = $4 WHERE shop_domain = $5 AND request_id = $6`,
		s.PaymentID, s.ResponseStatus, string(s.Response), s.CompleteRedirect, s.ShopDomain, s.RequestID)
	if err != nil {
		return fmt.Errorf("store: update shoplazza payment: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return notFound("shoplazza payment", s.RequestID)
	}
	return nil
}

// DeleteShoplazzaPayment implements engine.ShoplazzaStore.
func (db *DB) DeleteShoplazzaPayment(ctx context.Context, shopDomain, requestID string) error {
	_, err := db.write.ExecContext(ctx, `DELETE FROM shoplazza_payments WHERE shop_domain = $1 AND request_id = $2`, shopDomain, requestID)
	return err
}

const shoplazzaRefundCols = `shop_domain, request_id, merchant_id, livemode, app_id, payment_request_id, payment_id, amount,
	currency, callback_url, fingerprint, extra, refund_id, response_status, response, locked_until, created_at`

func scanShoplazzaRefund(row rowScanner, what string) (*engine.ShoplazzaRefund, error) {
	var r engine.ShoplazzaRefund
	var live int
	var response string
	var locked, created int64
	err := row.Scan(&r.ShopDomain, &r.RequestID, &r.MerchantID, &live, &r.AppID, &r.PaymentRequestID, &r.PaymentID, &r.Amount,
		&r.Currency, &r.CallbackURL, &r.Fingerprint, &r.Extra, &r.RefundID, &r.ResponseStatus, &response, &locked, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("shoplazza refund", what)
	}
	if err != nil {
		return nil, err
	}
	r.Livemode, r.Response, r.LockedUntil, r.Created = live == 1, []byte(response), fromMicros(locked), fromMicros(created)
	return &r, nil
}

// ShoplazzaRefund implements engine.ShoplazzaStore.
func (db *DB) ShoplazzaRefund(ctx context.Context, shopDomain, requestID string) (*engine.ShoplazzaRefund, error) {
	return scanShoplazzaRefund(db.write.QueryRowContext(ctx, `SELECT `+shoplazzaRefundCols+` FROM shoplazza_refunds
		WHERE shop_domain = $1 AND request_id = $2`, shopDomain, requestID), requestID)
}

// ReserveShoplazzaRefund implements engine.ShoplazzaStore.
func (db *DB) ReserveShoplazzaRefund(ctx context.Context, r *engine.ShoplazzaRefund, now time.Time) (*engine.ShoplazzaRefund, bool, error) {
	res, err := db.write.ExecContext(ctx, `INSERT INTO shoplazza_refunds (`+shoplazzaRefundCols+`)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17) ON CONFLICT DO NOTHING`,
		r.ShopDomain, r.RequestID, r.MerchantID, b2i(r.Livemode), r.AppID, r.PaymentRequestID, r.PaymentID, r.Amount,
		r.Currency, r.CallbackURL, r.Fingerprint, r.Extra, r.RefundID, r.ResponseStatus, string(r.Response),
		micros(r.LockedUntil), micros(r.Created))
	if err != nil {
		return nil, false, fmt.Errorf("store: reserve shoplazza refund: %w", err)
	}
	mine := false
	if n, _ := res.RowsAffected(); n == 1 {
		mine = true
	} else {
		res, err := db.write.ExecContext(ctx, `UPDATE shoplazza_refunds SET locked_until = $1
			WHERE shop_domain = $2 AND request_id = $3 AND response_status = 0 AND locked_until < $4 AND fingerprint = $5`,
			micros(r.LockedUntil), r.ShopDomain, r.RequestID, micros(now), r.Fingerprint)
		if err != nil {
			return nil, false, fmt.Errorf("store: take over shoplazza refund: %w", err)
		}
		n, _ := res.RowsAffected()
		mine = n == 1
	}
	got, err := db.ShoplazzaRefund(ctx, r.ShopDomain, r.RequestID)
	return got, mine, err
}

// UpdateShoplazzaRefund implements engine.ShoplazzaStore.
func (db *DB) UpdateShoplazzaRefund(ctx context.Context, r *engine.ShoplazzaRefund) error {
	res, err := db.write.ExecContext(ctx, `UPDATE shoplazza_refunds SET refund_id = $1, response_status = $2, response = $3
		WHERE shop_domain = $4 AND request_id = $5`, r.RefundID, r.ResponseStatus, string(r.Response), r.ShopDomain, r.RequestID)
	if err != nil {
		return fmt.Errorf("store: update shoplazza refund: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return notFound("shoplazza refund", r.RequestID)
	}
	return nil
}

// DeleteShoplazzaRefund implements engine.ShoplazzaStore: the request
// row and, in the same transaction, the Notify subscription the engine
// made for it ("shoplazza:<request id>" on the row's payment), so that a
// refused refund request leaves nothing behind.
func (db *DB) DeleteShoplazzaRefund(ctx context.Context, shopDomain, requestID string) error {
	return db.Write(ctx, func(ktx kassa.Tx) error {
		t := ktx.(*tx)
		if _, err := t.tx.ExecContext(ctx, `DELETE FROM notification_subscriptions WHERE id = $1 AND subject_id IN
			(SELECT payment_id FROM shoplazza_refunds WHERE shop_domain = $2 AND request_id = $3)`,
			"shoplazza:"+requestID, shopDomain, requestID); err != nil {
			return err
		}
		_, err := t.tx.ExecContext(ctx, `DELETE FROM shoplazza_refunds WHERE shop_domain = $1 AND request_id = $2`, shopDomain, requestID)
		return err
	})
}
