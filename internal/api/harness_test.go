package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/api"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/processor"
	"github.com/kassa-pay/kassa/internal/store"
)

// env is one gateway on a real loopback HTTP server: the merchant API, the
// simulator's 3-D Secure pages at /simulator/, an engine on a real database
// and a processor wrapper that can hold charges (gatedProcessor). Every
// exchange of its clients with the API is checked against the OpenAPI
// document (see specTransport).
type env struct {
	t      *testing.T
	srv    *httptest.Server
	eng    *engine.Engine
	api    *api.Server
	gate   *gatedProcessor
	spec   *spec
	offset atomic.Int64 // nanoseconds added to the engine's clock
	client *http.Client
}

// newEnv builds an env on db. extra handlers are mounted on the same server
// before the API's catch-all (e.g. the checkout pages at /pay/).
func newEnv(t *testing.T, db *store.DB) *env {
	t.Helper()
	e := &env{t: t, spec: loadSpec(t)}
	var handler http.Handler
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(e.srv.Close)

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sim := processor.NewSimulator(db.SQL(), e.srv.URL)
	e.gate = &gatedProcessor{Processor: sim}
	e.eng = engine.New(db, e.gate, engine.Config{BaseURL: e.srv.URL, Now: func() time.Time {
		return time.Now().Add(time.Duration(e.offset.Load()))
	}}, log)
	e.api = api.New(e.eng, log)

	mux := http.NewServeMux()
	mux.Handle("/simulator/", sim.Handler())
	mountBrowserRoutes(t, mux, e.eng, e.srv.URL, log)
	mux.Handle("/", e.api)
	handler = mux

	e.client = &http.Client{Transport: &specTransport{base: http.DefaultTransport, spec: e.spec, t: t}, Timeout: 30 * time.Second}
	return e
}

// advance moves the engine's clock forward.
func (e *env) advance(d time.Duration) { e.offset.Add(int64(d)) }

// merchant is one merchant's view of the API, authenticated with its secret key.
type merchant struct {
	e      *env
	id     string
	sk, pk string
}

func (e *env) newMerchant(name string) *merchant {
	e.t.Helper()
	c, err := e.eng.CreateMerchant(context.Background(), name, "")
	if err != nil {
		e.t.Fatalf("create merchant: %v", err)
	}
	return &merchant{e: e, id: c.Merchant.ID, sk: c.SecretKey, pk: c.PublishableKey}
}

// reply is an HTTP answer.
type reply struct {
	method, path string
	status       int
	header       http.Header
	body         []byte
}

func (r *reply) String() string {
	return fmt.Sprintf("%s %s → %d %s", r.method, r.path, r.status, bytes.TrimSpace(r.body))
}

// decode unmarshals the body into v, failing the test if it is not JSON of that shape.
func (r *reply) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("%s: decoding %T: %v", r, v, err)
	}
}

// want fails the test unless the status is code.
func (r *reply) want(t testing.TB, code int) *reply {
	t.Helper()
	if r.status != code {
		t.Fatalf("%s: want status %d", r, code)
	}
	return r
}

func (r *reply) payment(t testing.TB) kassa.PaymentObject {
	t.Helper()
	var p kassa.PaymentObject
	r.decode(t, &p)
	return p
}

// apiError is the error envelope as a client reads it.
type apiError struct {
	Error struct {
		Type        string               `json:"type"`
		Code        string               `json:"code"`
		Message     string               `json:"message"`
		Param       string               `json:"param"`
		DeclineCode string               `json:"decline_code"`
		Payment     *kassa.PaymentObject `json:"payment"`
	} `json:"error"`
	Refund *kassa.RefundObject `json:"refund"`
}

