-- +goose Up
CREATE TABLE merchants (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    email      TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL REFERENCES merchants(id),
    livemode    INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    hash        TEXT NOT NULL UNIQUE,
    prefix      TEXT NOT NULL,
    plain       TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX api_keys_merchant ON api_keys (merchant_id);

CREATE TABLE payments (
    id              TEXT PRIMARY KEY,
    merchant_id     TEXT NOT NULL REFERENCES merchants(id),
    livemode        INTEGER NOT NULL,
    amount          BIGINT NOT NULL CHECK (amount > 0),
    currency        TEXT NOT NULL,
    order_id        TEXT NOT NULL DEFAULT '',
    capture_method  TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    customer        TEXT NOT NULL DEFAULT '',
    billing         TEXT NOT NULL DEFAULT '',
    shipping        TEXT NOT NULL DEFAULT '',
    items           TEXT NOT NULL DEFAULT '',
    return_url      TEXT NOT NULL DEFAULT '',
    cancel_url      TEXT NOT NULL DEFAULT '',
    notify_url      TEXT NOT NULL DEFAULT '',
    metadata        TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL,
    client_secret   TEXT NOT NULL,
    last_error      TEXT NOT NULL DEFAULT '',
    next_action     TEXT NOT NULL DEFAULT '',
    card_brand      TEXT NOT NULL DEFAULT '',
    card_last4      TEXT NOT NULL DEFAULT '',
    card_exp_month  INTEGER NOT NULL DEFAULT 0,
    card_exp_year   INTEGER NOT NULL DEFAULT 0,
    canceled_reason TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL
);
CREATE INDEX payments_merchant ON payments (merchant_id, livemode, id);
CREATE INDEX payments_merchant_status ON payments (merchant_id, livemode, status, id);
CREATE INDEX payments_order ON payments (merchant_id, livemode, order_id);
CREATE INDEX payments_awaiting ON payments (expires_at) WHERE status IN ('requires_payment_method', 'requires_action');

-- One order is paid at most once: the row exists while a payment holds the
-- order (see kassa.PaymentStatus.HoldsOrder); the primary key decides races.
CREATE TABLE order_claims (
    merchant_id TEXT NOT NULL,
    livemode    INTEGER NOT NULL,
    order_id    TEXT NOT NULL,
    payment_id  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, livemode, order_id)
);

-- The ledger: one row per processor call, written as pending and committed
-- before the call.
CREATE TABLE transactions (
    id                 TEXT PRIMARY KEY,
    payment_id         TEXT NOT NULL REFERENCES payments(id),
    merchant_id        TEXT NOT NULL,
    livemode           INTEGER NOT NULL,
    type               TEXT NOT NULL,
    status             TEXT NOT NULL,
    amount             BIGINT NOT NULL,
    currency           TEXT NOT NULL,
    processor          TEXT NOT NULL,
    parent_id          TEXT NOT NULL DEFAULT '',
    processor_ref      TEXT NOT NULL DEFAULT '',
    authorization_code TEXT NOT NULL DEFAULT '',
    response_code      TEXT NOT NULL DEFAULT '',
    decline_code       TEXT NOT NULL DEFAULT '',
    message            TEXT NOT NULL DEFAULT '',
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX transactions_payment ON transactions (payment_id, id);
CREATE INDEX transactions_unsettled ON transactions (updated_at) WHERE status IN ('pending', 'unknown');

CREATE TABLE refunds (
    id             TEXT PRIMARY KEY,
    payment_id     TEXT NOT NULL REFERENCES payments(id),
    merchant_id    TEXT NOT NULL,
    livemode       INTEGER NOT NULL,
    transaction_id TEXT NOT NULL UNIQUE REFERENCES transactions(id),
    amount         BIGINT NOT NULL,
    currency       TEXT NOT NULL,
    reason         TEXT NOT NULL DEFAULT '',
    metadata       TEXT NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL
);
CREATE INDEX refunds_merchant ON refunds (merchant_id, livemode, id);
CREATE INDEX refunds_payment ON refunds (payment_id, id);

CREATE TABLE events (
    id          TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL,
    livemode    INTEGER NOT NULL,
    type        TEXT NOT NULL,
    payment_id  TEXT NOT NULL DEFAULT '',
    data        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX events_merchant ON events (merchant_id, livemode, id);
CREATE INDEX events_payment ON events (payment_id, id);

CREATE TABLE idempotency_keys (
    merchant_id  TEXT NOT NULL,
    livemode     INTEGER NOT NULL,
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    status_code  INTEGER NOT NULL DEFAULT 0,
    response     TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    locked_until BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, livemode, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- The test acquirer's own ledger (internal/processor.Simulator); the gateway
-- never reads it.
CREATE TABLE simulator_operations (
    reference     TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    amount        BIGINT NOT NULL,
    currency      TEXT NOT NULL,
    parent_ref    TEXT NOT NULL DEFAULT '',
    processor_ref TEXT NOT NULL UNIQUE,
    decline_code  TEXT NOT NULL DEFAULT '',
    response_code TEXT NOT NULL DEFAULT '',
    auth_code     TEXT NOT NULL DEFAULT '',
    return_url    TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL
);
CREATE INDEX simulator_operations_parent ON simulator_operations (parent_ref);

CREATE TABLE transaction_history (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    transaction_id TEXT NOT NULL REFERENCES transactions(id),
    status         TEXT NOT NULL,
    at             BIGINT NOT NULL,
    code           TEXT NOT NULL DEFAULT '',
    message        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX transaction_history_txn ON transaction_history (transaction_id, id);

-- +goose Down
DROP TABLE transaction_history;
DROP TABLE simulator_operations;
DROP TABLE idempotency_keys;
DROP TABLE events;
DROP TABLE refunds;
DROP TABLE transactions;
DROP TABLE order_claims;
DROP TABLE payments;
DROP TABLE api_keys;
DROP TABLE merchants;
