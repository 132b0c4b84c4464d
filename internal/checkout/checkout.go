// Package checkout is the shopper's side of a payment: the JavaScript a
// merchant page loads (kassa.js), the payment form the gateway serves
// (embedded in an iframe, in a pop-up overlay, or as a hosted page the
// shopper is redirected to), the 3-D Secure challenge step inside that form,
// and the signed result handed back to the merchant's page.
//
// Card data travels only between the shopper's browser and this package's
// endpoints on the gateway's origin; the merchant page never sees it. Every
// form page is sent with a Content-Security-Policy that allows no inline
// script, frame-ancestors limited to the merchant's allowed origins (or to
// the origins a protocol adapter vouches for: Config's hooks), a
// no-referrer policy (the client secret is in the URL) and no caching.
//
// Routes (all under the gateway's base URL):
//
//	GET  /js/v1/kassa.js        the merchant's SDK
//	GET  /pay/{client_secret}    the form; ?mode=embedded|popup (with origin and pk) or the hosted page
//	GET  /pay/assets/{file}      the form's script and stylesheet
//	GET  /pay/3ds/{payment_id}   where the issuer's 3-D Secure page returns the shopper
//	POST /checkout/v1/confirm    the form submits the card
//	POST /checkout/v1/status     the form asks for the outcome after 3-D Secure
//	POST /checkout/v1/cancel     the shopper abandons (pop-up closed, cancel link)
//	GET  /checkout/v1/return     redirect mode: 303 to return_url or cancel_url, signed
package checkout

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
)

//go:embed assets templates
var files embed.FS

var templates = template.Must(template.ParseFS(files, "templates/*.html"))

// Config tunes the checkout. Zero values take the defaults shown.
type Config struct {
	// ClientSecretTTL is how long after a payment's creation its client
	// secret opens the form (default: the engine's Config.ClientSecretTTL).
	ClientSecretTTL time.Duration
	// AuthorizeEmbedding, if set, lets a protocol adapter vouch for the page
	// at origin that embeds the form of payment p, because the adapter bound
	// that origin to the payment under its own credentials (an Izipay
	// session token from the merchant's server). When it answers true, the
	// form needs neither the origin in the merchant's allowed origins nor a
	// publishable key: an Izipay integration has neither.
	AuthorizeEmbedding func(ctx context.Context, p *kassa.Payment, origin string) bool
	// FrameAncestors, if set, lets a protocol adapter vouch for the web
	// origins that may frame the hosted page (redirect mode, no publishable
	// key) of payment p, because the protocol it speaks shows that page in
	// an iframe of the platform's own checkout (the Shoplazza iframe model:
	// the shop's domains, given in the signed payment request). The origins
	// also frame the 3-D Secure return page of p, which runs in a frame of
	// the form: an adapter whose embedding page is bound by
	// AuthorizeEmbedding (Izipay) names that page here too, or its 3-D
	// Secure step is blocked. It answers nil for payments that are not its
	// own; the hosted page of those is never framed. Each origin must be a
	// plain scheme://host[:port]; anything else is dropped. Several
	// adapters combine with JoinFrameAncestors.
	FrameAncestors FrameAncestorsFunc
	// Branding, if set, lets a protocol adapter give payment p's form
	// another look than the merchant's settings, from what the merchant's
	// integration asked for that payment (the Izipay config's appearance).
	// nil keeps the settings.
	Branding func(ctx context.Context, p *kassa.Payment) *Branding
}

// FrameAncestorsFunc is the type of Config.FrameAncestors.
type FrameAncestorsFunc func(ctx context.Context, p *kassa.Payment) []string

// JoinFrameAncestors returns a FrameAncestorsFunc answering every origin
// any of fs vouches for (nil ones are skipped), or nil if none is set.
func JoinFrameAncestors(fs ...FrameAncestorsFunc) FrameAncestorsFunc {
	var set []FrameAncestorsFunc
	for _, f := range fs {
		if f != nil {
			set = append(set, f)
		}
	}
	switch len(set) {
	case 0:
		return nil
	case 1:
		return set[0]
	}
	return func(ctx context.Context, p *kassa.Payment) []string {
		var out []string
		for _, f := range set {
			out = append(out, f(ctx, p)...)
		}
		return out
	}
}

// Branding is one payment's look, overriding the merchant's settings
// field by field: an empty field keeps the merchant's own. Each value is
// checked as the settings check it (an absolute https logo URL, http only
// for a loopback host; a "#rgb"/"#rrggbb" colour): an invalid one is
// ignored, logged, and the merchant's own is kept.
type Branding struct {
	LogoURL     string
	HideLogo    bool // no logo, whatever the settings say
	AccentColor string
}

// Handler serves the checkout. It is safe for concurrent use.
type Handler struct {
	eng  *engine.Engine
	cfg  Config
	log  *slog.Logger
	mux  *http.ServeMux
	base string // the gateway's public base URL, no trailing slash
}

