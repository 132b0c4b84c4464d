package notify_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
	"github.com/kassa-pay/kassa/webhook"
)

// fast is a retry schedule for tests: the real one is minutes to hours.
var fast = notify.Schedule{10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond,
	10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond}

// testConfig allows loopback receivers, as KASSA_WEBHOOK_ALLOW_PRIVATE=true does.
func testConfig() notify.Config {
	return notify.Config{
		Workers: 4, Timeout: 2 * time.Second, Lease: 3 * time.Second, PollInterval: 20 * time.Millisecond,
		Guard:   notify.Guard{AllowPrivate: true},
		Formats: map[string]notify.Format{notify.FormatStandard: notify.Standard{Retries: fast}},
	}
}

// start runs a delivery service until the test ends (or stop is called).
func start(t testing.TB, db *store.DB, cfg notify.Config) (svc *notify.Service, stop func()) {
	svc = notify.New(db, cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		svc.Run(ctx)
		close(done)
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return svc, stop
}

// receiver is a merchant's server on loopback. reply decides each answer
// from how many times this webhook-id has arrived (1 for the first).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	hits   map[string]int
	total  int
	bodies map[string][]byte
	heads  map[string]http.Header
	reply  func(w http.ResponseWriter, r *http.Request, n int)
}

func newReceiver(t testing.TB, reply func(w http.ResponseWriter, r *http.Request, n int)) *receiver {
	rc := &receiver{hits: map[string]int{}, bodies: map[string][]byte{}, heads: map[string]http.Header{}, reply: reply}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id := r.Header.Get("webhook-id")
		rc.mu.Lock()
		rc.hits[id]++
		rc.total++
		n := rc.hits[id]
		rc.bodies[id], rc.heads[id] = body, r.Header.Clone()
		rc.mu.Unlock()
		if rc.reply != nil {
			rc.reply(w, r, n)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) count(id string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.hits[id]
}

func (rc *receiver) distinct() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.hits)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var pr = kassa.Principal{MerchantID: "mer_1"}

func seed(t testing.TB, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	if err := db.Write(ctx, func(tx kassa.Tx) error {
		return tx.InsertMerchant(ctx, &kassa.Merchant{ID: pr.MerchantID, Name: "Shop", Created: time.Now()})
	}); err != nil {
		t.Fatal(err)
	}
}

func payment(t testing.TB, db *store.DB, notifyURL string) string {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	p := &kassa.Payment{ID: kassa.NewID("pay"), MerchantID: pr.MerchantID, Amount: 1250, Currency: "EUR",
		CaptureMethod: kassa.CaptureAutomatic, Status: kassa.StatusRequiresPaymentMethod, ClientSecret: kassa.RandomToken(16),
		NotifyURL: notifyURL, Created: now, Updated: now, ExpiresAt: now.Add(time.Hour)}
	if err := db.Write(ctx, func(tx kassa.Tx) error { return tx.InsertPayment(ctx, p) }); err != nil {
		t.Fatal(err)
	}
	return p.ID
}

func event(t testing.TB, db *store.DB, typ, paymentID string) *kassa.Event {
	t.Helper()
	ctx := context.Background()
	e := kassa.NewEvent(typ, pr.MerchantID, false, paymentID, map[string]any{"id": paymentID, "amount": 1250}, time.Now())
	if err := db.Write(ctx, func(tx kassa.Tx) error { return tx.InsertEvent(ctx, e) }); err != nil {
		t.Fatal(err)
	}
	return e
}

func endpoint(t testing.TB, svc *notify.Service, url string, events ...string) *notify.Endpoint {
	t.Helper()
	e, err := svc.CreateEndpoint(context.Background(), pr, notify.EndpointParams{URL: url, Events: events})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func delivery(t testing.TB, db *store.DB, eventID, endpointID string) *notify.Delivery {
	t.Helper()
	ds, err := db.EventDeliveries(context.Background(), eventID)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.EndpointID == endpointID {
			return d
		}
	}
	t.Fatalf("no delivery of %s to %q", eventID, endpointID)
	return nil
}

