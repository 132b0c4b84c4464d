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

-- The Notify API calls are not queued here: the engine subscribes the
-- payment's callback_url (and each refund request's) to the payment's
-- events in the notification outbox (notify.Subscription, migration 00002).

-- +goose Down
DROP TABLE shoplazza_refunds;
DROP TABLE shoplazza_payments;
DROP TABLE shoplazza_shops;
