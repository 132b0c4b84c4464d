-- +goose Up
-- Webhook endpoints: where a merchant wants events sent. The signing secret
-- is kept in clear because HMAC needs it; during a roll the previous secret
-- also signs until old_secret_expires_at, so receivers can switch over.
CREATE TABLE webhook_endpoints (
    id                    TEXT PRIMARY KEY,
    merchant_id           TEXT NOT NULL REFERENCES merchants(id),
    livemode              INTEGER NOT NULL,
    url                   TEXT NOT NULL,
    description           TEXT NOT NULL DEFAULT '',
    all_events            INTEGER NOT NULL,
    format                TEXT NOT NULL,
    secret                TEXT NOT NULL,
    old_secret            TEXT NOT NULL DEFAULT '',
    old_secret_expires_at BIGINT NOT NULL DEFAULT 0,
    status                TEXT NOT NULL,
    disabled_reason       TEXT NOT NULL DEFAULT '',
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_merchant ON webhook_endpoints (merchant_id, livemode, id);

-- The event types an endpoint subscribes to when all_events = 0.
CREATE TABLE webhook_endpoint_events (
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_type  TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, event_type)
);

-- The secret that signs deliveries to payments' notify_url, one per merchant and mode.
CREATE TABLE notify_secrets (
    merchant_id           TEXT NOT NULL,
    livemode              INTEGER NOT NULL,
    secret                TEXT NOT NULL,
    old_secret            TEXT NOT NULL DEFAULT '',
    old_secret_expires_at BIGINT NOT NULL DEFAULT 0,
    created_at            BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, livemode)
);

-- Notification subscriptions (notify.Subscription): send the events of
-- one subject (a payment, or an order for order events) to url in format.
-- Protocol adapters get their own notifications this way (the Izipay IPN,
-- Shoplazza's Notify, izi.exchange order IPNs): the engine subscribes when
-- it binds the adapter's request to the payment or order, and InsertEvent
-- fans each event out to the subject's matching subscriptions in the
-- event's transaction. id is the destination id of the deliveries
-- ("<adapter>:<reference>"). event_types is '' for all, else the types
-- separated by spaces; metadata_key, when not '', keeps only events whose
-- object's metadata has that key with metadata_value.
CREATE TABLE notification_subscriptions (
    subject_id     TEXT NOT NULL,
    id             TEXT NOT NULL,
    merchant_id    TEXT NOT NULL,
    livemode       INTEGER NOT NULL,
    url            TEXT NOT NULL,
    format         TEXT NOT NULL,
    event_types    TEXT NOT NULL DEFAULT '',
    metadata_key   TEXT NOT NULL DEFAULT '',
    metadata_value TEXT NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (subject_id, id)
);

-- The outbox: one row per (event, destination), inserted in the same
-- transaction as the event. endpoint_id is a webhook endpoint's id, '' for
-- the payment's notify_url, or a notification subscription's id.
-- While a worker holds a row, next_attempt_at is its lease deadline, so a
-- row whose worker died becomes due again by itself. attempts counts every
-- claim and fences completions: a worker whose lease ran out cannot
-- overwrite the outcome of the worker that claimed the row after it.
CREATE TABLE webhook_deliveries (
    event_id        TEXT NOT NULL REFERENCES events(id),
    endpoint_id     TEXT NOT NULL,
    merchant_id     TEXT NOT NULL,
    livemode        INTEGER NOT NULL,
    url             TEXT NOT NULL,
    format          TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    retry_from      INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, status);

-- The delivery log: every attempt, with the first KB of the answer.
CREATE TABLE webhook_attempts (
    id            TEXT PRIMARY KEY,
    event_id      TEXT NOT NULL,
    endpoint_id   TEXT NOT NULL,
    merchant_id   TEXT NOT NULL,
    livemode      INTEGER NOT NULL,
    attempt       INTEGER NOT NULL,
    url           TEXT NOT NULL,
    status_code   INTEGER NOT NULL,
    delivered     INTEGER NOT NULL,
    error         TEXT NOT NULL DEFAULT '',
    response      TEXT NOT NULL DEFAULT '',
    latency_us    BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    UNIQUE (event_id, endpoint_id, attempt)
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, id);
CREATE INDEX webhook_attempts_event ON webhook_attempts (event_id, id);

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE notification_subscriptions;
DROP TABLE notify_secrets;
DROP TABLE webhook_endpoint_events;
DROP TABLE webhook_endpoints;
