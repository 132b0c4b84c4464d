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

// Routes and orders with payout (see kassa.Order). Orders change only
// inside Write transactions (kassa.OrderTx), next to the payment they
// belong to, so a payment's success and its order's move commit together.

var (
	_ kassa.OrderStore = (*DB)(nil)
	_ kassa.OrderTx    = (*tx)(nil)
)

// ---- routes

const routeCols = `id, merchant_id, from_ccy, to_ccy, xml_from, xml_to, rate, fee_percent, min_amount, max_amount,
	payout_mode, to_fields, created_at`

func scanRoute(r rowScanner) (*kassa.Route, error) {
	var rt kassa.Route
	var fields string
	var created int64
	if err := r.Scan(&rt.ID, &rt.MerchantID, &rt.From, &rt.To, &rt.XMLFrom, &rt.XMLTo, &rt.Rate, &rt.FeePercent,
		&rt.Min, &rt.Max, &rt.PayoutMode, &fields, &created); err != nil {
		return nil, err
	}
	rt.Created = fromMicros(created)
	if err := json.Unmarshal([]byte(fields), &rt.ToFields); err != nil {
		return nil, fmt.Errorf("store: route %s: to_fields: %w", rt.ID, err)
	}
	return &rt, nil
}

func (t *tx) InsertRoute(ctx context.Context, r *kassa.Route) error {
	fields, _ := json.Marshal(r.ToFields)
	_, err := t.tx.ExecContext(ctx, `INSERT INTO order_routes (`+routeCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)`,
		r.ID, r.MerchantID, r.From, r.To, r.XMLFrom, r.XMLTo, r.Rate, r.FeePercent, r.Min, r.Max, string(r.PayoutMode),
		string(fields), micros(r.Created))
	return err
}

// Route returns a route by ID.
func (db *DB) Route(ctx context.Context, id string) (*kassa.Route, error) {
	r, err := scanRoute(db.read.QueryRowContext(ctx, `SELECT `+routeCols+` FROM order_routes WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("route", id)
	}
	return r, err
}

// ListRoutes returns the routes a merchant may use, oldest first, or all
// routes for merchantID "".
func (db *DB) ListRoutes(ctx context.Context, merchantID string) ([]*kassa.Route, error) {
	q := `SELECT ` + routeCols + ` FROM order_routes`
	var args []any
	if merchantID != "" {
		q += ` WHERE merchant_id = '' OR merchant_id = $1`
		args = append(args, merchantID)
	}
	return collect(ctx, db.read, scanRoute, q+` ORDER BY id`, args...)
}

// ---- orders

const orderCols = `uid, id, secret, merchant_id, livemode, route_id, partner, in_amount, out_amount, from_ccy, to_ccy,
	xml_from, xml_to, rate, fee_percent, payout_mode, from_values, to_values, route_values, lang, agreement, hide_out_data,
	client_callback_url, ipn_url, ipn_secret, ipn_single_try, status, held_from, paid, history, payment_id, payout_ref,
	payout_status, payout_message, payout_at, created_at, updated_at`

