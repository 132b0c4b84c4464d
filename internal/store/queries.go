package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kassa-pay/kassa"
)

// ---- merchants and keys

func (t *tx) InsertMerchant(ctx context.Context, m *kassa.Merchant) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO merchants (id, name, email, created_at) VALUES ($1,$2,$3,$4)`,
		m.ID, m.Name, m.Email, micros(m.Created))
	return err
}

func (t *tx) InsertAPIKey(ctx context.Context, k *kassa.APIKey) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO api_keys (id, merchant_id, livemode, kind, hash, prefix, plain, created_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`, k.ID, k.MerchantID, b2i(k.Livemode), string(k.Kind), k.Hash, k.Prefix, k.Plain, micros(k.Created))
	return err
}

func (db *DB) Merchant(ctx context.Context, id string) (*kassa.Merchant, error) {
	var m kassa.Merchant
	var created int64
	err := db.read.QueryRowContext(ctx, `SELECT id, name, email, created_at FROM merchants WHERE id = $1`, id).
		Scan(&m.ID, &m.Name, &m.Email, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("merchant", id)
	}
	m.Created = fromMicros(created)
	return &m, err
}

const keyCols = `id, merchant_id, livemode, kind, hash, prefix, plain, created_at, revoked_at`

func scanKey(row *sql.Row) (*kassa.APIKey, error) {
	var k kassa.APIKey
	var live int
	var created int64
	var revoked sql.NullInt64
	if err := row.Scan(&k.ID, &k.MerchantID, &live, &k.Kind, &k.Hash, &k.Prefix, &k.Plain, &created, &revoked); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, notFound("api key", "")
		}
		return nil, err
	}
	k.Livemode, k.Created = live == 1, fromMicros(created)
	if revoked.Valid {
		r := fromMicros(revoked.Int64)
		k.Revoked = &r
	}
	return &k, nil
}

func (db *DB) APIKeyByHash(ctx context.Context, hash string) (*kassa.APIKey, error) {
	return scanKey(db.read.QueryRowContext(ctx, `SELECT `+keyCols+` FROM api_keys WHERE hash = $1 AND revoked_at IS NULL`, hash))
}

func (db *DB) APIKeyByPublishable(ctx context.Context, key string) (*kassa.APIKey, error) {
	return scanKey(db.read.QueryRowContext(ctx, `SELECT `+keyCols+` FROM api_keys WHERE plain = $1 AND kind = 'publishable' AND revoked_at IS NULL`, key))
}

// ---- payments

const paymentCols = `id, merchant_id, livemode, amount, currency, order_id, capture_method, description,
	customer, billing, shipping, items, return_url, cancel_url, notify_url, metadata, status, client_secret,
	last_error, next_action, card_brand, card_last4, card_exp_month, card_exp_year, canceled_reason,
	created_at, updated_at, expires_at`