func waitStatus(t testing.TB, db *store.DB, eventID, endpointID, status string) *notify.Delivery {
	t.Helper()
	var d *notify.Delivery
	waitFor(t, "delivery "+status, 10*time.Second, func() bool {
		d = delivery(t, db, eventID, endpointID)
		return d.Status == status
	})
	return d
}

func attempts(t testing.TB, svc *notify.Service, endpointID, eventID string) []*notify.Attempt {
	t.Helper()
	as, _, err := svc.Attempts(context.Background(), pr, endpointID, eventID, kassa.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return as
}

// Endpoints and a payment's notify_url receive the event object signed as
// Standard Webhooks; the reference library verifies the signature.
func TestDeliverySignedAsStandardWebhooks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		seed(t, db)
		hooks := newReceiver(t, nil)
		shop := newReceiver(t, nil)
		svc, _ := start(t, db, testConfig())
		ep := endpoint(t, svc, hooks.URL+"/hooks", kassa.EventPaymentSucceeded)
		pay := payment(t, db, shop.URL+"/notify")
		ignored := event(t, db, kassa.EventPaymentCreated, pay) // the endpoint does not subscribe to it
		ev := event(t, db, kassa.EventPaymentSucceeded, pay)
		waitStatus(t, db, ev.ID, ep.ID, notify.StatusDelivered)
		waitStatus(t, db, ev.ID, "", notify.StatusDelivered)
		waitStatus(t, db, ignored.ID, "", notify.StatusDelivered)
		if hooks.count(ignored.ID) != 0 {
			t.Fatalf("endpoint received an event it did not subscribe to")
		}

		want, _ := json.Marshal(ev.Object())
		notifySecret, err := svc.NotifySecret(context.Background(), pr)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			rc     *receiver
			secret string
		}{{hooks, ep.Secret}, {shop, notifySecret}} {
			body, h := c.rc.bodies[ev.ID], c.rc.heads[ev.ID]
			if string(body) != string(want) {
				t.Errorf("body %s, want %s", body, want)
			}
			ref, err := standardwebhooks.NewWebhook(c.secret)
			if err != nil {
				t.Fatal(err)
			}
			if err := ref.Verify(body, h); err != nil {
				t.Errorf("reference library rejects the signature: %v (headers %v)", err, h)
			}
			v, _ := webhook.NewVerifier(c.secret)
			if err := v.Verify(h, body); err != nil {
				t.Errorf("webhook package rejects the signature: %v", err)
			}
			if other, _ := standardwebhooks.NewWebhook(notify.NewSecret()); other.Verify(body, h) == nil {
				t.Errorf("a different secret verifies")
			}
			if h.Get("webhook-id") != ev.ID || h.Get("Content-Type") != "application/json" {
				t.Errorf("headers %v", h)
			}
		}
		as := attempts(t, svc, ep.ID, "")
		if len(as) != 1 || as[0].StatusCode != 200 || !as[0].Delivered || as[0].Attempt != 1 || as[0].EventType != kassa.EventPaymentSucceeded {
			t.Fatalf("delivery log %+v", as)
		}
	})
}

