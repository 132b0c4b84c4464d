package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/notify"
)

// The webhook outbox (see internal/notify). Deliveries are written by
// InsertEvent in the event's own transaction; workers claim them here.

var (
	_ notify.Store      = (*DB)(nil)
	_ notify.Subscriber = (*tx)(nil)
)

// deliveryChannel is the PostgreSQL NOTIFY channel that tells every
// instance new deliveries were committed. PostgreSQL sends notifications
// only when (and if) the transaction commits.
const deliveryChannel = "kassa_deliveries"

// enqueueDeliveries writes one pending delivery for each enabled endpoint of
// the event's merchant and mode that subscribes to its type, one for the
// payment's notify_url, and one for each matching notification subscription
// of its subject, in the transaction that writes the event.
func (t *tx) enqueueDeliveries(ctx context.Context, e *kassa.Event) error {
	n, err := insertDeliveries(ctx, t.tx, t.db.dialect, e, time.Now(), false)
	if err != nil || n == 0 {
		return err
	}
	if t.db.dialect == Postgres {
		_, err = t.tx.ExecContext(ctx, `SELECT pg_notify('`+deliveryChannel+`', '')`)
		return err
	}
	// SQLite: a worker woken now claims through the single write
	// connection, which this transaction holds, so it sees the rows as soon
	// as they commit (and none if they roll back).
	wakeups.signal(t.db)
	return nil
}

// eventSubject is what an event is about, for notification subscriptions:
// its payment, or else (order events) its object.
func eventSubject(e *kassa.Event) string {
	if e.PaymentID != "" {
		return e.PaymentID
	}
	var data struct {
		Object struct {
			ID string `json:"id"`
		} `json:"object"`
	}
	if json.Unmarshal(e.Data, &data) != nil {
		return ""
	}
	return data.Object.ID
}

// insertDeliveries inserts (or, when redeliver, re-arms) the deliveries of
// one event, already stored, and returns how many rows it touched.
func insertDeliveries(ctx context.Context, q queryer, dialect Dialect, e *kassa.Event, now time.Time, redeliver bool) (int64, error) {
	conflict := ""
	if redeliver {
		conflict = ` ON CONFLICT (event_id, endpoint_id) DO UPDATE SET status = 'pending', retry_from = webhook_deliveries.attempts,
			next_attempt_at = excluded.next_attempt_at, url = excluded.url, updated_at = excluded.updated_at`
	}
	const cols = `INSERT INTO webhook_deliveries (event_id, endpoint_id, merchant_id, livemode, url, format, status,
		next_attempt_at, created_at, updated_at) `
	res, err := q.ExecContext(ctx, cols+`SELECT CAST($1 AS TEXT), w.id, w.merchant_id, w.livemode, w.url, w.format, 'pending',
		CAST($4 AS BIGINT), CAST($4 AS BIGINT), CAST($4 AS BIGINT) FROM webhook_endpoints w
		WHERE w.merchant_id = $2 AND w.livemode = $3 AND w.status = 'enabled'
		  AND (w.all_events = 1 OR EXISTS (SELECT 1 FROM webhook_endpoint_events f WHERE f.endpoint_id = w.id AND f.event_type = $5))`+conflict,
		e.ID, e.MerchantID, b2i(e.Livemode), micros(now), e.Type)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	if e.PaymentID != "" {
		res, err = q.ExecContext(ctx, cols+`SELECT CAST($1 AS TEXT), '', p.merchant_id, p.livemode, p.notify_url, '`+notify.FormatStandard+`', 'pending',
			CAST($3 AS BIGINT), CAST($3 AS BIGINT), CAST($3 AS BIGINT) FROM payments p WHERE p.id = $2 AND p.notify_url <> ''`+conflict,
			e.ID, e.PaymentID, micros(now))
		if err != nil {
			return 0, err
		}
		m, _ := res.RowsAffected()
		n += m
	}
	subject := eventSubject(e)
	if subject == "" {
		return n, nil
	}
	// The subject's subscriptions (notify.Subscription): the type filter
	// is a space-separated list, the metadata filter reads the stored
	// event's object. Most subjects have none, and the primary key's
	// index answers that at once.
	contains, metadata := "instr", `json_extract(e.data, '$.object.metadata."' || s.metadata_key || '"')`
	if dialect == Postgres {
		contains, metadata = "strpos", `(CAST(e.data AS jsonb) -> 'object' -> 'metadata' ->> s.metadata_key)`
	}
	res, err = q.ExecContext(ctx, cols+`SELECT e.id, s.id, e.merchant_id, e.livemode, s.url, s.format, 'pending',
		CAST($3 AS BIGINT), CAST($3 AS BIGINT), CAST($3 AS BIGINT)
		FROM notification_subscriptions s JOIN events e ON e.id = $1
		WHERE s.subject_id = $2 AND s.merchant_id = e.merchant_id AND s.livemode = e.livemode
		  AND (s.event_types = '' OR `+contains+`(' ' || s.event_types || ' ', $4) > 0)
		  AND (s.metadata_key = '' OR `+metadata+` = s.metadata_value)`+conflict,
		e.ID, subject, micros(now), " "+e.Type+" ")
	if err != nil {
		return 0, err
	}
	m, _ := res.RowsAffected()
	return n + m, nil
}

