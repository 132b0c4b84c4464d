-- +goose Up
-- Dashboard users: a merchant's staff. Email is unique across the gateway
-- (login asks only for email and password) and stored lower-cased.
-- password_hash is an argon2id PHC string, '' while an invitation is open.
-- failed_logins/locked_until implement the lockout after repeated failures.
CREATE TABLE dashboard_users (
    id                TEXT PRIMARY KEY,
    merchant_id       TEXT NOT NULL REFERENCES merchants(id),
    email             TEXT NOT NULL UNIQUE,
    password_hash     TEXT NOT NULL DEFAULT '',
    role              TEXT NOT NULL,
    invite_hash       TEXT NOT NULL DEFAULT '',
    invite_expires_at BIGINT NOT NULL DEFAULT 0,
    invited_by        TEXT NOT NULL DEFAULT '',
    failed_logins     INTEGER NOT NULL DEFAULT 0,
    locked_until      BIGINT NOT NULL DEFAULT 0,
    last_login_at     BIGINT NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX dashboard_users_merchant ON dashboard_users (merchant_id, id);
CREATE INDEX dashboard_users_invite ON dashboard_users (invite_hash);

-- Sessions are looked up by the SHA-256 of the cookie value, so a copy of
-- the database does not hand out live sessions.
CREATE TABLE dashboard_sessions (
    id_hash      TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES dashboard_users(id) ON DELETE CASCADE,
    merchant_id  TEXT NOT NULL,
    csrf_token   TEXT NOT NULL,
    livemode     INTEGER NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX dashboard_sessions_user ON dashboard_sessions (user_id);
CREATE INDEX dashboard_sessions_expires ON dashboard_sessions (expires_at);

-- Search and filters of the payment list on large merchants: the shopper's
-- email gets a column of its own (lower-cased, filled by InsertPayment), and
-- email, card last4 and creation time are indexed per merchant and mode.
ALTER TABLE payments ADD COLUMN customer_email TEXT NOT NULL DEFAULT '';
UPDATE payments SET customer_email = lower(COALESCE(json_extract(customer, '$.email'), '')) WHERE customer <> '';
CREATE INDEX payments_customer_email ON payments (merchant_id, livemode, customer_email, id);
CREATE INDEX payments_card_last4 ON payments (merchant_id, livemode, card_last4, id);
CREATE INDEX payments_created ON payments (merchant_id, livemode, created_at);
-- The overview's aggregates read the ledger by merchant, mode and time. The
-- index carries every column the aggregate reads, so the overview is an
-- index-only range read, and a big merchant's window is never a full scan
-- of the ledger (SQLite's planner preferred one with the narrow index once
-- one merchant held most rows).
CREATE INDEX transactions_merchant_created ON transactions (merchant_id, livemode, created_at, currency, type, status, decline_code, amount);

-- +goose Down
DROP INDEX transactions_merchant_created;
DROP INDEX payments_created;
DROP INDEX payments_card_last4;
DROP INDEX payments_customer_email;
ALTER TABLE payments DROP COLUMN customer_email;
DROP TABLE dashboard_sessions;
DROP TABLE dashboard_users;