func valuesJSON(v []kassa.OrderValue) string {
	if v == nil {
		v = []kassa.OrderValue{}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func scanOrder(r rowScanner) (*kassa.Order, error) {
	var o kassa.Order
	var live, agreement, hide, single, paid int
	var from, to, route, history string
	var payoutAt, created, updated int64
	if err := r.Scan(&o.UID, &o.ID, &o.Secret, &o.MerchantID, &live, &o.RouteID, &o.Partner, &o.InAmount, &o.OutAmount,
		&o.From, &o.To, &o.XMLFrom, &o.XMLTo, &o.Rate, &o.FeePercent, &o.PayoutMode, &from, &to, &route, &o.Lang,
		&agreement, &hide, &o.ClientCallbackURL, &o.IPNURL, &o.IPNSecret, &single, &o.Status, &o.HeldFrom, &paid,
		&history, &o.PaymentID, &o.PayoutRef, &o.PayoutStatus, &o.PayoutMessage, &payoutAt, &created, &updated); err != nil {
		return nil, err
	}
	o.Livemode, o.Agreement, o.HideOutData, o.IPNSingleTry, o.Paid = live == 1, agreement == 1, hide == 1, single == 1, paid == 1
	o.PayoutAt, o.Created, o.Updated = fromMicros(payoutAt), fromMicros(created), fromMicros(updated)
	err := errors.Join(json.Unmarshal([]byte(from), &o.FromValues), json.Unmarshal([]byte(to), &o.ToValues),
		json.Unmarshal([]byte(route), &o.RouteValues), json.Unmarshal([]byte(history), &o.History))
	if err != nil {
		return nil, fmt.Errorf("store: order %s: %w", o.ID, err)
	}
	return &o, nil
}

func historyJSON(h []kassa.OrderStatusChange) string {
	if h == nil {
		h = []kassa.OrderStatusChange{}
	}
	b, _ := json.Marshal(h)
	return string(b)
}

// InsertOrder stores a new order; the database assigns its UID.
func (t *tx) InsertOrder(ctx context.Context, o *kassa.Order) error {
	cols := strings.TrimPrefix(orderCols, "uid, ")
	return t.tx.QueryRowContext(ctx, `INSERT INTO orders (`+cols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,
		$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26,$27,$28,$29,$30,$31,$32,$33,$34,$35,$36) RETURNING uid`,
		o.ID, o.Secret, o.MerchantID, b2i(o.Livemode), o.RouteID, o.Partner, o.InAmount, o.OutAmount, o.From, o.To,
		o.XMLFrom, o.XMLTo, o.Rate, o.FeePercent, string(o.PayoutMode), valuesJSON(o.FromValues), valuesJSON(o.ToValues),
		valuesJSON(o.RouteValues), o.Lang, b2i(o.Agreement), b2i(o.HideOutData), o.ClientCallbackURL, o.IPNURL, o.IPNSecret,
		b2i(o.IPNSingleTry), string(o.Status), string(o.HeldFrom), b2i(o.Paid), historyJSON(o.History), o.PaymentID,
		o.PayoutRef, o.PayoutStatus, o.PayoutMessage, micros(o.PayoutAt), micros(o.Created), micros(o.Updated)).Scan(&o.UID)
}

// UpdateOrder stores the fields that change after creation.
func (t *tx) UpdateOrder(ctx context.Context, o *kassa.Order) error {
	res, err := t.tx.ExecContext(ctx, `UPDATE orders SET status=$1, held_from=$2, paid=$3, history=$4, payment_id=$5,
		payout_ref=$6, payout_status=$7, payout_message=$8, payout_at=$9, updated_at=$10 WHERE id=$11`,
		string(o.Status), string(o.HeldFrom), b2i(o.Paid), historyJSON(o.History), o.PaymentID, o.PayoutRef, o.PayoutStatus,
		o.PayoutMessage, micros(o.PayoutAt), micros(o.Updated), o.ID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return notFound("order", o.ID)
	}
	return nil
}

// LockOrder loads an order and locks its row (PostgreSQL; SQLite's single
// writer already excludes other writers).
func (t *tx) LockOrder(ctx context.Context, id string) (*kassa.Order, error) {
	o, err := scanOrder(t.tx.QueryRowContext(ctx, `SELECT `+orderCols+` FROM orders WHERE id = $1`+t.db.forUpdate, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("order", id)
	}
	return o, err
}

// Order returns an order by ID.
func (db *DB) Order(ctx context.Context, id string) (*kassa.Order, error) {
	o, err := scanOrder(db.read.QueryRowContext(ctx, `SELECT `+orderCols+` FROM orders WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("order", id)
	}
	return o, err
}

// OrderByUID returns an order by its public number.
func (db *DB) OrderByUID(ctx context.Context, uid int64) (*kassa.Order, error) {
	o, err := scanOrder(db.read.QueryRowContext(ctx, `SELECT `+orderCols+` FROM orders WHERE uid = $1`, uid))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("order", strconv.FormatInt(uid, 10))
	}
	return o, err
}

// ListOrders returns a page of pr's orders, newest first.
func (db *DB) ListOrders(ctx context.Context, pr kassa.Principal, f kassa.OrderFilter) ([]*kassa.Order, bool, error) {
	var w where
	w.add("merchant_id = ?", pr.MerchantID)
	w.add("livemode = ?", b2i(pr.Livemode))
	if f.Status != "" {
		w.add("status = ?", string(f.Status))
	}
	rows, err := db.read.QueryContext(ctx, `SELECT `+orderCols+` FROM orders`+w.page(f.Page), w.args...)
	if err != nil {
		return nil, false, err
	}
	var out []*kassa.Order
	for rows.Next() {
		o, err := scanOrder(rows)
		if err != nil {
			rows.Close()
			return nil, false, err
		}
		out = append(out, o)
	}
	return trimPage(out, f.Limit, errors.Join(rows.Err(), rows.Close()))
}

// PayoutsDue implements kassa.OrderStore.
func (db *DB) PayoutsDue(ctx context.Context, staleBefore time.Time, limit int) ([]*kassa.Order, error) {
	return collect(ctx, db.read, scanOrder, `SELECT `+orderCols+` FROM orders WHERE status = 'inProgressPayout'
		AND (payout_status = '' OR (payout_status = 'pending' AND payout_at < $1)) ORDER BY payout_at LIMIT $2`,
		micros(staleBefore), limit)
}