// Subscribe implements notify.Subscriber.
func (t *tx) Subscribe(ctx context.Context, s *notify.Subscription) error {
	created := s.Created
	if created.IsZero() {
		created = time.Now()
	}
	_, err := t.tx.ExecContext(ctx, `INSERT INTO notification_subscriptions (subject_id, id, merchant_id, livemode, url, format,
		event_types, metadata_key, metadata_value, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)
		ON CONFLICT (subject_id, id) DO UPDATE SET merchant_id = excluded.merchant_id, livemode = excluded.livemode,
			url = excluded.url, format = excluded.format, event_types = excluded.event_types,
			metadata_key = excluded.metadata_key, metadata_value = excluded.metadata_value`,
		s.Subject, s.ID, s.MerchantID, b2i(s.Livemode), s.URL, s.Format, strings.Join(s.EventTypes, " "),
		s.MetadataKey, s.MetadataValue, micros(created))
	if err != nil {
		return fmt.Errorf("store: subscribe %s: %w", s.ID, err)
	}
	return nil
}

// writeSQL runs fn in a write transaction through Write, so that on SQLite
// the outbox's own writes share group commits with payment writes.
func (db *DB) writeSQL(ctx context.Context, fn func(q queryer) error) error {
	return db.Write(ctx, func(k kassa.Tx) error { return fn(k.(*tx).tx) })
}

// ---- wakeups

type wakeupHub struct {
	mu   sync.Mutex
	subs map[*DB][]chan struct{}
}

var wakeups = &wakeupHub{subs: map[*DB][]chan struct{}{}}

func (h *wakeupHub) signal(db *DB) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.subs[db] {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

func (h *wakeupHub) subscribe(ctx context.Context, db *DB) <-chan struct{} {
	c := make(chan struct{}, 1)
	h.mu.Lock()
	h.subs[db] = append(h.subs[db], c)
	h.mu.Unlock()
	context.AfterFunc(ctx, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		subs := h.subs[db]
		for i, s := range subs {
			if s == c {
				subs = append(subs[:i], subs[i+1:]...)
				break
			}
		}
		if len(subs) == 0 {
			delete(h.subs, db)
		} else {
			h.subs[db] = subs
		}
	})
	return c
}

// DeliveryWakeups implements notify.Store. On PostgreSQL it LISTENs on a
// connection of its own, so commits by any instance wake this one.
func (db *DB) DeliveryWakeups(ctx context.Context) <-chan struct{} {
	c := wakeups.subscribe(ctx, db)
	if db.dialect == Postgres && db.pool != nil {
		go db.listen(ctx)
	}
	return c
}

func (db *DB) listen(ctx context.Context) {
	for ctx.Err() == nil {
		conn, err := db.pool.Acquire(ctx)
		if err == nil {
			if _, err = conn.Exec(ctx, "LISTEN "+deliveryChannel); err == nil {
				for {
					if _, err = conn.Conn().WaitForNotification(ctx); err != nil {
						break
					}
					wakeups.signal(db)
				}
			}
			// The session still LISTENs; do not hand it back to the pool.
			conn.Hijack().Close(context.Background())
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second): // workers poll meanwhile
		}
	}
}

// ---- claiming and recording

const deliveryCols = `event_id, endpoint_id, merchant_id, livemode, url, format, status, attempts, retry_from,
	next_attempt_at, last_status, last_error, created_at, updated_at`

