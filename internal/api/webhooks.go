package api

import (
	"net/http"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/notify"
)

// Webhook endpoints, the delivery log, manual redelivery and the notify_url
// signing secret. The delivery engine is internal/notify; these handlers
// only translate.

// notifyService is the delivery service the webhook routes use.
type notifyService = notify.Service

// SetNotifier enables the webhook routes. Without it they answer 500
// webhooks_unavailable (the server was built without a delivery service).
func (s *Server) SetNotifier(n *notify.Service) { s.notify = n }

var errNoWebhooks = &kassa.Error{Kind: kassa.EINTERNAL, Code: "webhooks_unavailable",
	Message: "Webhook delivery is not configured on this server."}

// defaultRollGrace is how long a rolled secret keeps signing by default.
const defaultRollGrace = 24 * time.Hour

// WebhookEndpointObject is an endpoint as the API shows it. Secret is set
// only in the answers to creation and secret rolls.
type WebhookEndpointObject struct {
	ID             string   `json:"id"`
	Object         string   `json:"object"`
	URL            string   `json:"url"`
	Description    string   `json:"description"`
	EnabledEvents  []string `json:"enabled_events"`
	Status         string   `json:"status"`
	DisabledReason string   `json:"disabled_reason,omitempty"`
	Secret         string   `json:"secret,omitempty"`
	Livemode       bool     `json:"livemode"`
	Created        int64    `json:"created"`
}

func endpointObject(e *notify.Endpoint, withSecret bool) WebhookEndpointObject {
	o := WebhookEndpointObject{ID: e.ID, Object: "webhook_endpoint", URL: e.URL, Description: e.Description,
		EnabledEvents: e.Events, Status: e.Status, DisabledReason: e.DisabledReason, Livemode: e.Livemode, Created: e.Created.Unix()}
	if o.EnabledEvents == nil {
		o.EnabledEvents = []string{}
	}
	if withSecret {
		o.Secret = e.Secret
	}
	return o
}

// DeliveryAttemptObject is one entry of the delivery log.
type DeliveryAttemptObject struct {
	ID              string  `json:"id"`
	Object          string  `json:"object"`
	Event           string  `json:"event"`
	EventType       string  `json:"event_type"`
	WebhookEndpoint *string `json:"webhook_endpoint"` // null for a payment's notify_url
	URL             string  `json:"url"`
	Attempt         int     `json:"attempt"`
	Delivered       bool    `json:"delivered"`
	ResponseStatus  int     `json:"response_status"`
	ResponseBody    string  `json:"response_body"`
	Error           string  `json:"error,omitempty"`
	LatencyMS       float64 `json:"latency_ms"`
	Livemode        bool    `json:"livemode"`
	Created         int64   `json:"created"`
}

func attemptObject(a *notify.Attempt) DeliveryAttemptObject {
	o := DeliveryAttemptObject{ID: a.ID, Object: "webhook_delivery_attempt", Event: a.EventID, EventType: a.EventType, URL: a.URL,
		Attempt: a.Attempt, Delivered: a.Delivered, ResponseStatus: a.StatusCode, ResponseBody: a.Response, Error: a.Error,
		LatencyMS: float64(a.Latency.Microseconds()) / 1000, Livemode: a.Livemode, Created: a.Created.Unix()}
	if a.EndpointID != "" {
		id := a.EndpointID
		o.WebhookEndpoint = &id
	}
	return o
}

// DeliveryObject is an event's delivery to one destination.
type DeliveryObject struct {
	Object          string  `json:"object"`
	Event           string  `json:"event"`
	WebhookEndpoint *string `json:"webhook_endpoint"`
	URL             string  `json:"url"`
	Status          string  `json:"status"`
	Attempts        int     `json:"attempts"`
	NextAttemptAt   int64   `json:"next_attempt_at"`
}

func (s *Server) webhooks(w http.ResponseWriter, r *http.Request) bool {
	if s.notify == nil {
		s.writeError(w, r, errNoWebhooks, nil)
		return false
	}
	return true
}

func (s *Server) createWebhookEndpoint(w http.ResponseWriter, r *http.Request) {
	if !s.webhooks(w, r) {
		return
	}
	var req struct {
		URL           string   `json:"url"`
		EnabledEvents []string `json:"enabled_events"`
		Description   string   `json:"description"`
	}
	if !s.decodeBody(w, r, &req, false) {
		return
	}
	e, err := s.notify.CreateEndpoint(r.Context(), principal(r.Context()),
		notify.EndpointParams{URL: req.URL, Events: req.EnabledEvents, Description: req.Description})
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	writeJSON(w, http.StatusCreated, endpointObject(e, true))
}

func (s *Server) listWebhookEndpoints(w http.ResponseWriter, r *http.Request) {
	if !s.webhooks(w, r) {
		return
	}
	q := newQuery(r)
	pg := q.page()
	if err := q.done(); err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	es, more, err := s.notify.ListEndpoints(r.Context(), principal(r.Context()), pg)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	objs := make([]WebhookEndpointObject, len(es))
	for i, e := range es {
		objs[i] = endpointObject(e, false)
	}
	writeJSON(w, http.StatusOK, listBody{Object: "list", Data: objs, HasMore: more, URL: "/v1/webhook_endpoints"})
}

