package kassa

import "time"

// Merchant is an account that takes payments.
type Merchant struct {
	ID      string
	Name    string
	Email   string
	Created time.Time
}

// KeyKind tells secret keys (server side, full access) from publishable keys
// (in the page, can only start checkout).
type KeyKind string

const (
	KeySecret      KeyKind = "secret"
	KeyPublishable KeyKind = "publishable"
)

// APIKey is one credential. Secret keys are stored only as a SHA-256 hash of
// the key (they are 32 random bytes, so a fast hash is enough and lets the
// lookup be an index probe instead of a comparison that could leak timing);
// the plain key is shown once, at creation.
type APIKey struct {
	ID         string
	MerchantID string
	Livemode   bool
	Kind       KeyKind
	Hash       string // hex SHA-256 of the key
	Prefix     string // the first characters, to recognise a key in lists
	Plain      string // publishable keys only; empty for secret keys
	Created    time.Time
	Revoked    *time.Time
}

// Principal is who is calling: a merchant in one mode. Test-mode keys see
// only test-mode data and live keys only live data.
type Principal struct {
	MerchantID string
	Livemode   bool
	KeyKind    KeyKind
}

// Event records something that happened to a payment or refund. It is
// written in the same database transaction as the change it describes.
type Event struct {
	ID         string
	MerchantID string
	Livemode   bool
	Type       string // e.g. "payment.succeeded"
	PaymentID  string
	Data       []byte // JSON snapshot of the object after the change
	Created    time.Time
}

// Event types.
const (
	EventPaymentCreated        = "payment.created"
	EventPaymentRequiresAction = "payment.requires_action"
	EventPaymentAuthorized     = "payment.authorized"
	EventPaymentSucceeded      = "payment.succeeded"
	EventPaymentFailed         = "payment.failed"
	EventPaymentCanceled       = "payment.canceled"
	EventPaymentProcessing     = "payment.processing"
	EventRefundCreated         = "refund.created"
	EventRefundSucceeded       = "refund.succeeded"
	EventRefundFailed          = "refund.failed"
)