// A receiver that fails, drops the connection or hangs is retried on the
// schedule until it answers 2xx; every attempt is logged with its answer.
func TestRetriesUntilDelivered(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		seed(t, db)
		cfg := testConfig()
		cfg.Timeout = time.Second // the slow answer takes exactly this long: the receiver waits for the client to give up
		cfg.Lease = 3 * time.Second
		rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
			switch n {
			case 1:
				w.WriteHeader(http.StatusInternalServerError)
				io.WriteString(w, strings.Repeat("x", 3000))
			case 2: // drop the connection without an answer
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					conn.Close()
				}
			case 3: // answer too slowly
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
			case 4:
				w.WriteHeader(http.StatusServiceUnavailable)
			default:
				w.WriteHeader(http.StatusNoContent)
			}
		})
		svc, _ := start(t, db, cfg)
		ep := endpoint(t, svc, rc.URL)
		ev := event(t, db, kassa.EventPaymentCreated, "")
		d := waitStatus(t, db, ev.ID, ep.ID, notify.StatusDelivered)
		if d.Attempts != 5 || rc.count(ev.ID) != 5 {
			t.Fatalf("delivered after %d attempts (%d received), want 5", d.Attempts, rc.count(ev.ID))
		}
		as := attempts(t, svc, ep.ID, ev.ID)
		if len(as) != 5 {
			t.Fatalf("%d attempts logged, want 5", len(as))
		}
		byN := map[int]*notify.Attempt{}
		for _, a := range as {
			byN[a.Attempt] = a
		}
		if a := byN[1]; a.StatusCode != 500 || len(a.Response) != notify.ResponseLogLimit || a.Delivered {
			t.Errorf("attempt 1: %d, %d bytes logged", a.StatusCode, len(a.Response))
		}
		if a := byN[2]; a.StatusCode != 0 || a.Error == "" {
			t.Errorf("attempt 2 (dropped): %+v", a)
		}
		if a := byN[3]; a.StatusCode != 0 || !strings.Contains(a.Error, "timeout") {
			t.Errorf("attempt 3 (slow): %+v", a)
		}
		if a := byN[4]; a.StatusCode != 503 {
			t.Errorf("attempt 4: %+v", a)
		}
		if a := byN[5]; a.StatusCode != 204 || !a.Delivered || a.Latency <= 0 {
			t.Errorf("attempt 5: %+v", a)
		}
	})
}

// 410 Gone disables the endpoint; a redirect is a failure and is not
// followed; Retry-After pushes the next attempt back; an exhausted
// schedule fails the delivery.
func TestReceiverAnswers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		seed(t, db)
		cfg := testConfig()
		cfg.Formats = map[string]notify.Format{notify.FormatStandard: notify.Standard{Retries: fast[:2]}}
		svc, _ := start(t, db, cfg)

		gone := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(http.StatusGone) })
		epGone := endpoint(t, svc, gone.URL)
		elsewhere := newReceiver(t, nil)
		redirect := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
			http.Redirect(w, r, elsewhere.URL, http.StatusFound)
		})
		epRedirect := endpoint(t, svc, redirect.URL)
		busy := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusTooManyRequests)
		})
		epBusy := endpoint(t, svc, busy.URL)

		ev := event(t, db, kassa.EventPaymentCreated, "")
		waitStatus(t, db, ev.ID, epGone.ID, notify.StatusFailed)
		e, err := svc.Endpoint(context.Background(), pr, epGone.ID)
		if err != nil || e.Status != notify.EndpointDisabled {
			t.Fatalf("endpoint after 410: %+v, %v", e, err)
		}

		d := waitStatus(t, db, ev.ID, epRedirect.ID, notify.StatusFailed)
		if d.Attempts != 3 || d.LastStatus != http.StatusFound || elsewhere.distinct() != 0 {
			t.Fatalf("redirect: %d attempts, last status %d, followed %d times", d.Attempts, d.LastStatus, elsewhere.distinct())
		}

		waitFor(t, "the busy receiver's answer", 10*time.Second, func() bool { return len(attempts(t, svc, epBusy.ID, ev.ID)) == 1 })
		a := attempts(t, svc, epBusy.ID, ev.ID)[0]
		d = delivery(t, db, ev.ID, epBusy.ID)
		if d.Status != notify.StatusPending || d.NextAttempt.Before(a.Created.Add(3599*time.Second)) {
			t.Fatalf("Retry-After: 3600 ignored: next attempt %v after an attempt at %v", d.NextAttempt, a.Created)
		}

		ev2 := event(t, db, kassa.EventPaymentCreated, "")
		waitStatus(t, db, ev2.ID, epRedirect.ID, notify.StatusFailed)
		if gone.count(ev2.ID) != 0 {
			t.Fatalf("a disabled endpoint received a later event")
		}
		ds, _ := db.EventDeliveries(context.Background(), ev2.ID)
		if len(ds) != 2 {
			t.Fatalf("later event has %d deliveries, want 2 (not the disabled endpoint)", len(ds))
		}
	})
}

