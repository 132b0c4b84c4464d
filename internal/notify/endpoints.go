package notify

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kassa-pay/kassa"
)

// EndpointStore keeps webhook endpoints, the delivery log and replays;
// *store.DB implements it.
type EndpointStore interface {
	InsertEndpoint(ctx context.Context, e *Endpoint) error
	Endpoint(ctx context.Context, pr kassa.Principal, id string) (*Endpoint, error)
	ListEndpoints(ctx context.Context, pr kassa.Principal, pg kassa.Page) ([]*Endpoint, bool, error)
	DeleteEndpoint(ctx context.Context, pr kassa.Principal, id string) error
	RollEndpointSecret(ctx context.Context, pr kassa.Principal, id, secret string, oldExpires, now time.Time) (*Endpoint, error)
	NotifySecret(ctx context.Context, pr kassa.Principal, now time.Time) ([]string, error)
	RollNotifySecret(ctx context.Context, pr kassa.Principal, secret string, oldExpires, now time.Time) error
	ListAttempts(ctx context.Context, pr kassa.Principal, endpointID, eventID string, pg kassa.Page) ([]*Attempt, bool, error)
	Redeliver(ctx context.Context, pr kassa.Principal, eventID string, now time.Time) ([]*Delivery, error)
}

// Storage is everything the service needs.
type Storage interface {
	Store
	EndpointStore
}

// EventTypes are the event types an endpoint may subscribe to.
var EventTypes = []string{
	kassa.EventPaymentCreated, kassa.EventPaymentRequiresAction, kassa.EventPaymentProcessing, kassa.EventPaymentAuthorized,
	kassa.EventPaymentSucceeded, kassa.EventPaymentFailed, kassa.EventPaymentCanceled,
	kassa.EventRefundCreated, kassa.EventRefundSucceeded, kassa.EventRefundFailed,
	kassa.EventOrderUpdated,
}

// MaxRollGrace bounds how long an old secret may keep signing after a roll.
const MaxRollGrace = 7 * 24 * time.Hour

// EndpointParams are a merchant's inputs for a new endpoint.
type EndpointParams struct {
	URL         string
	Events      []string // nil or empty: all ("*")
	Description string
}

// CreateEndpoint registers a webhook endpoint of pr with a fresh secret,
// which the returned endpoint carries (the API shows it only now).
func (s *Service) CreateEndpoint(ctx context.Context, pr kassa.Principal, p EndpointParams) (*Endpoint, error) {
	if strings.TrimSpace(p.URL) == "" {
		return nil, kassa.Invalid("url", "parameter_missing", "url is required")
	}
	if err := s.cfg.Guard.ValidateURL(ctx, "url", p.URL); err != nil {
		return nil, err
	}
	if len(p.Description) > 500 {
		return nil, kassa.Invalid("description", "parameter_too_long", "description is longer than 500 characters")
	}
	events, err := checkEvents(p.Events)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now().UTC()
	e := &Endpoint{ID: kassa.NewID("we"), MerchantID: pr.MerchantID, Livemode: pr.Livemode, URL: p.URL,
		Description: p.Description, Events: events, Format: FormatStandard, Secret: NewSecret(), Status: EndpointEnabled,
		Created: now, Updated: now}
	if err := s.store.InsertEndpoint(ctx, e); err != nil {
		return nil, err
	}
	return e, nil
}

func checkEvents(types []string) ([]string, error) {
	if len(types) == 0 {
		return []string{"*"}, nil
	}
	var out []string
	for i, t := range types {
		if t == "*" {
			return []string{"*"}, nil
		}
		if !slices.Contains(EventTypes, t) {
			return nil, kassa.Invalid("enabled_events["+strconv.Itoa(i)+"]", "parameter_invalid",
				"unknown event type %q; use one of %s, or \"*\" for all", t, strings.Join(EventTypes, ", "))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Endpoint returns an endpoint of pr (with its secret: callers decide what to show).
func (s *Service) Endpoint(ctx context.Context, pr kassa.Principal, id string) (*Endpoint, error) {
	return s.store.Endpoint(ctx, pr, id)
}

// ListEndpoints returns a page of pr's endpoints, newest first.
func (s *Service) ListEndpoints(ctx context.Context, pr kassa.Principal, pg kassa.Page) ([]*Endpoint, bool, error) {
	return s.store.ListEndpoints(ctx, pr, pg)
}

// DeleteEndpoint removes an endpoint and cancels its pending deliveries.
func (s *Service) DeleteEndpoint(ctx context.Context, pr kassa.Principal, id string) error {
	return s.store.DeleteEndpoint(ctx, pr, id)
}

// RollEndpointSecret gives an endpoint a new secret; the old one keeps
// signing (both signatures are sent) for grace, so the merchant can deploy
// the new secret without dropping notifications.
func (s *Service) RollEndpointSecret(ctx context.Context, pr kassa.Principal, id string, grace time.Duration) (*Endpoint, error) {
	if grace < 0 || grace > MaxRollGrace {
		return nil, kassa.Invalid("expires_in", "parameter_invalid", "expires_in must be between 0 and %d seconds", int(MaxRollGrace.Seconds()))
	}
	now := s.cfg.Now().UTC()
	return s.store.RollEndpointSecret(ctx, pr, id, NewSecret(), now.Add(grace), now)
}

// NotifySecret returns the secret that signs deliveries to pr's payments'
// notify_url (creating it on first use).
func (s *Service) NotifySecret(ctx context.Context, pr kassa.Principal) (string, error) {
	ss, err := s.store.NotifySecret(ctx, pr, s.cfg.Now())
	if err != nil {
		return "", err
	}
	return ss[0], nil
}

// RollNotifySecret replaces the notify_url secret; the old one keeps
// signing for grace.
func (s *Service) RollNotifySecret(ctx context.Context, pr kassa.Principal, grace time.Duration) (string, error) {
	if grace < 0 || grace > MaxRollGrace {
		return "", kassa.Invalid("expires_in", "parameter_invalid", "expires_in must be between 0 and %d seconds", int(MaxRollGrace.Seconds()))
	}
	now := s.cfg.Now().UTC()
	secret := NewSecret()
	if err := s.store.RollNotifySecret(ctx, pr, secret, now.Add(grace), now); err != nil {
		return "", err
	}
	return secret, nil
}

// Attempts returns a page of an endpoint's delivery log, newest first,
// optionally for one event.
func (s *Service) Attempts(ctx context.Context, pr kassa.Principal, endpointID, eventID string, pg kassa.Page) ([]*Attempt, bool, error) {
	if _, err := s.store.Endpoint(ctx, pr, endpointID); err != nil {
		return nil, false, err
	}
	return s.store.ListAttempts(ctx, pr, endpointID, eventID, pg)
}

// EventAttempts returns a page of an event's delivery log, all destinations.
func (s *Service) EventAttempts(ctx context.Context, pr kassa.Principal, eventID string, pg kassa.Page) ([]*Attempt, bool, error) {
	return s.store.ListAttempts(ctx, pr, "", eventID, pg)
}

// Redeliver sends an event again, now, to its current destinations, with
// a fresh retry schedule (manual replay).
func (s *Service) Redeliver(ctx context.Context, pr kassa.Principal, eventID string) ([]*Delivery, error) {
	return s.store.Redeliver(ctx, pr, eventID, s.cfg.Now())
}