// wantError fails the test unless the answer is the error envelope with
// this status, type, code and param (param "" means absent).
func (r *reply) wantError(t testing.TB, status int, typ, code, param string) apiError {
	t.Helper()
	var e apiError
	if r.status != status {
		t.Fatalf("%s: want status %d", r, status)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q, want application/json", r, ct)
	}
	r.decode(t, &e)
	if e.Error.Type != typ || e.Error.Code != code || e.Error.Param != param {
		t.Fatalf("%s: want error type=%s code=%s param=%q", r, typ, code, param)
	}
	if e.Error.Message == "" {
		t.Errorf("%s: error without message", r)
	}
	return e
}

// request describes one call.
type request struct {
	method, path string
	body         any // nil, a string or []byte sent as is, or a value sent as JSON
	header       map[string]string
	auth         string // "" = Bearer secret key; "none"; "basic"; or a raw Authorization value
	notInSpec    bool   // the route is deliberately not in the OpenAPI document (unknown routes)
}

func (m *merchant) do(t testing.TB, rq request) *reply {
	t.Helper()
	r, err := m.send(rq)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// send is do for goroutines other than the test's: it returns errors
// instead of failing the test.
func (m *merchant) send(rq request) (*reply, error) {
	var body io.Reader
	switch b := rq.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(j)
	}
	ctx := context.Background()
	if rq.notInSpec {
		ctx = context.WithValue(ctx, notInSpecKey{}, true)
	}
	req, err := http.NewRequestWithContext(ctx, rq.method, m.e.srv.URL+rq.path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	switch rq.auth {
	case "":
		req.Header.Set("Authorization", "Bearer "+m.sk)
	case "none":
	case "basic":
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(m.sk+":")))
	default:
		req.Header.Set("Authorization", rq.auth)
	}
	for k, v := range rq.header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	res, err := m.e.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", rq.method, rq.path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading body: %w", rq.method, rq.path, err)
	}
	return &reply{method: rq.method, path: rq.path, status: res.StatusCode, header: res.Header, body: b}, nil
}

func (m *merchant) get(t testing.TB, path string) *reply {
	t.Helper()
	return m.do(t, request{method: "GET", path: path})
}

func (m *merchant) post(t testing.TB, path string, body any) *reply {
	t.Helper()
	return m.do(t, request{method: "POST", path: path, body: body})
}

// Request bodies, as a merchant's code would write them.
type obj = map[string]any

func card(number string) obj {
	return obj{"card": obj{"number": number, "exp_month": 12, "exp_year": time.Now().Year() + 3, "cvc": "123"}}
}

const visa = "4242424242424242"

// gatedProcessor passes calls to the simulator, except charges whose
// description is holdDescription: those wait until release is closed, so a
// test can observe a request while its processor call is in flight.
type gatedProcessor struct {
	processor.Processor
	mu      sync.Mutex
	entered chan struct{} // receives one value per held charge
	release chan struct{}
}

const holdDescription = "hold at the processor"

// hold arms the gate and returns the channel of held calls and the release func.
func (g *gatedProcessor) hold() (entered <-chan struct{}, release func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.entered, g.release = make(chan struct{}, 16), make(chan struct{})
	rel := g.release
	var once sync.Once
	return g.entered, func() { once.Do(func() { close(rel) }) }
}

func (g *gatedProcessor) wait(ctx context.Context, req processor.Request) error {
	if req.Description != holdDescription {
		return nil
	}
	g.mu.Lock()
	entered, release := g.entered, g.release
	g.mu.Unlock()
	if release == nil {
		return nil
	}
	entered <- struct{}{}
	select {
	case <-release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gatedProcessor) Sale(ctx context.Context, req processor.Request) (processor.Response, error) {
	if err := g.wait(ctx, req); err != nil {
		return processor.Response{}, err
	}
	return g.Processor.Sale(ctx, req)
}

func (g *gatedProcessor) Authorize(ctx context.Context, req processor.Request) (processor.Response, error) {
	if err := g.wait(ctx, req); err != nil {
		return processor.Response{}, err
	}
	return g.Processor.Authorize(ctx, req)
}