func scanDelivery(r rowScanner) (*notify.Delivery, error) {
	var d notify.Delivery
	var live int
	var next, created, updated int64
	err := r.Scan(&d.EventID, &d.EndpointID, &d.MerchantID, &live, &d.URL, &d.Format, &d.Status, &d.Attempts, &d.RetryFrom,
		&next, &d.LastStatus, &d.LastError, &created, &updated)
	d.Livemode, d.NextAttempt, d.Created, d.Updated = live == 1, fromMicros(next), fromMicros(created), fromMicros(updated)
	return &d, err
}

// HasDueDeliveries implements notify.Store.
func (db *DB) HasDueDeliveries(ctx context.Context, now time.Time) (bool, error) {
	var n int
	err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM webhook_deliveries
		WHERE status = 'pending' AND next_attempt_at <= $1 LIMIT 1) d`, micros(now)).Scan(&n)
	return n > 0, err
}

// ClaimDeliveries implements notify.Store. The claim is one UPDATE; on
// PostgreSQL its subquery locks rows with SKIP LOCKED, so concurrent
// claimers in other instances take other rows instead of waiting, and a row
// claimed and committed by one is no longer due for the others.
func (db *DB) ClaimDeliveries(ctx context.Context, now, leaseUntil time.Time, limit int) ([]*notify.Delivery, error) {
	skip := ""
	if db.dialect == Postgres {
		skip = " FOR UPDATE SKIP LOCKED"
	}
	var out []*notify.Delivery
	err := db.writeSQL(ctx, func(q queryer) error {
		out = out[:0]
		rows, err := q.QueryContext(ctx, `UPDATE webhook_deliveries SET next_attempt_at = $1, attempts = attempts + 1, updated_at = $2
			WHERE (event_id, endpoint_id) IN (SELECT event_id, endpoint_id FROM webhook_deliveries
				WHERE status = 'pending' AND next_attempt_at <= $2 ORDER BY next_attempt_at LIMIT $3`+skip+`)
			RETURNING `+deliveryCols, micros(leaseUntil), micros(now), limit)
		if err != nil {
			return err
		}
		for rows.Next() {
			d, err := scanDelivery(rows)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, d)
		}
		return errors.Join(rows.Err(), rows.Close())
	})
	if err != nil || len(out) == 0 {
		return nil, err
	}
	return out, db.loadDeliveryInputs(ctx, out, now)
}

// loadDeliveryInputs attaches each delivery's event and signing secrets.
func (db *DB) loadDeliveryInputs(ctx context.Context, ds []*notify.Delivery, now time.Time) error {
	var eventIDs, endpointIDs []any
	seenE, seenW := map[string]bool{}, map[string]bool{}
	type mode struct {
		merchant string
		live     bool
	}
	notifyModes := map[mode]bool{}
	for _, d := range ds {
		if !seenE[d.EventID] {
			seenE[d.EventID] = true
			eventIDs = append(eventIDs, d.EventID)
		}
		if d.EndpointID == "" {
			notifyModes[mode{d.MerchantID, d.Livemode}] = true
		} else if !seenW[d.EndpointID] {
			seenW[d.EndpointID] = true
			endpointIDs = append(endpointIDs, d.EndpointID)
		}
	}
	events := map[string]*kassa.Event{}
	rows, err := db.read.QueryContext(ctx, `SELECT `+eventCols+` FROM events WHERE id IN (`+placeholders(len(eventIDs))+`)`, eventIDs...)
	if err != nil {
		return err
	}
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			rows.Close()
			return err
		}
		events[e.ID] = e
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	secrets := map[string][]string{}
	if len(endpointIDs) > 0 {
		rows, err := db.read.QueryContext(ctx, `SELECT id, secret, old_secret, old_secret_expires_at FROM webhook_endpoints
			WHERE id IN (`+placeholders(len(endpointIDs))+`)`, endpointIDs...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id, s, old string
			var exp int64
			if err := rows.Scan(&id, &s, &old, &exp); err != nil {
				rows.Close()
				return err
			}
			secrets[id] = activeSecrets(s, old, exp, now)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
	}
	notifySecrets := map[mode][]string{}
	for m := range notifyModes {
		s, err := db.NotifySecret(ctx, kassa.Principal{MerchantID: m.merchant, Livemode: m.live}, now)
		if err != nil {
			return err
		}
		notifySecrets[m] = s
	}
	for _, d := range ds {
		d.Event = events[d.EventID]
		if d.EndpointID == "" {
			d.Secrets = notifySecrets[mode{d.MerchantID, d.Livemode}]
		} else {
			d.Secrets = secrets[d.EndpointID]
		}
	}
	return nil
}

func activeSecrets(s, old string, oldExpires int64, now time.Time) []string {
	if old != "" && oldExpires > micros(now) {
		return []string{s, old}
	}
	return []string{s}
}

// cleanText makes a response excerpt storable as TEXT on both engines
// (PostgreSQL refuses NUL and invalid UTF-8).
func cleanText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// RecordOutcomes implements notify.Store.
func (db *DB) RecordOutcomes(ctx context.Context, outs []notify.Outcome) error {
	return db.writeSQL(ctx, func(sqlTx queryer) error { return recordOutcomes(ctx, sqlTx, outs) })
}

// recordOutcomes writes a batch with a few multi-row statements: the
// attempts, then the deliveries' new states (fenced by attempts), then the
// consequences of 410 answers.
func recordOutcomes(ctx context.Context, sqlTx queryer, outs []notify.Outcome) error {
	const chunk = 100
	for len(outs) > 0 {
		part := outs[:min(chunk, len(outs))]
		outs = outs[len(part):]
		var ins, upd strings.Builder
		var insArgs, updArgs []any
		ph := func(args *[]any, v any, cast string) string {
			*args = append(*args, v)
			if cast == "" {
				return "$" + strconv.Itoa(len(*args))
			}
			return "CAST($" + strconv.Itoa(len(*args)) + " AS " + cast + ")"
		}
		for i, o := range part {
			d, a := o.Delivery, o.Attempt
			if i > 0 {
				ins.WriteString(",")
				upd.WriteString(",")
			}
			ins.WriteString("(" + strings.Join([]string{ph(&insArgs, a.ID, ""), ph(&insArgs, d.EventID, ""), ph(&insArgs, d.EndpointID, ""),
				ph(&insArgs, d.MerchantID, ""), ph(&insArgs, b2i(d.Livemode), ""), ph(&insArgs, d.Attempts, ""), ph(&insArgs, a.URL, ""),
				ph(&insArgs, a.StatusCode, ""), ph(&insArgs, b2i(a.Delivered), ""), ph(&insArgs, cleanText(a.Error), ""),
				ph(&insArgs, cleanText(a.Response), ""), ph(&insArgs, a.Latency.Microseconds(), ""), ph(&insArgs, micros(a.Created), "")}, ",") + ")")
			lastErr := a.Error
			if lastErr == "" && !a.Delivered {
				lastErr = "HTTP " + strconv.Itoa(a.StatusCode)
			}
			upd.WriteString("(" + strings.Join([]string{ph(&updArgs, d.EventID, "TEXT"), ph(&updArgs, d.EndpointID, "TEXT"),
				ph(&updArgs, d.Attempts, "INTEGER"), ph(&updArgs, o.Status, "TEXT"), ph(&updArgs, micros(o.NextAttempt), "BIGINT"),
				ph(&updArgs, a.StatusCode, "INTEGER"), ph(&updArgs, cleanText(lastErr), "TEXT"), ph(&updArgs, micros(a.Created), "BIGINT")}, ",") + ")")
		}
		if _, err := sqlTx.ExecContext(ctx, `INSERT INTO webhook_attempts (id, event_id, endpoint_id, merchant_id, livemode, attempt,
			url, status_code, delivered, error, response, latency_us, created_at) VALUES `+ins.String()+`
			ON CONFLICT (event_id, endpoint_id, attempt) DO NOTHING`, insArgs...); err != nil {
			return err
		}
		if _, err := sqlTx.ExecContext(ctx, `WITH o (event_id, endpoint_id, attempts, status, next_at, last_status, last_error, at) AS (
			VALUES `+upd.String()+`)
			UPDATE webhook_deliveries SET status = o.status, next_attempt_at = o.next_at, last_status = o.last_status,
				last_error = o.last_error, updated_at = o.at
			FROM o WHERE webhook_deliveries.event_id = o.event_id AND webhook_deliveries.endpoint_id = o.endpoint_id
				AND webhook_deliveries.attempts = o.attempts AND webhook_deliveries.status = 'pending'`, updArgs...); err != nil {
			return err
		}
		for _, o := range part {
			d, a := o.Delivery, o.Attempt
			if !o.DisableEndpoint || d.EndpointID == "" {
				continue
			}
			if _, err := sqlTx.ExecContext(ctx, `UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = $1, updated_at = $2
				WHERE id = $3`, "the endpoint answered 410 Gone", micros(a.Created), d.EndpointID); err != nil {
				return err
			}
			if _, err := sqlTx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = 'canceled', last_error = $1, updated_at = $2
				WHERE endpoint_id = $3 AND status = 'pending'`, "endpoint disabled", micros(a.Created), d.EndpointID); err != nil {
				return err
			}
		}
	}
	return nil
}