// jsonText encodes v for a TEXT column; nil, empty maps and empty slices are ”.
func jsonText(v any) string {
	switch x := v.(type) {
	case map[string]string:
		if len(x) == 0 {
			return ""
		}
	case []kassa.Item:
		if len(x) == 0 {
			return ""
		}
	case *kassa.Customer:
		if x == nil {
			return ""
		}
	case *kassa.Address:
		if x == nil {
			return ""
		}
	case *kassa.PaymentError:
		if x == nil {
			return ""
		}
	case *kassa.NextAction:
		if x == nil {
			return ""
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain structs and maps are stored
	}
	return string(b)
}

func fromJSON[T any](s string) (T, error) {
	var v T
	if s == "" {
		return v, nil
	}
	err := json.Unmarshal([]byte(s), &v)
	return v, err
}

type rowScanner interface{ Scan(dest ...any) error }

func scanPayment(r rowScanner) (*kassa.Payment, error) {
	var p kassa.Payment
	var live int
	var customer, billing, shipping, items, metadata, lastError, nextAction, brand, last4 string
	var expMonth, expYear int
	var created, updated, expires int64
	err := r.Scan(&p.ID, &p.MerchantID, &live, &p.Amount, &p.Currency, &p.OrderID, &p.CaptureMethod, &p.Description,
		&customer, &billing, &shipping, &items, &p.ReturnURL, &p.CancelURL, &p.NotifyURL, &metadata, &p.Status, &p.ClientSecret,
		&lastError, &nextAction, &brand, &last4, &expMonth, &expYear, &p.CanceledReason, &created, &updated, &expires)
	if err != nil {
		return nil, err
	}
	p.Livemode = live == 1
	p.Created, p.Updated, p.ExpiresAt = fromMicros(created), fromMicros(updated), fromMicros(expires)
	var errs [6]error
	p.Customer, errs[0] = fromJSON[*kassa.Customer](customer)
	p.Billing, errs[1] = fromJSON[*kassa.Address](billing)
	p.Shipping, errs[2] = fromJSON[*kassa.Address](shipping)
	p.Items, errs[3] = fromJSON[[]kassa.Item](items)
	p.Metadata, errs[4] = fromJSON[map[string]string](metadata)
	p.LastError, errs[5] = fromJSON[*kassa.PaymentError](lastError)
	if err := errors.Join(errs[:]...); err != nil {
		return nil, fmt.Errorf("store: payment %s: %w", p.ID, err)
	}
	if p.NextAction, err = fromJSON[*kassa.NextAction](nextAction); err != nil {
		return nil, err
	}
	if brand != "" {
		p.Card = &kassa.CardSummary{Brand: brand, Last4: last4, ExpMonth: expMonth, ExpYear: expYear}
	}
	return &p, nil
}

func cardCols(p *kassa.Payment) (string, string, int, int) {
	if p.Card == nil {
		return "", "", 0, 0
	}
	return p.Card.Brand, p.Card.Last4, p.Card.ExpMonth, p.Card.ExpYear
}

func (t *tx) InsertPayment(ctx context.Context, p *kassa.Payment) error {
	brand, last4, em, ey := cardCols(p)
	// customer_email is a search column of the dashboard (dashboard.go).
	_, err := t.tx.ExecContext(ctx, `INSERT INTO payments (`+paymentCols+`, customer_email) VALUES
		($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26,$27,$28,$29)`,
		p.ID, p.MerchantID, b2i(p.Livemode), p.Amount, p.Currency, p.OrderID, string(p.CaptureMethod), p.Description,
		jsonText(p.Customer), jsonText(p.Billing), jsonText(p.Shipping), jsonText(p.Items), p.ReturnURL, p.CancelURL, p.NotifyURL,
		jsonText(p.Metadata), string(p.Status), p.ClientSecret, jsonText(p.LastError), jsonText(p.NextAction),
		brand, last4, em, ey, p.CanceledReason, micros(p.Created), micros(p.Updated), micros(p.ExpiresAt), searchEmail(p))
	return err
}

// UpdatePayment stores the fields that change after creation.
func (t *tx) UpdatePayment(ctx context.Context, p *kassa.Payment) error {
	brand, last4, em, ey := cardCols(p)
	res, err := t.tx.ExecContext(ctx, `UPDATE payments SET status=$1, last_error=$2, next_action=$3, card_brand=$4,
		card_last4=$5, card_exp_month=$6, card_exp_year=$7, canceled_reason=$8, updated_at=$9 WHERE id=$10`,
		string(p.Status), jsonText(p.LastError), jsonText(p.NextAction), brand, last4, em, ey, p.CanceledReason, micros(p.Updated), p.ID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return notFound("payment", p.ID)
	}
	return nil
}

func (t *tx) LockPayment(ctx context.Context, pr kassa.Principal, id string) (*kassa.Payment, error) {
	p, err := scanPayment(t.tx.QueryRowContext(ctx, `SELECT `+paymentCols+` FROM payments
		WHERE id = $1 AND merchant_id = $2 AND livemode = $3`+t.db.forUpdate, id, pr.MerchantID, b2i(pr.Livemode)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("payment", id)
	}
	return p, err
}

func (db *DB) Payment(ctx context.Context, pr kassa.Principal, id string) (*kassa.Payment, error) {
	p, err := scanPayment(db.read.QueryRowContext(ctx, `SELECT `+paymentCols+` FROM payments
		WHERE id = $1 AND merchant_id = $2 AND livemode = $3`, id, pr.MerchantID, b2i(pr.Livemode)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("payment", id)
	}
	return p, err
}

func (db *DB) PaymentByID(ctx context.Context, id string) (*kassa.Payment, error) {
	p, err := scanPayment(db.read.QueryRowContext(ctx, `SELECT `+paymentCols+` FROM payments WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("payment", id)
	}
	return p, err
}

// where builds a conjunction with numbered placeholders.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, arg any) {
	w.args = append(w.args, arg)
	w.conds = append(w.conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(w.args))))
}

func (w *where) page(pg kassa.Page) string {
	if pg.StartingAfter != "" {
		w.add("id < ?", pg.StartingAfter)
	}
	w.args = append(w.args, pg.Limit+1)
	return " WHERE " + strings.Join(w.conds, " AND ") + " ORDER BY id DESC LIMIT $" + strconv.Itoa(len(w.args))
}

func (db *DB) ListPayments(ctx context.Context, pr kassa.Principal, f kassa.PaymentFilter) ([]*kassa.Payment, bool, error) {
	var w where
	w.add("merchant_id = ?", pr.MerchantID)
	w.add("livemode = ?", b2i(pr.Livemode))
	if f.Status != "" {
		w.add("status = ?", string(f.Status))
	}
	if f.OrderID != "" {
		w.add("order_id = ?", f.OrderID)
	}
	if f.CreatedGTE != nil {
		w.add("created_at >= ?", micros(*f.CreatedGTE))
	}
	if f.CreatedLTE != nil {
		w.add("created_at <= ?", micros(*f.CreatedLTE))
	}
	q := `SELECT ` + paymentCols + ` FROM payments` + w.page(f.Page)
	out, err := collect(ctx, db.read, scanPayment, q, w.args...)
	return trimPage(out, f.Limit, err)
}

func trimPage[T any](out []T, limit int, err error) ([]T, bool, error) {
	if err != nil {
		return nil, false, err
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

func (db *DB) ExpiredPayments(ctx context.Context, now time.Time, limit int) ([]*kassa.Payment, error) {
	return collect(ctx, db.read, scanPayment, `SELECT `+paymentCols+` FROM payments
		WHERE status IN ('requires_payment_method', 'requires_action') AND expires_at < $1 ORDER BY expires_at LIMIT $2`,
		micros(now), limit)
}

// ---- order claims

func (t *tx) ClaimOrder(ctx context.Context, merchantID string, live bool, orderID, paymentID string) (string, error) {
	// The usual case, a new order, is one statement: the insert returns
	// its row. Only when the order is already claimed (no row returned) is
	// the holder read.
	var holder string
	err := t.tx.QueryRowContext(ctx, `INSERT INTO order_claims (merchant_id, livemode, order_id, payment_id, created_at)
		VALUES ($1,$2,$3,$4,$5) ON CONFLICT (merchant_id, livemode, order_id) DO NOTHING RETURNING payment_id`,
		merchantID, b2i(live), orderID, paymentID, time.Now().UnixMicro()).Scan(&holder)
	if !errors.Is(err, sql.ErrNoRows) {
		return holder, err
	}
	err = t.tx.QueryRowContext(ctx, `SELECT payment_id FROM order_claims WHERE merchant_id=$1 AND livemode=$2 AND order_id=$3`,
		merchantID, b2i(live), orderID).Scan(&holder)
	return holder, err
}

func (t *tx) ReleaseOrder(ctx context.Context, merchantID string, live bool, orderID, paymentID string) error {
	_, err := t.tx.ExecContext(ctx, `DELETE FROM order_claims WHERE merchant_id=$1 AND livemode=$2 AND order_id=$3 AND payment_id=$4`,
		merchantID, b2i(live), orderID, paymentID)
	return err
}

// ---- transactions

const txnCols = `id, payment_id, merchant_id, livemode, type, status, amount, currency, processor, parent_id,
	processor_ref, authorization_code, response_code, decline_code, message, created_at, updated_at`

func scanTxn(r rowScanner) (kassa.Transaction, error) {
	var x kassa.Transaction
	var live int
	var created, updated int64
	err := r.Scan(&x.ID, &x.PaymentID, &x.MerchantID, &live, &x.Type, &x.Status, &x.Amount, &x.Currency, &x.Processor,
		&x.ParentID, &x.ProcessorRef, &x.AuthorizationCode, &x.ResponseCode, &x.DeclineCode, &x.Message, &created, &updated)
	x.Livemode, x.Created, x.Updated = live == 1, fromMicros(created), fromMicros(updated)
	return x, err
}

// Every change of a ledger row's status is also appended to
// transaction_history. On PostgreSQL the row and its history entry are
// written by one statement (a data-modifying WITH), because there each
// statement is a network round trip; SQLite has no INSERT/UPDATE inside WITH
// and no round trips, so it runs two.

const insertTxn = `INSERT INTO transactions (` + txnCols + `) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)`

func (t *tx) InsertTransaction(ctx context.Context, x *kassa.Transaction) error {
	args := []any{x.ID, x.PaymentID, x.MerchantID, b2i(x.Livemode), string(x.Type), string(x.Status), x.Amount, x.Currency, x.Processor,
		x.ParentID, x.ProcessorRef, x.AuthorizationCode, x.ResponseCode, x.DeclineCode, x.Message, micros(x.Created), micros(x.Updated)}
	if t.db.dialect == Postgres {
		_, err := t.tx.ExecContext(ctx, `WITH x AS (`+insertTxn+`)
			INSERT INTO transaction_history (transaction_id, status, at, code, message) VALUES ($1,$6,$17,$18,$15)`,
			append(args, historyCode(x))...)
		return err
	}
	if _, err := t.tx.ExecContext(ctx, insertTxn, args...); err != nil {
		return err
	}
	return t.history(ctx, x)
}

// historyCode is the code a history entry records: the decline code of a
// failure, else the acquirer's response code.
func historyCode(x *kassa.Transaction) string {
	if x.DeclineCode != "" {
		return x.DeclineCode
	}
	return x.ResponseCode
}

func (t *tx) history(ctx context.Context, x *kassa.Transaction) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO transaction_history (transaction_id, status, at, code, message) VALUES ($1,$2,$3,$4,$5)`,
		x.ID, string(x.Status), micros(x.Updated), historyCode(x), x.Message)
	return err
}

const updateTxn = `UPDATE transactions SET status=$1, processor_ref=$2, authorization_code=$3,
		response_code=$4, decline_code=$5, message=$6, updated_at=$7 WHERE id=$8`

func (t *tx) UpdateTransaction(ctx context.Context, x *kassa.Transaction) error {
	args := []any{string(x.Status), x.ProcessorRef, x.AuthorizationCode, x.ResponseCode, x.DeclineCode, x.Message, micros(x.Updated), x.ID}
	if t.db.dialect == Postgres {
		// One history row per updated row: none when x.ID is unknown.
		res, err := t.tx.ExecContext(ctx, `WITH u AS (`+updateTxn+` RETURNING id)
			INSERT INTO transaction_history (transaction_id, status, at, code, message) SELECT id, $1, $7, $9, $6 FROM u`,
			append(args, historyCode(x))...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return notFound("transaction", x.ID)
		}
		return nil
	}
	res, err := t.tx.ExecContext(ctx, updateTxn, args...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return notFound("transaction", x.ID)
	}
	return t.history(ctx, x)
}

func (t *tx) PaymentTransactions(ctx context.Context, paymentID string) ([]kassa.Transaction, error) {
	return queryTxns(ctx, t.tx, `SELECT `+txnCols+` FROM transactions WHERE payment_id = $1 ORDER BY id`, paymentID)
}

func queryTxns(ctx context.Context, q queryer, query string, args ...any) ([]kassa.Transaction, error) {
	return collect(ctx, q, scanTxn, query, args...)
}

// placeholders returns "$1,$2,…" for n arguments starting at 1.
func placeholders(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteByte(',')
		}
		b.WriteString("$" + strconv.Itoa(i))
	}
	return b.String()
}

func (db *DB) Transactions(ctx context.Context, paymentIDs []string, withHistory bool) (map[string][]kassa.Transaction, error) {
	out := make(map[string][]kassa.Transaction, len(paymentIDs))
	if len(paymentIDs) == 0 {
		return out, nil
	}
	args := make([]any, len(paymentIDs))
	for i, id := range paymentIDs {
		args[i] = id
	}
	txns, err := queryTxns(ctx, db.read, `SELECT `+txnCols+` FROM transactions WHERE payment_id IN (`+placeholders(len(args))+`) ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	if withHistory && len(txns) > 0 {
		if err := db.attachHistory(ctx, txns); err != nil {
			return nil, err
		}
	}
	for _, x := range txns {
		out[x.PaymentID] = append(out[x.PaymentID], x)
	}
	return out, nil
}

func (db *DB) attachHistory(ctx context.Context, txns []kassa.Transaction) error {
	args := make([]any, len(txns))
	idx := make(map[string]int, len(txns))
	for i, x := range txns {
		args[i], idx[x.ID] = x.ID, i
	}
	rows, err := db.read.QueryContext(ctx, `SELECT transaction_id, status, at, code, message FROM transaction_history
		WHERE transaction_id IN (`+placeholders(len(args))+`) ORDER BY id`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var h kassa.TxnStatusChange
		var at int64
		if err := rows.Scan(&id, &h.Status, &at, &h.Code, &h.Message); err != nil {
			return err
		}
		h.At = fromMicros(at)
		txns[idx[id]].History = append(txns[idx[id]].History, h)
	}
	return rows.Err()
}

func (db *DB) Transaction(ctx context.Context, id string) (*kassa.Transaction, error) {
	x, err := scanTxn(db.read.QueryRowContext(ctx, `SELECT `+txnCols+` FROM transactions WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("transaction", id)
	}
	return &x, err
}

func (db *DB) UnsettledTransactions(ctx context.Context, pendingBefore time.Time, limit int) ([]kassa.Transaction, error) {
	return queryTxns(ctx, db.read, `SELECT `+txnCols+` FROM transactions
		WHERE status = 'unknown' OR (status = 'pending' AND updated_at < $1) ORDER BY updated_at LIMIT $2`,
		micros(pendingBefore), limit)
}

// ---- refunds

const refundCols = `r.id, r.payment_id, r.merchant_id, r.livemode, r.transaction_id, r.amount, r.currency, r.reason,
	r.metadata, r.created_at, t.status, t.decline_code`

func scanRefund(r rowScanner) (*kassa.Refund, error) {
	var x kassa.Refund
	var live int
	var created int64
	var metadata string
	if err := r.Scan(&x.ID, &x.PaymentID, &x.MerchantID, &live, &x.TransactionID, &x.Amount, &x.Currency, &x.Reason,
		&metadata, &created, &x.Status, &x.FailureCode); err != nil {
		return nil, err
	}
	x.Livemode, x.Created = live == 1, fromMicros(created)
	var err error
	x.Metadata, err = fromJSON[map[string]string](metadata)
	return &x, err
}

func (t *tx) InsertRefund(ctx context.Context, r *kassa.Refund) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO refunds (id, payment_id, merchant_id, livemode, transaction_id, amount,
		currency, reason, metadata, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`,
		r.ID, r.PaymentID, r.MerchantID, b2i(r.Livemode), r.TransactionID, r.Amount, r.Currency, r.Reason,
		jsonText(r.Metadata), micros(r.Created))
	return err
}

func (db *DB) Refund(ctx context.Context, pr kassa.Principal, id string) (*kassa.Refund, error) {
	r, err := scanRefund(db.read.QueryRowContext(ctx, `SELECT `+refundCols+` FROM refunds r JOIN transactions t ON t.id = r.transaction_id
		WHERE r.id = $1 AND r.merchant_id = $2 AND r.livemode = $3`, id, pr.MerchantID, b2i(pr.Livemode)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("refund", id)
	}
	return r, err
}

func (db *DB) ListRefunds(ctx context.Context, pr kassa.Principal, f kassa.RefundFilter) ([]*kassa.Refund, bool, error) {
	var w where
	w.add("r.merchant_id = ?", pr.MerchantID)
	w.add("r.livemode = ?", b2i(pr.Livemode))
	if f.PaymentID != "" {
		w.add("r.payment_id = ?", f.PaymentID)
	}
	if f.StartingAfter != "" {
		w.add("r.id < ?", f.StartingAfter)
	}
	w.args = append(w.args, f.Limit+1)
	out, err := collect(ctx, db.read, scanRefund, `SELECT `+refundCols+` FROM refunds r JOIN transactions t ON t.id = r.transaction_id
		WHERE `+strings.Join(w.conds, " AND ")+` ORDER BY r.id DESC LIMIT $`+strconv.Itoa(len(w.args)), w.args...)
	return trimPage(out, f.Limit, err)
}

// ---- events

const eventCols = `id, merchant_id, livemode, type, payment_id, data, created_at`

func scanEvent(r rowScanner) (*kassa.Event, error) {
	var e kassa.Event
	var live int
	var created int64
	var data string
	if err := r.Scan(&e.ID, &e.MerchantID, &live, &e.Type, &e.PaymentID, &data, &created); err != nil {
		return nil, err
	}
	e.Livemode, e.Created, e.Data = live == 1, fromMicros(created), []byte(data)
	return &e, nil
}

func (t *tx) InsertEvent(ctx context.Context, e *kassa.Event) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO events (`+eventCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
		e.ID, e.MerchantID, b2i(e.Livemode), e.Type, e.PaymentID, string(e.Data), micros(e.Created))
	if err != nil {
		return err
	}
	return t.enqueueDeliveries(ctx, e) // the webhook outbox, same transaction (notify.go)
}