// Without AllowPrivate, loopback and private destinations are refused at
// registration and, on the resolved address, at delivery.
func TestPrivateDestinationsRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		seed(t, db)
		cfg := testConfig()
		cfg.Guard = notify.Guard{}
		cfg.Formats = map[string]notify.Format{notify.FormatStandard: notify.Standard{Retries: fast[:1]}}
		svc, _ := start(t, db, cfg)
		rc := newReceiver(t, nil)
		for _, u := range []string{rc.URL, "http://localhost:9/x", "http://10.1.2.3/x", "http://[::1]/x", "http://169.254.169.254/latest/meta-data"} {
			_, err := svc.CreateEndpoint(context.Background(), pr, notify.EndpointParams{URL: u})
			if kassa.ErrorCode(err) != "url_forbidden" {
				t.Errorf("CreateEndpoint(%s): %v, want url_forbidden", u, err)
			}
		}
		for _, u := range []string{"", "ftp://example.com/x", "/relative", "https://user:pw@example.com/"} {
			if _, err := svc.CreateEndpoint(context.Background(), pr, notify.EndpointParams{URL: u}); kassa.ErrorKind(err) != kassa.EINVALID {
				t.Errorf("CreateEndpoint(%q): %v, want invalid", u, err)
			}
		}
		if _, err := svc.CreateEndpoint(context.Background(), pr, notify.EndpointParams{URL: "https://example.com/x", Events: []string{"payment.exploded"}}); kassa.ErrorKind(err) != kassa.EINVALID {
			t.Errorf("unknown event type accepted: %v", err)
		}

		// A payment's notify_url is not checked at creation (the engine
		// takes any http(s) URL), so the dialer must refuse it. "localhost"
		// is a name: the check happens on the resolved address.
		pay := payment(t, db, strings.Replace(rc.URL, "127.0.0.1", "localhost", 1))
		ev := event(t, db, kassa.EventPaymentCreated, pay)
		d := waitStatus(t, db, ev.ID, "", notify.StatusFailed)
		if rc.count(ev.ID) != 0 || !strings.Contains(d.LastError, "destination refused") {
			t.Fatalf("loopback notify_url: %d requests arrived, last error %q", rc.count(ev.ID), d.LastError)
		}
	})
}