// ---- endpoints

const endpointCols = `id, merchant_id, livemode, url, description, all_events, format, secret, old_secret,
	old_secret_expires_at, status, disabled_reason, created_at, updated_at`

func scanEndpoint(r rowScanner) (*notify.Endpoint, error) {
	var e notify.Endpoint
	var live, all int
	var oldExp, created, updated int64
	if err := r.Scan(&e.ID, &e.MerchantID, &live, &e.URL, &e.Description, &all, &e.Format, &e.Secret, &e.OldSecret,
		&oldExp, &e.Status, &e.DisabledReason, &created, &updated); err != nil {
		return nil, err
	}
	e.Livemode, e.OldSecretExpires, e.Created, e.Updated = live == 1, fromMicros(oldExp), fromMicros(created), fromMicros(updated)
	if all == 1 {
		e.Events = []string{"*"}
	}
	return &e, nil
}

// InsertEndpoint stores a new webhook endpoint and its event filter.
func (db *DB) InsertEndpoint(ctx context.Context, e *notify.Endpoint) error {
	return db.writeSQL(ctx, func(sqlTx queryer) error { return insertEndpoint(ctx, sqlTx, e) })
}

func insertEndpoint(ctx context.Context, sqlTx queryer, e *notify.Endpoint) error {
	if _, err := sqlTx.ExecContext(ctx, `INSERT INTO webhook_endpoints (`+endpointCols+`)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)`,
		e.ID, e.MerchantID, b2i(e.Livemode), e.URL, e.Description, b2i(e.AllEvents()), e.Format, e.Secret, e.OldSecret,
		micros(e.OldSecretExpires), e.Status, e.DisabledReason, micros(e.Created), micros(e.Updated)); err != nil {
		return err
	}
	if !e.AllEvents() {
		for _, typ := range e.Events {
			if _, err := sqlTx.ExecContext(ctx, `INSERT INTO webhook_endpoint_events (endpoint_id, event_type) VALUES ($1,$2)
				ON CONFLICT DO NOTHING`, e.ID, typ); err != nil {
				return err
			}
		}
	}
	return nil
}

