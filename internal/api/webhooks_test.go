package api_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

// hookSink is a merchant's webhook receiver on loopback.
type hookSink struct {
	*httptest.Server
	mu   sync.Mutex
	got  []hookHit
	fail bool
}

type hookHit struct {
	header http.Header
	body   []byte
}

func newHookSink(t *testing.T) *hookSink {
	s := &hookSink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.got = append(s.got, hookHit{r.Header.Clone(), b})
		fail := s.fail
		s.mu.Unlock()
		if fail {
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "try later")
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// hits returns what arrived for event id.
func (s *hookSink) hits(id string) []hookHit {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []hookHit
	for _, h := range s.got {
		if h.header.Get("webhook-id") == id {
			out = append(out, h)
		}
	}
	return out
}

func waitHits(t *testing.T, s *hookSink, id string, n int) []hookHit {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(s.hits(id)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("event %s arrived %d times, want %d", id, len(s.hits(id)), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return s.hits(id)
}

func verifyHit(t *testing.T, h hookHit, secret string) {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(h.body, h.header); err != nil {
		t.Fatalf("signature does not verify with %s…: %v", secret[:10], err)
	}
}

// startNotifier runs a delivery service for env e (loopback allowed, as
// KASSA_WEBHOOK_ALLOW_PRIVATE=true does) until the test ends.
func startNotifier(t *testing.T, e *env, db *store.DB, guard notify.Guard) {
	svc := notify.New(db, notify.Config{Workers: 4, Timeout: 2 * time.Second, PollInterval: 20 * time.Millisecond, Guard: guard,
		Formats: map[string]notify.Format{notify.FormatStandard: notify.Standard{Retries: notify.Schedule{10 * time.Millisecond, 10 * time.Millisecond}}}}, nil)
	e.api.SetNotifier(svc)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		svc.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

type endpointObj struct {
	ID             string   `json:"id"`
	Object         string   `json:"object"`
	URL            string   `json:"url"`
	EnabledEvents  []string `json:"enabled_events"`
	Status         string   `json:"status"`
	Secret         string   `json:"secret"`
	DisabledReason string   `json:"disabled_reason"`
}

type attemptList struct {
	Data []struct {
		ID              string  `json:"id"`
		Event           string  `json:"event"`
		EventType       string  `json:"event_type"`
		WebhookEndpoint *string `json:"webhook_endpoint"`
		Attempt         int     `json:"attempt"`
		Delivered       bool    `json:"delivered"`
		ResponseStatus  int     `json:"response_status"`
		ResponseBody    string  `json:"response_body"`
	} `json:"data"`
	HasMore bool `json:"has_more"`
}

func TestWebhookEndpointsAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		startNotifier(t, e, db, notify.Guard{AllowPrivate: true})
		m := e.newMerchant("Hooks")
		hooks, shop := newHookSink(t), newHookSink(t)

		var ep endpointObj
		m.post(t, "/v1/webhook_endpoints", obj{"url": hooks.URL + "/kassa", "enabled_events": []string{"payment.succeeded", "refund.succeeded"},
			"description": "order system"}).want(t, 201).decode(t, &ep)
		if !strings.HasPrefix(ep.Secret, "whsec_") || ep.Status != "enabled" || len(ep.EnabledEvents) != 2 || ep.Object != "webhook_endpoint" {
			t.Fatalf("created endpoint %+v", ep)
		}
		var got endpointObj
		m.get(t, "/v1/webhook_endpoints/"+ep.ID).want(t, 200).decode(t, &got)
		if got.Secret != "" || got.ID != ep.ID {
			t.Fatalf("GET shows %+v; the secret is shown only at creation", got)
		}
		var list struct {
			Data []endpointObj `json:"data"`
		}
		m.get(t, "/v1/webhook_endpoints").want(t, 200).decode(t, &list)
		if len(list.Data) != 1 || list.Data[0].Secret != "" {
			t.Fatalf("list %+v", list)
		}
		m.post(t, "/v1/webhook_endpoints", obj{"url": "ftp://example.com/x"}).wantError(t, 400, "invalid_request_error", "url_invalid", "url")
		m.post(t, "/v1/webhook_endpoints", obj{"url": hooks.URL, "enabled_events": []string{"payment.exploded"}}).
			wantError(t, 400, "invalid_request_error", "parameter_invalid", "enabled_events[0]")
		other := e.newMerchant("Other")
		other.get(t, "/v1/webhook_endpoints/"+ep.ID).wantError(t, 404, "invalid_request_error", "resource_missing", "")

		// A payment made through the API notifies the endpoint (the types it
		// subscribes to) and the payment's notify_url (every type).
		p := m.post(t, "/v1/payments", obj{"amount": 2500, "currency": "EUR", "notify_url": shop.URL + "/ipn",
			"confirm": true, "payment_method": card(visa)}).want(t, 201).payment(t)
		var events struct {
			Data []struct {
				ID   string `json:"id"`
				Type string `json:"type"`
			} `json:"data"`
		}
		m.get(t, "/v1/events?payment="+p.ID).want(t, 200).decode(t, &events)
		var succeeded, created string
		for _, ev := range events.Data {
			switch ev.Type {
			case kassa.EventPaymentSucceeded:
				succeeded = ev.ID
			case kassa.EventPaymentCreated:
				created = ev.ID
			}
		}
		if succeeded == "" || created == "" {
			t.Fatalf("events %+v", events)
		}
		verifyHit(t, waitHits(t, hooks, succeeded, 1)[0], ep.Secret)
		var ns struct {
			Secret string `json:"secret"`
		}
		m.get(t, "/v1/notify_secret").want(t, 200).decode(t, &ns)
		verifyHit(t, waitHits(t, shop, created, 1)[0], ns.Secret)
		verifyHit(t, waitHits(t, shop, succeeded, 1)[0], ns.Secret)
		if len(hooks.hits(created)) != 0 {
			t.Fatalf("the endpoint received payment.created, which it did not subscribe to")
		}

		// The delivery log.
		var log attemptList
		deadline := time.Now().Add(10 * time.Second)
		for len(log.Data) == 0 && time.Now().Before(deadline) {
			m.get(t, "/v1/webhook_endpoints/"+ep.ID+"/deliveries").want(t, 200).decode(t, &log)
		}
		if len(log.Data) != 1 || !log.Data[0].Delivered || log.Data[0].ResponseStatus != 200 || log.Data[0].Event != succeeded ||
			log.Data[0].EventType != kassa.EventPaymentSucceeded || log.Data[0].Attempt != 1 {
			t.Fatalf("delivery log %+v", log)
		}
		var evLog attemptList
		for deadline := time.Now().Add(10 * time.Second); len(evLog.Data) < 2 && time.Now().Before(deadline); {
			m.get(t, "/v1/events/"+succeeded+"/deliveries").want(t, 200).decode(t, &evLog)
		}
		if len(evLog.Data) != 2 {
			t.Fatalf("event delivery log %+v, want the endpoint and the notify_url", evLog)
		}

		// Manual replay: the same webhook-id again, to both destinations.
		var rd struct {
			Data []struct {
				WebhookEndpoint *string `json:"webhook_endpoint"`
				Status          string  `json:"status"`
			} `json:"data"`
		}
		m.post(t, "/v1/events/"+succeeded+"/redeliver", nil).want(t, 200).decode(t, &rd)
		if len(rd.Data) != 2 || rd.Data[0].Status != "pending" {
			t.Fatalf("redeliver: %+v", rd)
		}
		waitHits(t, hooks, succeeded, 2)
		waitHits(t, shop, succeeded, 2)
		m.post(t, "/v1/events/evt_missing/redeliver", nil).wantError(t, 404, "invalid_request_error", "resource_missing", "")

		// Rolling: both the new and the old secret sign during the grace period.
		var rolled endpointObj
		m.post(t, "/v1/webhook_endpoints/"+ep.ID+"/roll_secret", obj{"expires_in": 3600}).want(t, 200).decode(t, &rolled)
		if rolled.Secret == "" || rolled.Secret == ep.Secret {
			t.Fatalf("rolled secret %q", rolled.Secret)
		}
		m.post(t, "/v1/webhook_endpoints/"+ep.ID+"/roll_secret", obj{"expires_in": -1}).
			wantError(t, 400, "invalid_request_error", "parameter_invalid", "expires_in")
		m.post(t, "/v1/events/"+succeeded+"/redeliver", nil).want(t, 200)
		h := waitHits(t, hooks, succeeded, 3)[2]
		verifyHit(t, h, rolled.Secret)
		verifyHit(t, h, ep.Secret)

		var rolledNotify struct {
			Secret string `json:"secret"`
		}
		m.post(t, "/v1/notify_secret/roll", obj{"expires_in": 0}).want(t, 200).decode(t, &rolledNotify)
		if rolledNotify.Secret == ns.Secret {
			t.Fatal("notify secret did not change")
		}

		// Delete.
		m.do(t, request{method: "DELETE", path: "/v1/webhook_endpoints/" + ep.ID}).want(t, 200)
		m.get(t, "/v1/webhook_endpoints/"+ep.ID).wantError(t, 404, "invalid_request_error", "resource_missing", "")
		m.do(t, request{method: "DELETE", path: "/v1/webhook_endpoints/" + ep.ID}).wantError(t, 404, "invalid_request_error", "resource_missing", "")
	})
}

// Without a delivery service the routes say so; with the default guard,
// loopback URLs are refused.
func TestWebhookEndpointsGuarded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		m := e.newMerchant("Hooks")
		m.get(t, "/v1/webhook_endpoints").wantError(t, 500, "api_error", "webhooks_unavailable", "")
		startNotifier(t, e, db, notify.Guard{})
		m.post(t, "/v1/webhook_endpoints", obj{"url": "http://127.0.0.1:9/hooks"}).wantError(t, 400, "invalid_request_error", "url_forbidden", "url")
		m.post(t, "/v1/webhook_endpoints", obj{"url": "http://169.254.169.254/latest"}).wantError(t, 400, "invalid_request_error", "url_forbidden", "url")
	})
}
