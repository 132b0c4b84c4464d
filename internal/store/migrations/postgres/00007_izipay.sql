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

-- The IPN is not queued here: binding a session to its payment subscribes
-- ipn_url to the payment's final events in the notification outbox
-- (notify.Subscription, migration 00002).

-- +goose Down
DROP TABLE izipay_sessions;
DROP TABLE izipay_credentials;
