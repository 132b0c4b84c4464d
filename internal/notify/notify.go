// Package notify delivers events to merchants' servers: webhook endpoints
// and payments' notify_url.
//
// It is a transactional outbox. The store writes one delivery row per
// (event, destination) in the same database transaction as the event, so a
// state change and its notifications commit or vanish together. Workers
// claim due rows under a lease (FOR UPDATE SKIP LOCKED on PostgreSQL, so any
// number of instances share the backlog), POST them, and record every
// attempt. Delivery is at least once: a row whose worker died comes back
// when its lease ends, and receivers drop duplicates by webhook-id (the
// event ID).
//
// What goes on the wire is a Format's business: the standard format is
// Standard Webhooks (JSON event, webhook-* headers, HMAC-SHA256); protocol
// adapters register their own formats (payload, signature headers, retry
// schedule, success rule) and use the same delivery engine. Where their
// notifications go is a Subscription (a payment's or order's events, to a
// URL, in a format), made by the engine in the transaction that binds the
// adapter's request; adapters never write the outbox themselves.
package notify

import (
	"context"
	"net/http"
	"time"

	"github.com/kassa-pay/kassa"
)

// Delivery statuses.
const (
	StatusPending   = "pending"   // waiting for its next attempt, or in flight
	StatusDelivered = "delivered" // a destination acknowledged it
	StatusFailed    = "failed"    // the schedule ran out or the destination is gone
	StatusCanceled  = "canceled"  // its endpoint was deleted or disabled
)

// Endpoint statuses.
const (
	EndpointEnabled  = "enabled"
	EndpointDisabled = "disabled"
)

// FormatStandard is the name of the Standard Webhooks format.
const FormatStandard = "standard"

// Endpoint is a merchant's webhook destination.
type Endpoint struct {
	ID          string
	MerchantID  string
	Livemode    bool
	URL         string
	Description string
	// Events lists the event types sent; ["*"] means all.
	Events []string
	Format string
	// Secret signs deliveries ("whsec_…"). OldSecret, while a roll's grace
	// period runs (until OldSecretExpires), signs them too.
	Secret           string
	OldSecret        string
	OldSecretExpires time.Time
	Status           string
	DisabledReason   string
	Created          time.Time
	Updated          time.Time
}

// AllEvents reports whether the endpoint subscribes to every event type.
func (e *Endpoint) AllEvents() bool {
	for _, t := range e.Events {
		if t == "*" {
			return true
		}
	}
	return false
}

// Delivery is one event on its way to one destination.
type Delivery struct {
	EventID    string
	EndpointID string // a webhook endpoint, "" for the payment's notify_url, or a Subscription's ID
	MerchantID string
	Livemode   bool
	URL        string
	Format     string
	Status     string
	// Attempts counts claims, including the one in flight. It numbers the
	// attempt log and fences completions (see Store.RecordOutcomes).
	Attempts int
	// RetryFrom is Attempts when the current schedule began (0, or the
	// count at a manual redelivery): the schedule position is Attempts-RetryFrom.
	RetryFrom   int
	NextAttempt time.Time
	LastStatus  int
	LastError   string
	Created     time.Time
	Updated     time.Time

	// Filled by Store.ClaimDeliveries for the worker:
	Event   *kassa.Event
	Secrets []string // signing secrets, current first
}

// Attempt is one POST of a delivery, as the delivery log shows it.
type Attempt struct {
	ID         string
	EventID    string
	EndpointID string
	MerchantID string
	Livemode   bool
	Attempt    int
	URL        string
	StatusCode int // 0 when no HTTP answer came
	Delivered  bool
	Error      string // why it failed without an answer (timeout, refused address…)
	Response   string // first ResponseLogLimit bytes of the answer
	Latency    time.Duration
	Created    time.Time
	EventType  string // filled when listing
}

// ResponseLogLimit is how much of an answer the delivery log keeps.
const ResponseLogLimit = 1024

// Outcome is what one attempt decided about its delivery.
type Outcome struct {
	Delivery *Delivery // as claimed: its Attempts fences the update
	Attempt  Attempt
	// Status is the delivery's new status: pending (retry at NextAttempt),
	// delivered or failed.
	Status      string
	NextAttempt time.Time
	// DisableEndpoint disables the delivery's endpoint (it answered 410 Gone)
	// and cancels its other pending deliveries.
	DisableEndpoint bool
}

// Store is what the delivery engine needs from storage; *store.DB
// implements it on SQLite and PostgreSQL.
type Store interface {
	// HasDueDeliveries reports, from a read replica of the data, whether any
	// pending delivery is due at now. It lets idle polls avoid the writer.
	HasDueDeliveries(ctx context.Context, now time.Time) (bool, error)
	// ClaimDeliveries leases up to limit due pending deliveries, oldest due
	// first: it sets their next attempt to leaseUntil and increments their
	// attempts, atomically, so no other worker of any instance claims them
	// until the lease ends. It returns them with their event and signing
	// secrets loaded.
	ClaimDeliveries(ctx context.Context, now, leaseUntil time.Time, limit int) ([]*Delivery, error)
	// RecordOutcomes logs each attempt and applies each outcome in one
	// transaction. An outcome whose delivery has been claimed again since
	// (its Attempts no longer match) is logged but does not change the row.
	RecordOutcomes(ctx context.Context, outs []Outcome) error
	// DeliveryWakeups signals when new deliveries may have been committed
	// (best effort; workers poll too).
	DeliveryWakeups(ctx context.Context) <-chan struct{}
}

// Format renders a delivery for the wire and judges the answer. Protocol
// adapters implement it to send their own notifications through the same
// delivery engine.
type Format interface {
	// Request builds the HTTP request of one attempt at now. It must sign
	// the exact bytes it sends.
	Request(ctx context.Context, d *Delivery, now time.Time) (*http.Request, error)
	// Schedule is the retry schedule.
	Schedule() Schedule
	// Delivered reports whether an answer acknowledges the delivery.
	Delivered(status int, header http.Header, body []byte) bool
}

// Signer authenticates a body. Formats use one to build their headers.
type Signer interface {
	// Sign returns the headers that let the receiver check that body, sent
	// as message id at ts, came from the holder of secrets.
	Sign(id string, ts time.Time, body []byte, secrets []string) (http.Header, error)
}

// Schedule lists the waits between attempts: after failed attempt n (from
// 1) comes attempt n+1, Schedule[n-1] later. After len(Schedule)+1 failed
// attempts the delivery has failed.
type Schedule []time.Duration

// DefaultSchedule is Svix's: immediately, then 5 s, 5 min, 30 min, 2 h, 5 h,
// 10 h and 10 h later (8 attempts over about 27.6 hours).
var DefaultSchedule = Schedule{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
	5 * time.Hour, 10 * time.Hour, 10 * time.Hour}

// Next returns the wait after failed attempt n (from 1), or false when none remains.
func (s Schedule) Next(n int) (time.Duration, bool) {
	if n < 1 || n > len(s) {
		return 0, false
	}
	return s[n-1], true
}
