-- +goose Up
-- The hosted checkout's view of a merchant: allowed origins (a JSON array),
-- branding, and the secret that signs results handed back in the browser.
-- The secret must be readable to sign with, so it is stored as is; only
-- holders of the merchant's secret key can read it through the API.
CREATE TABLE merchant_settings (
    merchant_id           TEXT PRIMARY KEY REFERENCES merchants(id),
    allowed_origins       TEXT NOT NULL DEFAULT '[]',
    display_name          TEXT NOT NULL DEFAULT '',
    logo_url              TEXT NOT NULL DEFAULT '',
    accent_color          TEXT NOT NULL DEFAULT '',
    result_signing_secret TEXT NOT NULL,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);

-- +goose Down
DROP TABLE merchant_settings;
