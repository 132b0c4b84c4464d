-- +goose Up
-- Shoplazza payments app (internal/shoplazza). A shop bound to a Kassa
-- merchant: the app's client secret, an optional per-shop signing key and
-- the shop's OAuth access token are stored AES-256-GCM sealed by the engine
-- (engine.SecretBox); the shop is found by its Shoplazza system domain.
CREATE TABLE shoplazza_shops (
    shop_domain       TEXT PRIMARY KEY,
    merchant_id       TEXT NOT NULL REFERENCES merchants(id),
    livemode          INTEGER NOT NULL,
    app_id            TEXT NOT NULL,
    account_id        TEXT NOT NULL,
    model             TEXT NOT NULL,
    iframe_width      INTEGER NOT NULL DEFAULT 0,
    iframe_height     INTEGER NOT NULL DEFAULT 0,
    client_secret_enc TEXT NOT NULL,
    access_token_enc  TEXT NOT NULL,
    sign_key_enc      TEXT NOT NULL DEFAULT '',
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX shoplazza_shops_merchant ON shoplazza_shops (merchant_id);

-- One row per payment request id ("id"): the idempotency record of the
-- request (its fingerprint, and once answered the exact answer) and the
-- map from Shoplazza's payment to the Kassa payment that collects it.
-- response_status 0 means the first request is still running, until
-- locked_until.
CREATE TABLE shoplazza_payments (
    shop_domain        TEXT NOT NULL,
    request_id         TEXT NOT NULL,
    merchant_id        TEXT NOT NULL,
    livemode           INTEGER NOT NULL,
    app_id             TEXT NOT NULL,
    shoplazza_order_id TEXT NOT NULL,
    type               TEXT NOT NULL,
    amount             TEXT NOT NULL,
    currency           TEXT NOT NULL,
    test               INTEGER NOT NULL,
    cancel_url         TEXT NOT NULL,
    complete_url       TEXT NOT NULL,
    callback_url       TEXT NOT NULL,
    origins            TEXT NOT NULL DEFAULT '',
    fingerprint        TEXT NOT NULL,
    extra              TEXT NOT NULL DEFAULT '{}',
    payment_id         TEXT NOT NULL DEFAULT '',
    response_status    INTEGER NOT NULL DEFAULT 0,
    response           TEXT NOT NULL DEFAULT '',
    complete_redirect  TEXT NOT NULL DEFAULT '',
    locked_until       BIGINT NOT NULL,
    created_at         BIGINT NOT NULL,
    PRIMARY KEY (shop_domain, request_id)
);
CREATE INDEX shoplazza_payments_payment ON shoplazza_payments (payment_id) WHERE payment_id <> '';

-- One row per refund request id, likewise.
CREATE TABLE shoplazza_refunds (
    shop_domain        TEXT NOT NULL,
    request_id         TEXT NOT NULL,
    merchant_id        TEXT NOT NULL,
    livemode           INTEGER NOT NULL,
    app_id             TEXT NOT NULL,
    payment_request_id TEXT NOT NULL,
    payment_id         TEXT NOT NULL,
    amount             TEXT NOT NULL,
    currency           TEXT NOT NULL,
    callback_url       TEXT NOT NULL,
    fingerprint        TEXT NOT NULL,
    extra              TEXT NOT NULL DEFAULT '{}',
    refund_id          TEXT NOT NULL DEFAULT '',
    response_status    INTEGER NOT NULL DEFAULT 0,
    response           TEXT NOT NULL DEFAULT '',
    locked_until       BIGINT NOT NULL,
    created_at         BIGINT NOT NULL,
    PRIMARY KEY (shop_domain, request_id)
);

-- The Notify API: when a Shoplazza payment's Kassa payment is paid or
-- canceled (the shopper gave up, a direct card was declined, it expired),
-- and when a refund asked by Shoplazza settles, one delivery in the
-- "shoplazza" format is queued in the webhook outbox (internal/notify) in
-- the event's own transaction, as the outbox queues its own deliveries.
-- The destination id "shoplazza:<id>" keeps deliveries of one callback URL
-- apart from every other.
-- +goose StatementBegin
CREATE TRIGGER shoplazza_notify_payment AFTER INSERT ON events
WHEN NEW.payment_id <> '' AND NEW.type IN ('payment.succeeded', 'payment.canceled')
BEGIN
    INSERT INTO webhook_deliveries (event_id, endpoint_id, merchant_id, livemode, url, format, status,
        next_attempt_at, created_at, updated_at)
    SELECT NEW.id, 'shoplazza:' || NEW.payment_id, NEW.merchant_id, NEW.livemode, s.callback_url, 'shoplazza', 'pending',
        NEW.created_at, NEW.created_at, NEW.created_at
    FROM shoplazza_payments s WHERE s.payment_id = NEW.payment_id AND s.callback_url <> '' LIMIT 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER shoplazza_notify_refund AFTER INSERT ON events
WHEN NEW.payment_id <> '' AND NEW.type IN ('refund.succeeded', 'refund.failed')
BEGIN
    INSERT INTO webhook_deliveries (event_id, endpoint_id, merchant_id, livemode, url, format, status,
        next_attempt_at, created_at, updated_at)
    SELECT NEW.id, 'shoplazza:' || r.request_id, NEW.merchant_id, NEW.livemode, r.callback_url, 'shoplazza', 'pending',
        NEW.created_at, NEW.created_at, NEW.created_at
    FROM shoplazza_refunds r WHERE r.payment_id = NEW.payment_id
        AND r.request_id = json_extract(NEW.data, '$.object.metadata.shoplazza_refund') AND r.callback_url <> '' LIMIT 1;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER shoplazza_notify_refund;
DROP TRIGGER shoplazza_notify_payment;
DROP TABLE shoplazza_refunds;
DROP TABLE shoplazza_payments;
DROP TABLE shoplazza_shops;
