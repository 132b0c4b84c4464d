-- +goose Up
-- Payment routes (izi.exchange "directions"): pay-in currency → payout
-- currency at an exact decimal rate, less a fee, within limits.
-- merchant_id '' is a route every merchant may use.
CREATE TABLE order_routes (
    id           TEXT PRIMARY KEY,
    merchant_id  TEXT NOT NULL DEFAULT '',
    from_ccy     TEXT NOT NULL,
    to_ccy       TEXT NOT NULL,
    xml_from     TEXT NOT NULL,
    xml_to       TEXT NOT NULL,
    rate         TEXT NOT NULL,
    fee_percent  TEXT NOT NULL,
    min_amount   BIGINT NOT NULL,
    max_amount   BIGINT NOT NULL,
    payout_mode  TEXT NOT NULL,
    to_fields    TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);

-- Orders. uid is the public number (orderUID), from the database so that
-- several instances never hand out the same one; it starts at 1001.
-- ipn_secret is kept in clear because the IPN hash needs it.
CREATE TABLE orders (
    uid                 INTEGER PRIMARY KEY AUTOINCREMENT,
    id                  TEXT NOT NULL UNIQUE,
    secret              TEXT NOT NULL,
    merchant_id         TEXT NOT NULL REFERENCES merchants(id),
    livemode            INTEGER NOT NULL,
    route_id            TEXT NOT NULL,
    partner             TEXT NOT NULL,
    in_amount           BIGINT NOT NULL,
    out_amount          BIGINT NOT NULL,
    from_ccy            TEXT NOT NULL,
    to_ccy              TEXT NOT NULL,
    xml_from            TEXT NOT NULL,
    xml_to              TEXT NOT NULL,
    rate                TEXT NOT NULL,
    fee_percent         TEXT NOT NULL,
    payout_mode         TEXT NOT NULL,
    from_values         TEXT NOT NULL,
    to_values           TEXT NOT NULL,
    route_values        TEXT NOT NULL,
    lang                TEXT NOT NULL,
    agreement           INTEGER NOT NULL,
    hide_out_data       INTEGER NOT NULL,
    client_callback_url TEXT NOT NULL,
    ipn_url             TEXT NOT NULL,
    ipn_secret          TEXT NOT NULL,
    ipn_single_try      INTEGER NOT NULL,
    status              TEXT NOT NULL,
    held_from           TEXT NOT NULL,
    paid                INTEGER NOT NULL,
    history             TEXT NOT NULL,
    payment_id          TEXT NOT NULL,
    payout_ref          TEXT NOT NULL,
    payout_status       TEXT NOT NULL,
    payout_message      TEXT NOT NULL,
    payout_at           BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
INSERT INTO sqlite_sequence (name, seq) VALUES ('orders', 1000);
CREATE INDEX orders_merchant ON orders (merchant_id, livemode, id);
CREATE INDEX orders_merchant_status ON orders (merchant_id, livemode, status, id);
CREATE INDEX orders_payout_due ON orders (payout_at) WHERE status = 'inProgressPayout';

-- The payout simulator's own record of payouts, so that asking again with
-- the same reference answers the same (processors are idempotent on it).
CREATE TABLE simulator_payouts (
    reference   TEXT PRIMARY KEY,
    outcome     TEXT NOT NULL,
    payout_ref  TEXT NOT NULL,
    code        TEXT NOT NULL,
    amount      BIGINT NOT NULL,
    currency    TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- +goose Down
DROP TABLE simulator_payouts;
DROP TABLE orders;
DROP TABLE order_routes;
