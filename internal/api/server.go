// Package api is the merchant REST API under /v1: JSON in and out, secret-key
// authentication, Stripe-style errors and Idempotency-Key semantics. Handlers
// translate HTTP to engine calls and back; every rule about money lives in
// the engine.
package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
)

// Server serves the merchant API.
type Server struct {
	engine *engine.Engine
	log    *slog.Logger
	mux    *http.ServeMux
	routes []string
	notify *notifyService // webhooks.go; nil: webhook routes answer webhooks_unavailable
}

// OpenAPI is the OpenAPI 3.1 document of the API, served at /openapi.json.
//
//go:embed openapi.json
var OpenAPI []byte

// New returns the API server.
func New(e *engine.Engine, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{engine: e, log: log, mux: http.NewServeMux()}
	s.handle("GET /healthz", s.healthz)
	s.handle("GET /openapi.json", s.openapi)

	s.handle("POST /v1/payments", s.auth(s.idempotent(s.createPayment)))
	s.handle("GET /v1/payments", s.auth(s.listPayments))
	s.handle("GET /v1/payments/{id}", s.auth(s.getPayment))
	s.handle("POST /v1/payments/{id}/confirm", s.auth(s.idempotent(s.confirmPayment)))
	s.handle("POST /v1/payments/{id}/capture", s.auth(s.idempotent(s.capturePayment)))
	s.handle("POST /v1/payments/{id}/cancel", s.auth(s.idempotent(s.cancelPayment)))
	s.handle("GET /v1/payments/{id}/transactions", s.auth(s.listTransactions))
	s.handle("POST /v1/refunds", s.auth(s.idempotent(s.createRefund)))
	s.handle("GET /v1/refunds", s.auth(s.listRefunds))
	s.handle("GET /v1/refunds/{id}", s.auth(s.getRefund))
	s.handle("GET /v1/events", s.auth(s.listEvents))
	s.handle("GET /v1/events/{id}", s.auth(s.getEvent))
	s.handle("POST /v1/events/{id}/redeliver", s.auth(s.idempotent(s.redeliverEvent)))
	s.handle("GET /v1/events/{id}/deliveries", s.auth(s.listEventDeliveries))
	s.handle("POST /v1/webhook_endpoints", s.auth(s.idempotent(s.createWebhookEndpoint)))
	s.handle("GET /v1/webhook_endpoints", s.auth(s.listWebhookEndpoints))
	s.handle("GET /v1/webhook_endpoints/{id}", s.auth(s.getWebhookEndpoint))
	s.handle("DELETE /v1/webhook_endpoints/{id}", s.auth(s.deleteWebhookEndpoint))
	s.handle("POST /v1/webhook_endpoints/{id}/roll_secret", s.auth(s.idempotent(s.rollWebhookSecret)))
	s.handle("GET /v1/webhook_endpoints/{id}/deliveries", s.auth(s.listWebhookDeliveries))
	s.handle("GET /v1/notify_secret", s.auth(s.getNotifySecret))
	s.handle("POST /v1/notify_secret/roll", s.auth(s.idempotent(s.rollNotifySecret)))
	s.handle("GET /v1/merchant/settings", s.auth(s.getSettings))
	s.handle("POST /v1/merchant/settings", s.auth(s.idempotent(s.updateSettings)))
	s.handle("POST /v1/routes", s.auth(s.idempotent(s.createRoute)))
	s.handle("GET /v1/routes", s.auth(s.listRoutes))
	s.handle("GET /v1/orders", s.auth(s.listOrders))
	s.handle("GET /v1/orders/{id}", s.auth(s.getOrder))
	s.handle("POST /v1/orders/{id}/hold", s.auth(s.idempotent(s.orderAction(engine.ActionHold))))
	s.handle("POST /v1/orders/{id}/release", s.auth(s.idempotent(s.orderAction(engine.ActionRelease))))
	s.handle("POST /v1/orders/{id}/approve", s.auth(s.idempotent(s.orderAction(engine.ActionApprove))))
	s.handle("POST /v1/orders/{id}/return", s.auth(s.idempotent(s.orderAction(engine.ActionReturn))))
	s.handle("POST /v1/orders/{id}/delete", s.auth(s.idempotent(s.orderAction(engine.ActionDelete))))
	s.handle("POST /v1/shoplazza/bindings", s.auth(s.idempotent(s.bindShoplazza)))
	s.handle("GET /v1/shoplazza/bindings", s.auth(s.listShoplazzaBindings))
	s.mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, kassa.Errorf(kassa.ENOTFOUND, "route_not_found", "Unrecognized request URL (%s %s).", r.Method, r.URL.Path), nil)
	})
	return s
}

