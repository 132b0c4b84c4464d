package kassa

import (
	"context"
	"time"
)

// Store is what the engine needs from storage. internal/store implements it
// on SQLite and PostgreSQL. Reads see committed data; every change goes
// through Write, the single write path, so that commits can be batched
// without touching callers.
type Store interface {
	// Write runs fn in one database transaction and commits it if fn returns
	// nil. Writes are serialized per payment (SQLite: one writer; PostgreSQL:
	// Tx.LockPayment takes a row lock), so fn's checks and changes are atomic.
	// fn must not call processors or other slow I/O: it holds the write lock.
	Write(ctx context.Context, fn func(Tx) error) error

	Merchant(ctx context.Context, id string) (*Merchant, error)
	// HasMerchants reports whether any merchant exists (first start creates one).
	HasMerchants(ctx context.Context) (bool, error)
	APIKeyByHash(ctx context.Context, hash string) (*APIKey, error)
	APIKeyByPublishable(ctx context.Context, key string) (*APIKey, error)
	Payment(ctx context.Context, p Principal, id string) (*Payment, error)
	PaymentByID(ctx context.Context, id string) (*Payment, error)
	ListPayments(ctx context.Context, p Principal, f PaymentFilter) ([]*Payment, bool, error)
	// Transactions returns the payments' ledger rows (with history when
	// withHistory), keyed by payment ID, oldest first.
	Transactions(ctx context.Context, paymentIDs []string, withHistory bool) (map[string][]Transaction, error)
	Transaction(ctx context.Context, id string) (*Transaction, error)
	Refund(ctx context.Context, p Principal, id string) (*Refund, error)
	ListRefunds(ctx context.Context, p Principal, f RefundFilter) ([]*Refund, bool, error)
	// UnsettledTransactions returns transactions that are unknown, or pending
	// since before pendingBefore, oldest first: the reconciler's work list.
	UnsettledTransactions(ctx context.Context, pendingBefore time.Time, limit int) ([]Transaction, error)
	// ExpiredPayments returns payments still awaiting the shopper after their expiry.
	ExpiredPayments(ctx context.Context, now time.Time, limit int) ([]*Payment, error)
	ListEvents(ctx context.Context, p Principal, f EventFilter) ([]*Event, bool, error)
	Event(ctx context.Context, p Principal, id string) (*Event, error)
}

// Tx is one write transaction. Methods return *Error with ENOTFOUND for
// missing rows; other errors are internal.
type Tx interface {
	InsertMerchant(ctx context.Context, m *Merchant) error
	InsertAPIKey(ctx context.Context, k *APIKey) error

	// LockPayment loads a payment of p and locks it until the transaction ends.
	LockPayment(ctx context.Context, p Principal, id string) (*Payment, error)
	InsertPayment(ctx context.Context, pay *Payment) error
	UpdatePayment(ctx context.Context, pay *Payment) error
	PaymentTransactions(ctx context.Context, paymentID string) ([]Transaction, error)

	// InsertTransaction writes a ledger row and the first entry of its history.
	InsertTransaction(ctx context.Context, t *Transaction) error
	// UpdateTransaction stores t's new status and processor fields and
	// appends to its history.
	UpdateTransaction(ctx context.Context, t *Transaction) error

	// ClaimOrder makes paymentID the holder of (merchant, mode, orderID) if
	// no payment holds it, and returns the holder: paymentID on success, the
	// other payment's ID if it already holds the order. The database's
	// uniqueness, not process memory, decides races.
	ClaimOrder(ctx context.Context, merchantID string, livemode bool, orderID, paymentID string) (string, error)
	// ReleaseOrder gives the order back if paymentID holds it.
	ReleaseOrder(ctx context.Context, merchantID string, livemode bool, orderID, paymentID string) error

	InsertRefund(ctx context.Context, r *Refund) error
	RefundByTransaction(ctx context.Context, txnID string) (*Refund, error)
	InsertEvent(ctx context.Context, e *Event) error

	// ReserveIdempotencyKey records key as in use by a request with this
	// fingerprint unless it exists, and returns the stored record (with
	// Inserted set when this call created it).
	ReserveIdempotencyKey(ctx context.Context, k *IdempotencyKey) (*IdempotencyKey, error)
	// SaveIdempotencyKey stores the response of a reserved key, or deletes the
	// key when k.StatusCode is 0.
	SaveIdempotencyKey(ctx context.Context, k *IdempotencyKey) error
	DeleteIdempotencyKeys(ctx context.Context, createdBefore time.Time) (int64, error)
}

// IdempotencyKey is a stored Idempotency-Key and the response it produced.
type IdempotencyKey struct {
	MerchantID  string
	Livemode    bool
	Key         string
	Fingerprint string // hash of method, path and body
	StatusCode  int    // 0 while the first request runs
	Response    []byte
	Created     time.Time
	LockedUntil time.Time // while StatusCode is 0: the first request's lease
	Inserted    bool
}

// Page is cursor pagination: at most Limit objects, newest first, after the
// object with ID StartingAfter.
type Page struct {
	Limit         int
	StartingAfter string
}

// PaymentFilter selects payments.
type PaymentFilter struct {
	Page
	Status     PaymentStatus
	OrderID    string
	CreatedGTE *time.Time
	CreatedLTE *time.Time
}

// RefundFilter selects refunds.
type RefundFilter struct {
	Page
	PaymentID string
}

// EventFilter selects events.
type EventFilter struct {
	Page
	Type      string
	PaymentID string
}
