package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
)

// Storage of the merchant dashboard: users, sessions, API key rolls, and the
// indexed reads behind its payment search and overview. Like merchant
// settings, these never change in the same transaction as money and use
// their own short statements on the write pool.

var (
	_ engine.UserStore      = (*DB)(nil)
	_ engine.KeyStore       = (*DB)(nil)
	_ engine.DashboardStore = (*DB)(nil)
)

// searchEmail is the payments.customer_email search column: the shopper's
// email, lower-cased.
func searchEmail(p *kassa.Payment) string {
	if p.Customer == nil {
		return ""
	}
	return strings.ToLower(strings.TrimSpace(p.Customer.Email))
}

// ---- users

const userCols = `id, merchant_id, email, password_hash, role, invite_hash, invite_expires_at, invited_by,
	failed_logins, locked_until, last_login_at, created_at, updated_at`

// userColsU is userCols qualified by the alias u.
const userColsU = `u.id, u.merchant_id, u.email, u.password_hash, u.role, u.invite_hash, u.invite_expires_at, u.invited_by,
	u.failed_logins, u.locked_until, u.last_login_at, u.created_at, u.updated_at`

func scanUser(r rowScanner) (*engine.User, error) {
	var u engine.User
	var inviteExp, locked, lastLogin, created, updated int64
	err := r.Scan(&u.ID, &u.MerchantID, &u.Email, &u.PasswordHash, &u.Role, &u.InviteHash, &inviteExp, &u.InvitedBy,
		&u.FailedLogins, &locked, &lastLogin, &created, &updated)
	if err != nil {
		return nil, err
	}
	u.InviteExpires, u.LockedUntil, u.LastLogin = fromMicros(inviteExp), fromMicros(locked), fromMicros(lastLogin)
	u.Created, u.Updated = fromMicros(created), fromMicros(updated)
	return &u, nil
}

func oneUser(row *sql.Row, id string) (*engine.User, error) {
	u, err := scanUser(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("user", id)
	}
	return u, err
}

// InsertUser stores a new dashboard user; a taken email is ECONFLICT.
func (db *DB) InsertUser(ctx context.Context, u *engine.User) error {
	res, err := db.write.ExecContext(ctx, `INSERT INTO dashboard_users (`+userCols+`)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) ON CONFLICT (email) DO NOTHING`,
		u.ID, u.MerchantID, u.Email, u.PasswordHash, string(u.Role), u.InviteHash, micros(u.InviteExpires), u.InvitedBy,
		u.FailedLogins, micros(u.LockedUntil), micros(u.LastLogin), micros(u.Created), micros(u.Updated))
	if err != nil {
		return fmt.Errorf("store: insert user: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return kassa.Errorf(kassa.ECONFLICT, "email_taken", "a dashboard user with email %s already exists", u.Email)
	}
	return nil
}

// UserByEmail returns a user by lower-case email. (Reads see every
// committed write: SQLite's WAL readers take a fresh snapshot per statement.)
func (db *DB) UserByEmail(ctx context.Context, email string) (*engine.User, error) {
	return oneUser(db.read.QueryRowContext(ctx, `SELECT `+userCols+` FROM dashboard_users WHERE email = $1`, email), email)
}

func (db *DB) UserByInvite(ctx context.Context, inviteHash string) (*engine.User, error) {
	if inviteHash == "" {
		return nil, notFound("invitation", "")
	}
	return oneUser(db.read.QueryRowContext(ctx, `SELECT `+userCols+` FROM dashboard_users WHERE invite_hash = $1`, inviteHash), "")
}

func (db *DB) MerchantUser(ctx context.Context, merchantID, id string) (*engine.User, error) {
	return oneUser(db.read.QueryRowContext(ctx, `SELECT `+userCols+` FROM dashboard_users WHERE id = $1 AND merchant_id = $2`,
		id, merchantID), id)
}

func (db *DB) ListUsers(ctx context.Context, merchantID string) ([]*engine.User, error) {
	return collect(ctx, db.read, scanUser, `SELECT `+userCols+` FROM dashboard_users WHERE merchant_id = $1 ORDER BY id`, merchantID)
}

// RecordLoginFailure counts a failure in one UPDATE, so concurrent failures
// (several instances, parallel guesses) are all counted.
func (db *DB) RecordLoginFailure(ctx context.Context, userID string, max int, lockUntil, now time.Time) (*engine.User, error) {
	_, err := db.write.ExecContext(ctx, `UPDATE dashboard_users SET
		locked_until = CASE WHEN failed_logins + 1 >= $2 THEN $3 ELSE locked_until END,
		failed_logins = CASE WHEN failed_logins + 1 >= $2 THEN 0 ELSE failed_logins + 1 END,
		updated_at = $4 WHERE id = $1`, userID, max, micros(lockUntil), micros(now))
	if err != nil {
		return nil, err
	}
	return oneUser(db.write.QueryRowContext(ctx, `SELECT `+userCols+` FROM dashboard_users WHERE id = $1`, userID), userID)
}

func (db *DB) RecordLoginSuccess(ctx context.Context, userID string, now time.Time) error {
	_, err := db.write.ExecContext(ctx, `UPDATE dashboard_users SET failed_logins = 0, last_login_at = $2, updated_at = $2 WHERE id = $1`,
		userID, micros(now))
	return err
}

func (db *DB) SetPassword(ctx context.Context, userID, hash string, now time.Time) error {
	res, err := db.write.ExecContext(ctx, `UPDATE dashboard_users SET password_hash = $2, invite_hash = '', invite_expires_at = 0,
		failed_logins = 0, locked_until = 0, updated_at = $3 WHERE id = $1`, userID, hash, micros(now))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return notFound("user", userID)
	}
	return nil
}