func (s *Server) handle(pattern string, h http.HandlerFunc) {
	s.routes = append(s.routes, pattern)
	s.mux.Handle(pattern, h)
}

// Routes returns the registered route patterns ("METHOD /path"), for the
// test that checks them against the OpenAPI document.
func (s *Server) Routes() []string { return append([]string(nil), s.routes...) }

// ServeHTTP serves the API with panic recovery and access logs. Card data
// never reaches the logs: only method, path, status and timing are logged.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw := &statusWriter{ResponseWriter: w}
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("panic", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			if rw.status == 0 {
				s.writeError(rw, r, errInternal, nil)
			}
		}
		s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", rw.status, "duration", time.Since(start))
	}()
	s.mux.ServeHTTP(rw, r)
}

var errInternal = &kassa.Error{Kind: kassa.EINTERNAL, Code: "internal_error", Message: "An internal error occurred."}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(OpenAPI)
}

type principalKey struct{}

func principal(ctx context.Context) kassa.Principal {
	return ctx.Value(principalKey{}).(kassa.Principal)
}

// auth requires a secret key: "Authorization: Bearer sk_…", or HTTP Basic
// with the key as user name (as curl -u sk_…: sends it).
func (s *Server) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := ""
		h := r.Header.Get("Authorization")
		switch {
		case strings.HasPrefix(h, "Bearer "):
			key = strings.TrimSpace(h[len("Bearer "):])
		case strings.HasPrefix(h, "Basic "):
			if raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(h[len("Basic "):])); err == nil {
				key, _, _ = strings.Cut(string(raw), ":")
			}
		}
		if key == "" {
			s.writeError(w, r, kassa.Errorf(kassa.EUNAUTHORIZED, "api_key_missing",
				"You did not provide an API key. Send it as 'Authorization: Bearer sk_…'."), nil)
			return
		}
		p, err := s.engine.Authenticate(r.Context(), key)
		if err != nil {
			s.writeError(w, r, err, nil)
			return
		}
		if p.KeyKind != kassa.KeySecret {
			s.writeError(w, r, kassa.Errorf(kassa.EUNAUTHORIZED, "secret_key_required",
				"This API call cannot be made with a publishable API key; use your secret key (sk_…)."), nil)
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	}
}

type bodyKey struct{}

// body returns the request body read by idempotent (or reads it).
func body(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if b, ok := r.Context().Value(bodyKey{}).([]byte); ok {
		return b, nil
	}
	return readBody(w, r)
}

// idempotent applies Idempotency-Key. The fingerprint covers method, path
// and the exact body, so any change of parameters is a different request.
// Responses are stored for 2xx, 402 (the card was tried) and 5xx (the
// outcome may be partial), as Stripe does; other 4xx changed nothing, so the
// key is released and a corrected retry may reuse it.
func (s *Server) idempotent(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := readBody(w, r)
		if err != nil {
			s.writeError(w, r, err, nil)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), bodyKey{}, b))
		key := r.Header.Get("Idempotency-Key")
		if key == "" {
			next(w, r)
			return
		}
		pr := principal(r.Context())
		h := sha256.New()
		h.Write([]byte(r.Method + " " + r.URL.Path + "\n"))
		h.Write(b)
		stored, err := s.engine.BeginIdempotent(r.Context(), pr, key, hex.EncodeToString(h.Sum(nil)))
		if err != nil {
			s.writeError(w, r, err, nil)
			return
		}
		if stored != nil {
			w.Header().Set("Idempotent-Replayed", "true")
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(stored.StatusCode)
			w.Write(stored.Response)
			return
		}
		rec := &recorder{header: http.Header{}}
		next(rec, r)
		keep := rec.status < 400 || rec.status == http.StatusPaymentRequired || rec.status >= 500
		code := rec.status
		if !keep {
			code = 0
		}
		if err := s.engine.FinishIdempotent(r.Context(), pr, key, code, rec.body.Bytes()); err != nil {
			s.log.Error("storing idempotent response", "err", err)
		}
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
		w.Write(rec.body.Bytes())
	}
}

// recorder buffers a response so it can be stored before it is sent.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