func TestGuardCheck(t *testing.T) {
	strict, open := notify.Guard{}, notify.Guard{AllowPrivate: true}
	for _, c := range []struct {
		ip             string
		strict, permit bool // allowed by the strict guard, by the permissive one
	}{
		{"93.184.216.34", true, true},
		{"2606:4700::1111", true, true},
		{"127.0.0.1", false, true},
		{"::1", false, true},
		{"10.0.0.5", false, true},
		{"172.16.3.4", false, true},
		{"192.168.1.1", false, true},
		{"fd12::1", false, true},
		{"169.254.10.10", false, true},
		{"fe80::1", false, true},
		{"0.0.0.0", false, true},
		{"::ffff:127.0.0.1", false, true},
		{"64:ff9b::a00:1", false, true}, // NAT64 of 10.0.0.1
		{"100.64.0.1", false, true},
		{"169.254.169.254", false, false}, // cloud metadata: never
		{"fd00:ec2::254", false, false},
		{"100.100.100.200", false, false},
	} {
		ip := mustAddr(t, c.ip)
		if got := strict.Check(ip) == nil; got != c.strict {
			t.Errorf("strict guard, %s: allowed %v, want %v", c.ip, got, c.strict)
		}
		if got := open.Check(ip) == nil; got != c.permit {
			t.Errorf("permissive guard, %s: allowed %v, want %v", c.ip, got, c.permit)
		}
	}
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestScheduleAndSecrets(t *testing.T) {
	var total time.Duration
	n := 1
	for {
		d, ok := notify.DefaultSchedule.Next(n)
		if !ok {
			break
		}
		total += d
		n++
	}
	if n != 8 || total != 5*time.Second+5*time.Minute+30*time.Minute+2*time.Hour+5*time.Hour+20*time.Hour {
		t.Fatalf("default schedule: %d attempts over %v", n, total)
	}
	s := notify.NewSecret()
	key, err := webhook.DecodeSecret(s)
	if err != nil || len(key) != 32 || !strings.HasPrefix(s, "whsec_") {
		t.Fatalf("secret %q: %d bytes, %v", s, len(key), err)
	}
	// Both secrets of a roll sign; the reference library accepts either.
	old := notify.NewSecret()
	h, err := notify.StandardSigner{}.Sign("evt_1", time.Now(), []byte(`{}`), []string{s, old})
	if err != nil {
		t.Fatal(err)
	}
	for _, sec := range []string{s, old} {
		ref, _ := standardwebhooks.NewWebhook(sec)
		if err := ref.Verify([]byte(`{}`), h); err != nil {
			t.Errorf("secret %d of the roll: %v", len(sec), err)
		}
	}
	v, _ := webhook.NewVerifier(s)
	v.Now = func() time.Time { return time.Now().Add(10 * time.Minute) }
	if err := v.Verify(h, []byte(`{}`)); err != webhook.ErrTimestamp {
		t.Errorf("stale timestamp: %v", err)
	}
	v.Now = time.Now
	if err := v.Verify(h, []byte(`{"x":1}`)); err != webhook.ErrSignature {
		t.Errorf("changed body: %v", err)
	}
}

// A restart in the middle of a backlog loses nothing: deliveries claimed by
// a process that died (and attempts abandoned at shutdown) come back when
// their lease ends, and every event arrives at least once.
func TestRestartMidBacklog(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		seed(t, db)
		ctx := context.Background()
		rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
			time.Sleep(2 * time.Millisecond)
		})
		cfg := testConfig()
		cfg.Lease = 2500 * time.Millisecond
		cfg.Timeout = 2 * time.Second
		cfg.ShutdownGrace = time.Millisecond
		svc, stopFirst := start(t, db, cfg)
		endpoint(t, svc, rc.URL)
		const n = 300
		var ids []string
		if err := db.Write(ctx, func(tx kassa.Tx) error {
			for i := 0; i < n; i++ {
				e := kassa.NewEvent(kassa.EventPaymentSucceeded, pr.MerchantID, false, "", map[string]int{"i": i}, time.Now())
				ids = append(ids, e.ID)
				if err := tx.InsertEvent(ctx, e); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		// A worker of a process that died holds 20 rows under lease.
		now := time.Now()
		dead, err := db.ClaimDeliveries(ctx, now, now.Add(cfg.Lease), 20)
		if err != nil || len(dead) != 20 {
			t.Fatalf("claim: %d, %v", len(dead), err)
		}
		// The first instance stops part-way, abandoning what it has in flight.
		waitFor(t, "part of the backlog", 20*time.Second, func() bool { return rc.distinct() >= 50 })
		stopFirst()

		start(t, db, cfg) // the restarted instance
		waitFor(t, "every event", 30*time.Second, func() bool { return rc.distinct() == n })
		waitFor(t, "every delivery recorded", 30*time.Second, func() bool {
			var pending int
			db.SQL().QueryRow(`SELECT COUNT(*) FROM webhook_deliveries WHERE status <> 'delivered'`).Scan(&pending)
			return pending == 0
		})
		for _, id := range ids {
			if rc.count(id) < 1 {
				t.Fatalf("event %s lost", id)
			}
		}
		for _, d := range dead {
			if got := delivery(t, db, d.EventID, d.EndpointID); got.Attempts < 2 {
				t.Fatalf("a delivery held by the dead worker was never retried: %+v", got)
			}
		}
	})
}