func (db *DB) Event(ctx context.Context, pr kassa.Principal, id string) (*kassa.Event, error) {
	e, err := scanEvent(db.read.QueryRowContext(ctx, `SELECT `+eventCols+` FROM events WHERE id = $1 AND merchant_id = $2 AND livemode = $3`,
		id, pr.MerchantID, b2i(pr.Livemode)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("event", id)
	}
	return e, err
}

func (db *DB) ListEvents(ctx context.Context, pr kassa.Principal, f kassa.EventFilter) ([]*kassa.Event, bool, error) {
	var w where
	w.add("merchant_id = ?", pr.MerchantID)
	w.add("livemode = ?", b2i(pr.Livemode))
	if f.Type != "" {
		w.add("type = ?", f.Type)
	}
	if f.PaymentID != "" {
		w.add("payment_id = ?", f.PaymentID)
	}
	out, err := collect(ctx, db.read, scanEvent, `SELECT `+eventCols+` FROM events`+w.page(f.Page), w.args...)
	return trimPage(out, f.Limit, err)
}

// ---- idempotency keys

func (t *tx) ReserveIdempotencyKey(ctx context.Context, k *kassa.IdempotencyKey) (*kassa.IdempotencyKey, error) {
	res, err := t.tx.ExecContext(ctx, `INSERT INTO idempotency_keys (merchant_id, livemode, key, fingerprint, created_at, locked_until)
		VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT (merchant_id, livemode, key) DO NOTHING`,
		k.MerchantID, b2i(k.Livemode), k.Key, k.Fingerprint, micros(k.Created), micros(k.LockedUntil))
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		c := *k
		c.Inserted = true
		return &c, nil
	}
	var s kassa.IdempotencyKey
	var live int
	var created, locked int64
	var response string
	err = t.tx.QueryRowContext(ctx, `SELECT merchant_id, livemode, key, fingerprint, status_code, response, created_at, locked_until
		FROM idempotency_keys WHERE merchant_id=$1 AND livemode=$2 AND key=$3`+t.db.forUpdate, k.MerchantID, b2i(k.Livemode), k.Key).
		Scan(&s.MerchantID, &live, &s.Key, &s.Fingerprint, &s.StatusCode, &response, &created, &locked)
	if err != nil {
		return nil, err
	}
	s.Livemode, s.Response, s.Created, s.LockedUntil = live == 1, []byte(response), fromMicros(created), fromMicros(locked)
	return &s, nil
}

