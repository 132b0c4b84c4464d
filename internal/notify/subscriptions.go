package notify

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kassa-pay/kassa"
)

// Subscription sends the events of one subject — a payment, or an order —
// to one URL in one Format. It is how a protocol adapter gets its own
// notifications (the Izipay IPN, Shoplazza's Notify call, izi.exchange's
// order IPN) out of the same outbox as webhooks: the engine subscribes in
// the transaction that binds the adapter's request to the payment or
// order, and from then on the store fans each matching event out to the
// subscription in the event's own transaction, exactly as it does for
// webhook endpoints. No event commits without its deliveries.
//
// An event's subject is its payment (Event.PaymentID) or, for an event
// without one (order events), the ID of its object.
type Subscription struct {
	// ID names the destination. An event gets at most one delivery per
	// subscription, under this ID (Delivery.EndpointID), so a 410 Gone from
	// its URL cancels only its own deliveries. It is unique per subject; by
	// convention "<adapter>:<reference>", which never collides with a
	// webhook endpoint's "we_…" ID or the notify_url's "".
	ID         string
	Subject    string
	MerchantID string
	Livemode   bool
	URL        string
	Format     string
	// EventTypes lists the event types sent; empty means all.
	EventTypes []string
	// MetadataKey, when set, narrows the subscription to events whose
	// object carries metadata[MetadataKey] == MetadataValue: a refund an
	// adapter asked for, among every refund of the payment.
	MetadataKey   string
	MetadataValue string
	Created       time.Time
}

// Validate checks what the store relies on.
func (s *Subscription) Validate() error {
	switch {
	case s.ID == "" || !strings.Contains(s.ID, ":"):
		return fmt.Errorf("notify: subscription ID %q is not of the form <adapter>:<reference>", s.ID)
	case s.Subject == "" || s.MerchantID == "":
		return fmt.Errorf("notify: subscription %s has no subject or merchant", s.ID)
	case s.URL == "" || s.Format == "":
		return fmt.Errorf("notify: subscription %s has no URL or format", s.ID)
	case s.MetadataKey == "" && s.MetadataValue != "":
		return fmt.Errorf("notify: subscription %s has a metadata value without a key", s.ID)
	}
	for _, t := range s.EventTypes {
		if t == "" || strings.ContainsAny(t, " *") {
			return fmt.Errorf("notify: subscription %s: bad event type %q", s.ID, t)
		}
	}
	return nil
}

// Wants reports whether an event of type typ whose object has metadata md
// goes to s (the subject is the caller's match). It states the rule the
// store applies in SQL.
func (s *Subscription) Wants(typ string, md map[string]string) bool {
	if len(s.EventTypes) > 0 && !slices.Contains(s.EventTypes, typ) {
		return false
	}
	if s.MetadataKey != "" {
		v, ok := md[s.MetadataKey]
		return ok && v == s.MetadataValue
	}
	return true
}

// Subscriber is offered by a write transaction (kassa.Tx) of a store that
// keeps subscriptions; internal/store's transactions implement it.
type Subscriber interface {
	// Subscribe stores s, replacing the subscription of its subject with
	// its ID. Events written after it, in the same transaction or later,
	// are delivered to it; events written before are not.
	Subscribe(ctx context.Context, s *Subscription) error
}

// Subscribe stores sub in tx, which must be a Subscriber.
func Subscribe(ctx context.Context, tx kassa.Tx, sub *Subscription) error {
	s, ok := tx.(Subscriber)
	if !ok {
		return fmt.Errorf("notify: transaction %T does not keep notification subscriptions", tx)
	}
	if err := sub.Validate(); err != nil {
		return err
	}
	return s.Subscribe(ctx, sub)
}
