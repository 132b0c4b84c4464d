package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/kassa-pay/kassa"
)

// Merchant settings live outside kassa.Tx: they change rarely, one merchant
// at a time, and never in the same transaction as money, so they use their
// own short transactions on the write pool.

const settingsCols = `merchant_id, allowed_origins, display_name, logo_url, accent_color, result_signing_secret, created_at, updated_at`

func scanSettings(row *sql.Row, id string) (*kassa.MerchantSettings, error) {
	var s kassa.MerchantSettings
	var origins string
	var created, updated int64
	err := row.Scan(&s.MerchantID, &origins, &s.DisplayName, &s.LogoURL, &s.AccentColor, &s.ResultSigningSecret, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("merchant settings", id)
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(origins), &s.AllowedOrigins); err != nil {
		return nil, fmt.Errorf("store: merchant %s: allowed_origins: %w", id, err)
	}
	if s.AllowedOrigins == nil {
		s.AllowedOrigins = []string{}
	}
	s.Created, s.Updated = fromMicros(created), fromMicros(updated)
	return &s, nil
}

func originsJSON(o []string) string {
	if o == nil {
		o = []string{}
	}
	b, _ := json.Marshal(o)
	return string(b)
}

// MerchantSettings returns a merchant's settings, or ENOTFOUND if none were
// ever created.
func (db *DB) MerchantSettings(ctx context.Context, merchantID string) (*kassa.MerchantSettings, error) {
	return scanSettings(db.read.QueryRowContext(ctx, `SELECT `+settingsCols+` FROM merchant_settings WHERE merchant_id = $1`, merchantID), merchantID)
}

// EnsureMerchantSettings stores def unless the merchant already has settings,
// and returns what is stored. Two racing callers agree on one row (and so on
// one signing secret): the primary key decides, the loser reads the winner's.
func (db *DB) EnsureMerchantSettings(ctx context.Context, def *kassa.MerchantSettings) (*kassa.MerchantSettings, error) {
	_, err := db.write.ExecContext(ctx, `INSERT INTO merchant_settings (`+settingsCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)
		ON CONFLICT (merchant_id) DO NOTHING`,
		def.MerchantID, originsJSON(def.AllowedOrigins), def.DisplayName, def.LogoURL, def.AccentColor,
		def.ResultSigningSecret, micros(def.Created), micros(def.Updated))
	if err != nil {
		return nil, fmt.Errorf("store: insert merchant settings: %w", err)
	}
	return scanSettings(db.write.QueryRowContext(ctx, `SELECT `+settingsCols+` FROM merchant_settings WHERE merchant_id = $1`, def.MerchantID), def.MerchantID)
}

// UpdateMerchantSettings loads the merchant's settings under a write lock,
// lets fn change them and stores the result, so concurrent partial updates
// do not overwrite each other. fn's error aborts without writing.
func (db *DB) UpdateMerchantSettings(ctx context.Context, merchantID string, fn func(*kassa.MerchantSettings) error) (*kassa.MerchantSettings, error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: begin: %w", err)
	}
	defer tx.Rollback()
	s, err := scanSettings(tx.QueryRowContext(ctx, `SELECT `+settingsCols+` FROM merchant_settings WHERE merchant_id = $1`+db.forUpdate, merchantID), merchantID)
	if err != nil {
		return nil, err
	}
	if err := fn(s); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE merchant_settings SET allowed_origins=$2, display_name=$3, logo_url=$4,
		accent_color=$5, result_signing_secret=$6, updated_at=$7 WHERE merchant_id=$1`,
		merchantID, originsJSON(s.AllowedOrigins), s.DisplayName, s.LogoURL, s.AccentColor, s.ResultSigningSecret, micros(s.Updated)); err != nil {
		return nil, fmt.Errorf("store: update merchant settings: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: commit: %w", err)
	}
	return s, nil
}