func (s *Server) getWebhookEndpoint(w http.ResponseWriter, r *http.Request) {
	if !s.webhooks(w, r) {
		return
	}
	e, err := s.notify.Endpoint(r.Context(), principal(r.Context()), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, endpointObject(e, false))
}

func (s *Server) deleteWebhookEndpoint(w http.ResponseWriter, r *http.Request) {
	if !s.webhooks(w, r) {
		return
	}
	id := r.PathValue("id")
	if err := s.notify.DeleteEndpoint(r.Context(), principal(r.Context()), id); err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "object": "webhook_endpoint", "deleted": true})
}

// rollRequest is the body of the secret rolls: expires_in is how many
// seconds the old secret keeps signing (default one day; 0 = at once).
type rollRequest struct {
	ExpiresIn *int64 `json:"expires_in"`
}

func (s *Server) rollGrace(w http.ResponseWriter, r *http.Request) (time.Duration, bool) {
	var req rollRequest
	b, err := body(w, r)
	if err == nil {
		err = decode(r, b, &req, true)
	}
	grace := defaultRollGrace
	if err == nil && req.ExpiresIn != nil {
		if *req.ExpiresIn < 0 || *req.ExpiresIn > int64(notify.MaxRollGrace/time.Second) {
			err = kassa.Invalid("expires_in", "parameter_invalid", "expires_in must be between 0 and %d seconds", int64(notify.MaxRollGrace/time.Second))
		}
		grace = time.Duration(*req.ExpiresIn) * time.Second
	}
	if err != nil {
		s.writeError(w, r, err, nil)
		return 0, false
	}
	return grace, true
}

func (s *Server) rollWebhookSecret(w http.ResponseWriter, r *http.Request) {
	if !s.webhooks(w, r) {
		return
	}
	grace, ok := s.rollGrace(w, r)
	if !ok {
		return
	}
	e, err := s.notify.RollEndpointSecret(r.Context(), principal(r.Context()), r.PathValue("id"), grace)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, endpointObject(e, true))
}

func (s *Server) writeAttempts(w http.ResponseWriter, r *http.Request, as []*notify.Attempt, more bool) {
	objs := make([]DeliveryAttemptObject, len(as))
	for i, a := range as {
		objs[i] = attemptObject(a)
	}
	writeJSON(w, http.StatusOK, listBody{Object: "list", Data: objs, HasMore: more, URL: r.URL.Path})
}

func (s *Server) listWebhookDeliveries(w http.ResponseWriter, r *http.Request) {
	if !s.webhooks(w, r) {
		return
	}
	q := newQuery(r)
	pg, event := q.page(), q.str("event")
	if err := q.done(); err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	as, more, err := s.notify.Attempts(r.Context(), principal(r.Context()), r.PathValue("id"), event, pg)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	s.writeAttempts(w, r, as, more)
}

func (s *Server) listEventDeliveries(w http.ResponseWriter, r *http.Request) {
	if !s.webhooks(w, r) {
		return
	}
	q := newQuery(r)
	pg := q.page()
	if err := q.done(); err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	pr := principal(r.Context())
	if _, err := s.engine.Event(r.Context(), pr, r.PathValue("id")); err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	as, more, err := s.notify.EventAttempts(r.Context(), pr, r.PathValue("id"), pg)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	s.writeAttempts(w, r, as, more)
}

func (s *Server) redeliverEvent(w http.ResponseWriter, r *http.Request) {
	if !s.webhooks(w, r) {
		return
	}
	if !s.decodeBody(w, r, &struct{}{}, true) {
		return
	}
	ds, err := s.notify.Redeliver(r.Context(), principal(r.Context()), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	objs := make([]DeliveryObject, len(ds))
	for i, d := range ds {
		objs[i] = DeliveryObject{Object: "webhook_delivery", Event: d.EventID, URL: d.URL, Status: d.Status,
			Attempts: d.Attempts, NextAttemptAt: d.NextAttempt.Unix()}
		if d.EndpointID != "" {
			id := d.EndpointID
			objs[i].WebhookEndpoint = &id
		}
	}
	writeJSON(w, http.StatusOK, listBody{Object: "list", Data: objs, URL: r.URL.Path})
}

// NotifySecretObject is the secret that signs deliveries to payments'
// notify_url.
type NotifySecretObject struct {
	Object   string `json:"object"`
	Secret   string `json:"secret"`
	Livemode bool   `json:"livemode"`
}

func (s *Server) getNotifySecret(w http.ResponseWriter, r *http.Request) {
	if !s.webhooks(w, r) {
		return
	}
	pr := principal(r.Context())
	secret, err := s.notify.NotifySecret(r.Context(), pr)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, NotifySecretObject{Object: "notify_secret", Secret: secret, Livemode: pr.Livemode})
}

func (s *Server) rollNotifySecret(w http.ResponseWriter, r *http.Request) {
	if !s.webhooks(w, r) {
		return
	}
	grace, ok := s.rollGrace(w, r)
	if !ok {
		return
	}
	pr := principal(r.Context())
	secret, err := s.notify.RollNotifySecret(r.Context(), pr, grace)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, NotifySecretObject{Object: "notify_secret", Secret: secret, Livemode: pr.Livemode})
}