func (db *DB) DeleteUser(ctx context.Context, merchantID, id string) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM dashboard_sessions WHERE user_id = $1 AND merchant_id = $2`, id, merchantID); err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM dashboard_users WHERE id = $1 AND merchant_id = $2`, id, merchantID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return notFound("user", id)
	}
	return tx.Commit()
}

// ---- sessions

func (db *DB) InsertSession(ctx context.Context, s *engine.Session) error {
	_, err := db.write.ExecContext(ctx, `INSERT INTO dashboard_sessions (id_hash, user_id, merchant_id, csrf_token, livemode,
		created_at, last_seen_at, expires_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
		s.IDHash, s.UserID, s.MerchantID, s.CSRFToken, b2i(s.Livemode), micros(s.Created), micros(s.LastSeen), micros(s.Expires))
	return err
}

// SessionByHash reads the session and its user in one query (from the read
// pool: every dashboard request does it).
func (db *DB) SessionByHash(ctx context.Context, hash string) (*engine.Session, error) {
	var s engine.Session
	var live int
	var created, seen, expires int64
	row := db.read.QueryRowContext(ctx, `SELECT s.id_hash, s.user_id, s.merchant_id, s.csrf_token, s.livemode,
		s.created_at, s.last_seen_at, s.expires_at, `+userColsU+`
		FROM dashboard_sessions s JOIN dashboard_users u ON u.id = s.user_id AND u.merchant_id = s.merchant_id
		WHERE s.id_hash = $1`, hash)
	u, err := scanUser(prefixScanner{row, []any{&s.IDHash, &s.UserID, &s.MerchantID, &s.CSRFToken, &live, &created, &seen, &expires}})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("session", "")
	}
	if err != nil {
		return nil, err
	}
	s.Livemode, s.Created, s.LastSeen, s.Expires, s.User = live == 1, fromMicros(created), fromMicros(seen), fromMicros(expires), u
	return &s, nil
}

// prefixScanner scans some leading columns into pre, the rest into the
// destination its caller passes.
type prefixScanner struct {
	r   rowScanner
	pre []any
}

func (p prefixScanner) Scan(dest ...any) error { return p.r.Scan(append(p.pre, dest...)...) }

func (db *DB) TouchSession(ctx context.Context, hash string, now time.Time) error {
	_, err := db.write.ExecContext(ctx, `UPDATE dashboard_sessions SET last_seen_at = $2 WHERE id_hash = $1`, hash, micros(now))
	return err
}

func (db *DB) SetSessionMode(ctx context.Context, hash string, live bool) error {
	_, err := db.write.ExecContext(ctx, `UPDATE dashboard_sessions SET livemode = $2 WHERE id_hash = $1`, hash, b2i(live))
	return err
}

func (db *DB) DeleteSession(ctx context.Context, hash string) error {
	_, err := db.write.ExecContext(ctx, `DELETE FROM dashboard_sessions WHERE id_hash = $1`, hash)
	return err
}

func (db *DB) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := db.write.ExecContext(ctx, `DELETE FROM dashboard_sessions WHERE expires_at <= $1`, micros(now))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// ---- API keys

func (db *DB) APIKeys(ctx context.Context, merchantID string, live bool) ([]*kassa.APIKey, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+keyCols+` FROM api_keys
		WHERE merchant_id = $1 AND livemode = $2 AND revoked_at IS NULL ORDER BY created_at, id`, merchantID, b2i(live))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*kassa.APIKey
	for rows.Next() {
		var k kassa.APIKey
		var l int
		var created int64
		var revoked sql.NullInt64
		if err := rows.Scan(&k.ID, &k.MerchantID, &l, &k.Kind, &k.Hash, &k.Prefix, &k.Plain, &created, &revoked); err != nil {
			return nil, err
		}
		k.Livemode, k.Created = l == 1, fromMicros(created)
		out = append(out, &k)
	}
	return out, rows.Err()
}

func (db *DB) RollSecretKey(ctx context.Context, next, pub *kassa.APIKey, now time.Time) ([]string, error) {
	sqlTx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: begin: %w", err)
	}
	defer sqlTx.Rollback()
	rows, err := sqlTx.QueryContext(ctx, `UPDATE api_keys SET revoked_at = $3
		WHERE merchant_id = $1 AND livemode = $2 AND kind = 'secret' AND revoked_at IS NULL RETURNING hash`,
		next.MerchantID, b2i(next.Livemode), micros(now))
	if err != nil {
		return nil, err
	}
	var revoked []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			rows.Close()
			return nil, err
		}
		revoked = append(revoked, h)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	t := &tx{db: db, tx: sqlTx}
	for _, k := range []*kassa.APIKey{next, pub} {
		if k == nil {
			continue
		}
		if err := t.InsertAPIKey(ctx, k); err != nil {
			return nil, err
		}
	}
	if err := sqlTx.Commit(); err != nil {
		return nil, fmt.Errorf("store: commit: %w", err)
	}
	return revoked, nil
}

// ---- dashboard reads

const ledgerAggregatesSQL = `SELECT (created_at - $3) / 86400000000 AS day, currency, type, status, decline_code,
		COUNT(*), COALESCE(SUM(amount), 0)
		FROM transactions WHERE merchant_id = $1 AND livemode = $2 AND created_at >= $3
		GROUP BY 1, 2, 3, 4, 5`

// LedgerAggregates groups the ledger in the database. The (merchant_id,
// livemode, created_at) index bounds the scan to the window.
func (db *DB) LedgerAggregates(ctx context.Context, pr kassa.Principal, since time.Time) ([]engine.LedgerAggregate, error) {
	rows, err := db.read.QueryContext(ctx, ledgerAggregatesSQL, pr.MerchantID, b2i(pr.Livemode), micros(since))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []engine.LedgerAggregate
	for rows.Next() {
		var a engine.LedgerAggregate
		var day int64
		if err := rows.Scan(&day, &a.Currency, &a.Type, &a.Status, &a.DeclineCode, &a.Count, &a.Amount); err != nil {
			return nil, err
		}
		a.Day = int(day)
		out = append(out, a)
	}
	return out, rows.Err()
}

// SearchPayments serves the dashboard's payment list. Each kind of search
// text has its index: payment ID (primary key), order ID (payments_order),
// email (payments_customer_email), last4 (payments_card_last4); the list
// itself walks (merchant_id, livemode, id) newest first.
func (db *DB) SearchPayments(ctx context.Context, pr kassa.Principal, f engine.PaymentSearch) ([]*kassa.Payment, bool, error) {
	query, args := searchPaymentsSQL(pr, f)
	out, err := collect(ctx, db.read, scanPayment, query, args...)
	return trimPage(out, f.Limit, err)
}

// searchPaymentsSQL is the statement of SearchPayments (its plans are
// checked on both databases in dashboard_plan_test.go).
func searchPaymentsSQL(pr kassa.Principal, f engine.PaymentSearch) (string, []any) {
	var w where
	w.add("merchant_id = ?", pr.MerchantID)
	w.add("livemode = ?", b2i(pr.Livemode))
	if q := f.Query; q != "" {
		var or []string
		w.args = append(w.args, q)
		n := "$" + strconv.Itoa(len(w.args))
		switch {
		case strings.HasPrefix(q, "pay_"):
			or = append(or, "id = "+n)
		case strings.Contains(q, "@"):
			w.args[len(w.args)-1] = strings.ToLower(q)
			or = append(or, "customer_email = "+n)
		case len(q) == 4 && allDigits(q):
			or = append(or, "card_last4 = "+n, "order_id = "+n)
		default:
			or = append(or, "order_id = "+n)
		}
		w.conds = append(w.conds, "("+strings.Join(or, " OR ")+")")
	}
	if f.Status != "" {
		w.add("status = ?", string(f.Status))
	}
	if f.Currency != "" {
		w.add("currency = ?", f.Currency)
	}
	if f.AmountMin > 0 {
		w.add("amount >= ?", f.AmountMin)
	}
	if f.AmountMax > 0 {
		w.add("amount <= ?", f.AmountMax)
	}
	if f.CreatedGTE != nil {
		w.add("created_at >= ?", micros(*f.CreatedGTE))
	}
	if f.CreatedLT != nil {
		w.add("created_at < ?", micros(*f.CreatedLT))
	}
	q := `SELECT ` + paymentCols + ` FROM payments` + w.page(f.Page)
	return q, w.args
}

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