func (t *tx) SaveIdempotencyKey(ctx context.Context, k *kassa.IdempotencyKey) error {
	if k.StatusCode == 0 {
		_, err := t.tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE merchant_id=$1 AND livemode=$2 AND key=$3`,
			k.MerchantID, b2i(k.Livemode), k.Key)
		return err
	}
	_, err := t.tx.ExecContext(ctx, `UPDATE idempotency_keys SET status_code=$1, response=$2, locked_until=$3
		WHERE merchant_id=$4 AND livemode=$5 AND key=$6`,
		k.StatusCode, string(k.Response), micros(k.LockedUntil), k.MerchantID, b2i(k.Livemode), k.Key)
	return err
}

func (t *tx) DeleteIdempotencyKeys(ctx context.Context, before time.Time) (int64, error) {
	res, err := t.tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE created_at < $1`, micros(before))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (db *DB) HasMerchants(ctx context.Context) (bool, error) {
	var n int
	err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM merchants LIMIT 1) m`).Scan(&n)
	return n > 0, err
}

func (t *tx) RefundByTransaction(ctx context.Context, txnID string) (*kassa.Refund, error) {
	r, err := scanRefund(t.tx.QueryRowContext(ctx, `SELECT `+refundCols+` FROM refunds r JOIN transactions t ON t.id = r.transaction_id
		WHERE r.transaction_id = $1`, txnID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("refund for transaction", txnID)
	}
	return r, err
}

// collect runs a query on q and scans every row with scan.
func collect[T any](ctx context.Context, q queryer, scan func(rowScanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
