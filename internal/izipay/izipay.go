// Package izipay makes Kassa a drop-in for integrations written against
// Izipay Web Core (specs/izipay-lyra-izi-exchange.md §A): a merchant points
// its API base URL and its script URL at Kassa and changes nothing else.
//
// It is a protocol adapter: it translates Izipay's wire shapes and calls
// the engine (engine.Izipay for credentials and tokens, the payment engine
// for payments); the shopper pays in Kassa's own checkout form, reused
// through kassa.js and its postMessage protocol.
//
// Routes (under the gateway's base URL, Izipay's paths):
//
//	POST /security/v1/Token/Generate   session token (merchant server, header transactionId)
//	GET  /payments/v1/js/index.js       the Izipay class
//	POST /payments/v1/form              LoadForm: checks config against the token, opens the payment (CORS)
//	POST /payments/v1/result            the signed result for callbackResponse (CORS)
//	GET  /payments/v1/redirect          redirect mode: POSTs the signed result to render.redirectUrls
//
// The IPN is a notify.Format ("izipay"); migration 00007 queues it in the
// outbox when a payment opened by LoadForm with a urlIPN reaches a final
// state (succeeded, authorized, canceled).
package izipay

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/checkout"
	"github.com/kassa-pay/kassa/internal/engine"
)

//go:embed assets/index.js
var indexJS []byte

// Handler serves the Izipay Web Core routes.
type Handler struct {
	z    *engine.Izipay
	eng  *engine.Engine
	log  *slog.Logger
	mux  *http.ServeMux
	base string
	ipn  IPNOptions
}

// New returns the handler over z.
func New(z *engine.Izipay, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	eng := z.Engine()
	h := &Handler{z: z, eng: eng, log: log, mux: http.NewServeMux(), base: strings.TrimRight(eng.Config().BaseURL, "/")}
	h.mux.HandleFunc("POST /security/v1/Token/Generate", h.tokenGenerate)
	h.mux.HandleFunc("OPTIONS /security/v1/Token/Generate", h.preflight)
	h.mux.HandleFunc("GET /payments/v1/js/index.js", h.script)
	h.mux.HandleFunc("POST /payments/v1/form", h.loadForm)
	h.mux.HandleFunc("OPTIONS /payments/v1/form", h.preflight)
	h.mux.HandleFunc("POST /payments/v1/result", h.result)
	h.mux.HandleFunc("OPTIONS /payments/v1/result", h.preflight)
	h.mux.HandleFunc("GET /payments/v1/redirect", h.redirect)
	return h
}

// Register mounts the Izipay paths on mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle("/security/v1/", h)
	mux.Handle("/payments/v1/", h)
}

// ServeHTTP serves the Izipay routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// AuthorizeEmbedding is checkout.Config.AuthorizeEmbedding: the form of a
// payment opened by LoadForm may be embedded by the page origin that called
// LoadForm with the token, and only by it.
func (h *Handler) AuthorizeEmbedding(ctx context.Context, p *kassa.Payment, origin string) bool {
	s, err := h.z.IzipaySessionByPayment(ctx, p.ID)
	if err != nil {
		return false
	}
	return s.Origin != "" && s.Origin == origin && (s.TypeForm == typeEmbedded || s.TypeForm == typePopup)
}

// FrameAncestors is (part of) checkout.Config.FrameAncestors: the page
// that opened an embedded or pop-up form by LoadForm frames that form's 3-D
// Secure step too (and may frame its hosted page, which it may embed
// anyway). Redirect-mode forms are framed by no one.
func (h *Handler) FrameAncestors(ctx context.Context, p *kassa.Payment) []string {
	if p.ReturnURL != h.base+"/payments/v1/redirect" {
		return nil // not opened by LoadForm: no lookup
	}
	s, err := h.z.IzipaySessionByPayment(ctx, p.ID)
	if err != nil || s.Origin == "" || (s.TypeForm != typeEmbedded && s.TypeForm != typePopup) {
		return nil
	}
	return []string{s.Origin}
}

// Branding is checkout.Config.Branding: the form of a payment opened by
// LoadForm shows the logo and colour its config.appearance asked for
// (appearance.logo, appearance.theme, customize.visibility.hideLogo),
// stored with the session; the checkout checks them as it checks a
// merchant's settings. Other payments keep the merchant's settings.
func (h *Handler) Branding(ctx context.Context, p *kassa.Payment) *checkout.Branding {
	if p.ReturnURL != h.base+"/payments/v1/redirect" {
		return nil // not opened by LoadForm: no lookup
	}
	s, err := h.z.IzipaySessionByPayment(ctx, p.ID)
	if err != nil || s.Extra == "" {
		return nil
	}
	var ex extra
	if err := json.Unmarshal([]byte(s.Extra), &ex); err != nil || ex.Appearance == nil {
		return nil
	}
	a := ex.Appearance
	return &checkout.Branding{LogoURL: a.Logo, AccentColor: a.Accent, HideLogo: a.HideLogo}
}

func (h *Handler) script(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cross-Origin-Resource-Policy", "cross-origin")
	w.Write(indexJS)
}

// cors lets merchant pages call LoadForm's endpoints. The session token in
// the body is the credential (no cookies), so any origin may ask; the
// origin that opens a form is bound to its session.
func cors(w http.ResponseWriter, r *http.Request) {
	if o := r.Header.Get("Origin"); o != "" {
		w.Header().Set("Access-Control-Allow-Origin", o)
		w.Header().Add("Vary", "Origin")
	}
}

func (h *Handler) preflight(w http.ResponseWriter, r *http.Request) {
	cors(w, r)
	w.Header().Set("Access-Control-Allow-Methods", "POST")
	w.Header().Set("Access-Control-Allow-Headers", "Content-Type, transactionId, Authorization")
	w.Header().Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

const maxBody = 64 << 10

// readJSON decodes a JSON body into v.
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "" && mt != "application/json" {
		return errors.New("Content-Type must be application/json")
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return errors.New("the body is too large or could not be read")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errors.New("the body is not valid JSON: " + err.Error())
	}
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(b)
}

// flexString takes a JSON string or number: integrations build ids such as
// transactionId with Date.now() and send them either way.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	if string(b) == "null" {
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return errors.New("expected a string or a number")
	}
	*f = flexString(n.String())
	return nil
}