// attachEndpointEvents fills the event filters of endpoints that have one.
func (db *DB) attachEndpointEvents(ctx context.Context, q queryer, es []*notify.Endpoint) error {
	var ids []any
	idx := map[string]*notify.Endpoint{}
	for _, e := range es {
		if !e.AllEvents() {
			ids = append(ids, e.ID)
			idx[e.ID] = e
		}
	}
	if len(ids) == 0 {
		return nil
	}
	rows, err := q.QueryContext(ctx, `SELECT endpoint_id, event_type FROM webhook_endpoint_events
		WHERE endpoint_id IN (`+placeholders(len(ids))+`) ORDER BY endpoint_id, event_type`, ids...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, typ string
		if err := rows.Scan(&id, &typ); err != nil {
			return err
		}
		idx[id].Events = append(idx[id].Events, typ)
	}
	return rows.Err()
}

// Endpoint returns a webhook endpoint of pr.
func (db *DB) Endpoint(ctx context.Context, pr kassa.Principal, id string) (*notify.Endpoint, error) {
	return db.endpoint(ctx, db.read, pr, id)
}

func (db *DB) endpoint(ctx context.Context, q queryer, pr kassa.Principal, id string) (*notify.Endpoint, error) {
	e, err := scanEndpoint(q.QueryRowContext(ctx, `SELECT `+endpointCols+` FROM webhook_endpoints
		WHERE id = $1 AND merchant_id = $2 AND livemode = $3`, id, pr.MerchantID, b2i(pr.Livemode)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("webhook endpoint", id)
	}
	if err != nil {
		return nil, err
	}
	return e, db.attachEndpointEvents(ctx, q, []*notify.Endpoint{e})
}

// ListEndpoints returns a page of pr's webhook endpoints, newest first.
func (db *DB) ListEndpoints(ctx context.Context, pr kassa.Principal, pg kassa.Page) ([]*notify.Endpoint, bool, error) {
	var w where
	w.add("merchant_id = ?", pr.MerchantID)
	w.add("livemode = ?", b2i(pr.Livemode))
	rows, err := db.read.QueryContext(ctx, `SELECT `+endpointCols+` FROM webhook_endpoints`+w.page(pg), w.args...)
	if err != nil {
		return nil, false, err
	}
	var out []*notify.Endpoint
	for rows.Next() {
		e, err := scanEndpoint(rows)
		if err != nil {
			rows.Close()
			return nil, false, err
		}
		out = append(out, e)
	}
	out, more, err := trimPage(out, pg.Limit, errors.Join(rows.Err(), rows.Close()))
	if err != nil {
		return nil, false, err
	}
	return out, more, db.attachEndpointEvents(ctx, db.read, out)
}

// DeleteEndpoint removes an endpoint of pr and cancels its pending
// deliveries. Its delivery log stays.
func (db *DB) DeleteEndpoint(ctx context.Context, pr kassa.Principal, id string) error {
	return db.writeSQL(ctx, func(sqlTx queryer) error {
		return deleteEndpoint(ctx, sqlTx, pr, id)
	})
}

func deleteEndpoint(ctx context.Context, sqlTx queryer, pr kassa.Principal, id string) error {
	res, err := sqlTx.ExecContext(ctx, `DELETE FROM webhook_endpoints WHERE id = $1 AND merchant_id = $2 AND livemode = $3`,
		id, pr.MerchantID, b2i(pr.Livemode))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return notFound("webhook endpoint", id)
	}
	if _, err := sqlTx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = 'canceled', last_error = 'endpoint deleted', updated_at = $1
		WHERE endpoint_id = $2 AND status = 'pending'`, time.Now().UnixMicro(), id); err != nil {
		return err
	}
	return nil
}

// RollEndpointSecret makes secret the endpoint's signing secret; the
// current one keeps signing too until oldExpires (none if not after now).
func (db *DB) RollEndpointSecret(ctx context.Context, pr kassa.Principal, id, secret string, oldExpires, now time.Time) (*notify.Endpoint, error) {
	var e *notify.Endpoint
	err := db.writeSQL(ctx, func(sqlTx queryer) error {
		res, err := sqlTx.ExecContext(ctx, `UPDATE webhook_endpoints SET old_secret = secret, old_secret_expires_at = $1, secret = $2,
			updated_at = $3 WHERE id = $4 AND merchant_id = $5 AND livemode = $6`,
			micros(oldExpires), secret, micros(now), id, pr.MerchantID, b2i(pr.Livemode))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return notFound("webhook endpoint", id)
		}
		e, err = db.endpoint(ctx, sqlTx, pr, id)
		return err
	})
	return e, err
}

// NotifySecret returns the secrets that sign pr's notify_url deliveries,
// current first, creating the secret on first use.
func (db *DB) NotifySecret(ctx context.Context, pr kassa.Principal, now time.Time) ([]string, error) {
	var s, old string
	var exp int64
	err := db.read.QueryRowContext(ctx, `SELECT secret, old_secret, old_secret_expires_at FROM notify_secrets
		WHERE merchant_id = $1 AND livemode = $2`, pr.MerchantID, b2i(pr.Livemode)).Scan(&s, &old, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		err = db.writeSQL(ctx, func(q queryer) error {
			if _, err := q.ExecContext(ctx, `INSERT INTO notify_secrets (merchant_id, livemode, secret, created_at)
				VALUES ($1,$2,$3,$4) ON CONFLICT (merchant_id, livemode) DO NOTHING`,
				pr.MerchantID, b2i(pr.Livemode), notify.NewSecret(), micros(now)); err != nil {
				return err
			}
			return q.QueryRowContext(ctx, `SELECT secret, old_secret, old_secret_expires_at FROM notify_secrets
				WHERE merchant_id = $1 AND livemode = $2`, pr.MerchantID, b2i(pr.Livemode)).Scan(&s, &old, &exp)
		})
	}
	if err != nil {
		return nil, err
	}
	return activeSecrets(s, old, exp, now), nil
}

// RollNotifySecret replaces pr's notify_url secret; the current one keeps
// signing until oldExpires.
func (db *DB) RollNotifySecret(ctx context.Context, pr kassa.Principal, secret string, oldExpires, now time.Time) error {
	if _, err := db.NotifySecret(ctx, pr, now); err != nil {
		return err
	}
	return db.writeSQL(ctx, func(q queryer) error {
		_, err := q.ExecContext(ctx, `UPDATE notify_secrets SET old_secret = secret, old_secret_expires_at = $1, secret = $2
			WHERE merchant_id = $3 AND livemode = $4`, micros(oldExpires), secret, pr.MerchantID, b2i(pr.Livemode))
		return err
	})
}

// ---- delivery log and replay

// ListAttempts returns a page of the delivery log of one endpoint of pr,
// newest first (the endpoint's existence is the caller's check).
func (db *DB) ListAttempts(ctx context.Context, pr kassa.Principal, endpointID, eventID string, pg kassa.Page) ([]*notify.Attempt, bool, error) {
	var w where
	w.add("a.merchant_id = ?", pr.MerchantID)
	w.add("a.livemode = ?", b2i(pr.Livemode))
	if endpointID != "" {
		w.add("a.endpoint_id = ?", endpointID)
	}
	if eventID != "" {
		w.add("a.event_id = ?", eventID)
	}
	if pg.StartingAfter != "" {
		w.add("a.id < ?", pg.StartingAfter)
	}
	w.args = append(w.args, pg.Limit+1)
	rows, err := db.read.QueryContext(ctx, `SELECT a.id, a.event_id, a.endpoint_id, a.merchant_id, a.livemode, a.attempt, a.url,
		a.status_code, a.delivered, a.error, a.response, a.latency_us, a.created_at, COALESCE(e.type, '')
		FROM webhook_attempts a LEFT JOIN events e ON e.id = a.event_id
		WHERE `+strings.Join(w.conds, " AND ")+` ORDER BY a.id DESC LIMIT $`+strconv.Itoa(len(w.args)), w.args...)
	if err != nil {
		return nil, false, err
	}
	var out []*notify.Attempt
	for rows.Next() {
		var a notify.Attempt
		var live, delivered int
		var lat, created int64
		if err := rows.Scan(&a.ID, &a.EventID, &a.EndpointID, &a.MerchantID, &live, &a.Attempt, &a.URL, &a.StatusCode, &delivered,
			&a.Error, &a.Response, &lat, &created, &a.EventType); err != nil {
			rows.Close()
			return nil, false, err
		}
		a.Livemode, a.Delivered, a.Latency, a.Created = live == 1, delivered == 1, time.Duration(lat)*time.Microsecond, fromMicros(created)
		out = append(out, &a)
	}
	return trimPage(out, pg.Limit, errors.Join(rows.Err(), rows.Close()))
}

// EventDeliveries returns the deliveries of one event, by destination.
func (db *DB) EventDeliveries(ctx context.Context, eventID string) ([]*notify.Delivery, error) {
	return eventDeliveries(ctx, db.read, eventID)
}

func eventDeliveries(ctx context.Context, q queryer, eventID string) ([]*notify.Delivery, error) {
	return collect(ctx, q, scanDelivery, `SELECT `+deliveryCols+` FROM webhook_deliveries WHERE event_id = $1 ORDER BY endpoint_id`, eventID)
}

// Redeliver schedules an event of pr for one more round of attempts, now,
// to its current destinations: the enabled endpoints that subscribe to its
// type, its payment's notify_url and its subject's notification
// subscriptions. Each round has the full retry
// schedule; the attempt numbering continues.
func (db *DB) Redeliver(ctx context.Context, pr kassa.Principal, eventID string, now time.Time) ([]*notify.Delivery, error) {
	e, err := db.Event(ctx, pr, eventID)
	if err != nil {
		return nil, err
	}
	// The re-armed deliveries are read in the transaction that re-arms
	// them: once it commits, workers (woken by it) may deliver them before
	// a later read, which would then miss them.
	var ds []*notify.Delivery
	err = db.writeSQL(ctx, func(q queryer) error {
		if _, err := insertDeliveries(ctx, q, db.dialect, e, now, true); err != nil {
			return err
		}
		var err error
		if ds, err = eventDeliveries(ctx, q, e.ID); err != nil {
			return err
		}
		if db.dialect == Postgres {
			_, err := q.ExecContext(ctx, `SELECT pg_notify('`+deliveryChannel+`', '')`)
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	wakeups.signal(db)
	out := ds[:0]
	for _, d := range ds {
		if d.Status == notify.StatusPending {
			out = append(out, d)
		}
	}
	return out, nil
}