// New returns the checkout handler over eng; links use eng's BaseURL.
func New(eng *engine.Engine, cfg Config, log *slog.Logger) *Handler {
	if cfg.ClientSecretTTL <= 0 {
		cfg.ClientSecretTTL = eng.Config().ClientSecretTTL
	}
	if log == nil {
		log = slog.Default()
	}
	h := &Handler{eng: eng, cfg: cfg, log: log, mux: http.NewServeMux(), base: strings.TrimRight(eng.Config().BaseURL, "/")}
	h.mux.HandleFunc("GET /js/v1/kassa.js", h.asset("assets/kassa.js"))
	h.mux.HandleFunc("GET /pay/assets/{file}", h.formAsset)
	h.mux.HandleFunc("GET /pay/{secret}", h.form)
	h.mux.HandleFunc("GET /pay/3ds/{id}", h.threeDSReturn)
	// The form's JSON endpoints are same-origin only: CrossOriginProtection
	// refuses cross-site POSTs (Sec-Fetch-Site, else Origin vs Host), so no
	// other page can drive a shopper's checkout.
	cop := http.NewCrossOriginProtection()
	h.mux.Handle("POST /checkout/v1/confirm", cop.Handler(http.HandlerFunc(h.confirm)))
	h.mux.Handle("POST /checkout/v1/status", cop.Handler(http.HandlerFunc(h.status)))
	h.mux.Handle("POST /checkout/v1/cancel", cop.Handler(http.HandlerFunc(h.cancel)))
	h.mux.HandleFunc("GET /checkout/v1/return", h.returnToMerchant)
	return h
}

// Register mounts the checkout's paths on mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle("/js/", h)
	mux.Handle("/pay/", h)
	mux.Handle("/checkout/", h)
}

// ServeHTTP serves the checkout routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// asset serves one embedded static file. kassa.js is cached briefly so that
// fixes reach merchants' pages quickly; it is public and holds no secret.
func (h *Handler) asset(name string) http.HandlerFunc {
	b, err := fs.ReadFile(files, name)
	if err != nil {
		panic(err)
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cross-Origin-Resource-Policy", "cross-origin")
		w.Write(b)
	}
}

var formAssets = map[string]bool{"form.js": true, "form.css": true, "threeds.js": true}

func (h *Handler) formAsset(w http.ResponseWriter, r *http.Request) {
	f := r.PathValue("file")
	if !formAssets[f] {
		http.NotFound(w, r)
		return
	}
	h.asset("assets/"+f)(w, r)
}

// pagePolicy is the Content-Security-Policy of a form page. frameAncestors
// is the space-separated list of sources that may embed it, or "" for none
// (the hosted page); imgOrigin is the merchant logo's origin, if any.
func pagePolicy(nonce, frameAncestors, imgOrigin string) string {
	img := "'self' data:"
	if imgOrigin != "" {
		img += " " + imgOrigin
	}
	fa := "'none'"
	if frameAncestors != "" {
		fa = frameAncestors
	}
	return "default-src 'none'; script-src 'self'; style-src 'self' 'nonce-" + nonce + "'; img-src " + img +
		"; connect-src 'self'; frame-src 'self' https:; form-action 'self'; base-uri 'none'; frame-ancestors " + fa
}

// pageHeaders sets the headers every form page carries.
func pageHeaders(w http.ResponseWriter, csp string) {
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", csp)
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
}

func newNonce() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// vouchedAncestors are the origins a protocol adapter vouches for as
// ancestors of p's hosted and 3-D Secure pages (Config.FrameAncestors),
// normalized; the CSP header is built from them, so nothing but an origin
// passes.
func (h *Handler) vouchedAncestors(ctx context.Context, p *kassa.Payment) []string {
	if h.cfg.FrameAncestors == nil {
		return nil
	}
	var out []string
	for _, o := range h.cfg.FrameAncestors(ctx, p) {
		n, err := kassa.NormalizeOrigin("origin", o)
		if err != nil || n != o {
			h.log.Warn("checkout: frame ancestor refused", "payment", p.ID, "origin", o)
			continue
		}
		out = append(out, n)
	}
	return out
}

// maxLogoURL is the longest logo URL, as for the merchant's settings.
const maxLogoURL = 2048

// validLogoURL checks a logo URL as the merchant's settings do (engine's
// SettingsUpdate): absolute, https (http only for a loopback host), no user
// information, at most maxLogoURL characters.
func validLogoURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || len(s) > maxLogoURL {
		return false
	}
	if u.Scheme == "https" {
		return true
	}
	host := u.Hostname()
	return u.Scheme == "http" && (host == "localhost" || host == "127.0.0.1" || host == "::1" || strings.HasSuffix(host, ".localhost"))
}

// branding is the logo and accent colour of p's form: the merchant's
// settings, unless an adapter gives valid ones for p (Config.Branding).
func (h *Handler) branding(ctx context.Context, p *kassa.Payment, st *kassa.MerchantSettings) (logo, accent string) {
	logo, accent = st.LogoURL, st.AccentColor
	if h.cfg.Branding == nil {
		return logo, accent
	}
	b := h.cfg.Branding(ctx, p)
	if b == nil {
		return logo, accent
	}
	switch {
	case b.HideLogo:
		logo = ""
	case b.LogoURL == "":
	case validLogoURL(b.LogoURL):
		logo = b.LogoURL
	default:
		h.log.Info("checkout: branding logo URL refused", "payment", p.ID)
	}
	switch {
	case b.AccentColor == "":
	case kassa.ValidAccentColor(b.AccentColor):
		accent = strings.ToLower(b.AccentColor)
	default:
		h.log.Info("checkout: branding colour refused", "payment", p.ID)
	}
	return logo, accent
}

// originOf returns the origin of an absolute URL, "" if it has none.
func originOf(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Scheme == "" || p.Host == "" {
		return ""
	}
	return p.Scheme + "://" + p.Host
}
