-- +goose Up
-- Izipay Web Core compatibility (internal/izipay). A merchant's Izipay
-- credentials: merchant_code is the public identifier a merchant server
-- sends; the public key and the hash key (which signs payloadHttp) are
-- stored AES-256-GCM encrypted by the engine (see docs/izipay.md for the key).
CREATE TABLE izipay_credentials (
    merchant_id    TEXT NOT NULL REFERENCES merchants(id),
    livemode       INTEGER NOT NULL,
    merchant_code  TEXT NOT NULL UNIQUE,
    public_key_enc TEXT NOT NULL,
    hash_key_enc   TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, livemode)
);

-- One row per session token from POST /security/v1/Token/Generate. Only the
-- SHA-256 of the token is kept. The token is bound to transaction_id,
-- order_number and amount (the decimal string as sent) and opens a form
-- until expires_at; LoadForm binds it to one Kassa payment and records
-- where results go (IPN URL, redirect URLs) and the Izipay fields echoed
-- back in results (extra, JSON).
CREATE TABLE izipay_sessions (
    token_hash     TEXT PRIMARY KEY,
    merchant_id    TEXT NOT NULL,
    livemode       INTEGER NOT NULL,
    merchant_code  TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    order_number   TEXT NOT NULL,
    amount         TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    payment_id     TEXT NOT NULL DEFAULT '',
    currency       TEXT NOT NULL DEFAULT '',
    type_form      TEXT NOT NULL DEFAULT '',
    origin         TEXT NOT NULL DEFAULT '',
    ipn_url        TEXT NOT NULL DEFAULT '',
    on_success     TEXT NOT NULL DEFAULT '',
    on_error       TEXT NOT NULL DEFAULT '',
    on_cancel      TEXT NOT NULL DEFAULT '',
    extra          TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX izipay_sessions_payment ON izipay_sessions (payment_id) WHERE payment_id <> '';

-- The IPN: when a payment opened through Izipay LoadForm with a urlIPN
-- reaches a final state, one delivery in the "izipay" notification format is
-- queued in the webhook outbox (internal/notify), in the same transaction
-- as the event, exactly as the outbox queues its own deliveries. The
-- destination id "izipay:<payment>" keeps a 410 from one IPN URL from
-- touching any other delivery.
-- +goose StatementBegin
CREATE TRIGGER izipay_ipn AFTER INSERT ON events
WHEN NEW.payment_id <> '' AND NEW.type IN ('payment.succeeded', 'payment.authorized', 'payment.canceled')
BEGIN
    INSERT INTO webhook_deliveries (event_id, endpoint_id, merchant_id, livemode, url, format, status,
        next_attempt_at, created_at, updated_at)
    SELECT NEW.id, 'izipay:' || NEW.payment_id, NEW.merchant_id, NEW.livemode, s.ipn_url, 'izipay', 'pending',
        NEW.created_at, NEW.created_at, NEW.created_at
    FROM izipay_sessions s WHERE s.payment_id = NEW.payment_id AND s.ipn_url <> '' LIMIT 1;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER izipay_ipn;
DROP TABLE izipay_sessions;
DROP TABLE izipay_credentials;
