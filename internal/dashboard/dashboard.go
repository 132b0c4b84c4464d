// Package dashboard is the merchant's personal account: the web UI where a
// merchant's staff log in and run their payments. It is server-rendered
// HTML (html/template, embedded templates and stylesheet, no script at all),
// so it needs no build step and works with the keyboard and without
// JavaScript.
//
// Every page acts for the logged-in user's merchant in the session's mode
// (test or live) through engine.Session.Principal, the same principal an
// API key resolves to, and every action calls the same engine method as the
// REST API (CapturePayment, CancelPayment, CreateRefund, …), so the
// dashboard can do nothing the API could not.
//
// Security: session cookies are HttpOnly, SameSite=Lax, and Secure with the
// __Host- prefix when the gateway is served over TLS: when its base URL is
// https (the operator's statement that a TLS-terminating proxy is in front)
// or the request itself arrived over TLS. X-Forwarded-Proto is never read:
// any client can send it, and the base URL already says what the proxy
// does. Every state-changing request passes http.CrossOriginProtection
// (Sec-Fetch-Site / Origin, with the base URL's origin trusted, so a proxy
// that rewrites Host does not break old browsers' logins) and must carry
// the session's CSRF token; the login form carries a
// double-submit token. Viewers can read but never change anything, and
// never see secrets. Pages are sent with a CSP that allows no script and no
// framing, and with Cache-Control: no-store.
//
// Routes live under /dashboard/. Other packages add navigation sections and
// settings panels with AddSection and AddSettingsPanel (see extend.go).
package dashboard

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/notify"
)

//go:embed templates static
var files embed.FS

// Prefix is where the dashboard is mounted.
const Prefix = "/dashboard/"

// Config tunes the dashboard.
type Config struct {
	// Notify manages webhook endpoints and the delivery log; without it
	// the webhook pages say that delivery is not configured.
	Notify *notify.Service
	// Shoplazza manages Shoplazza shop bindings on the settings page; nil
	// uses the engine's (engine.Shoplazza), and without either the panel
	// says the app is not enabled.
	Shoplazza *engine.Shoplazza
	// Izipay manages the merchant's Izipay Web Core credentials; without it
	// the panel says Izipay is not enabled.
	Izipay *engine.Izipay
	// SecureCookies marks cookies Secure (with the __Host- prefix) on every
	// request. The default is true when the engine's BaseURL is https;
	// false leaves it to each request (Secure only over TLS).
	SecureCookies *bool
}

// Handler serves the dashboard. Add extensions before serving.
type Handler struct {
	eng      *engine.Engine
	notify   *notify.Service
	shop     *engine.Shoplazza
	izipay   *engine.Izipay
	log      *slog.Logger
	mux      *http.ServeMux
	cop      *http.CrossOriginProtection
	secure   bool
	pages    map[string]*template.Template
	sections []Section
	panels   []SettingsPanel
}

// New returns the dashboard over eng.
func New(eng *engine.Engine, cfg Config, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	secure := strings.HasPrefix(eng.Config().BaseURL, "https://")
	if cfg.SecureCookies != nil {
		secure = *cfg.SecureCookies
	}
	h := &Handler{eng: eng, notify: cfg.Notify, shop: cfg.Shoplazza, izipay: cfg.Izipay, log: log, mux: http.NewServeMux(), cop: http.NewCrossOriginProtection(),
		secure: secure, pages: parsePages()}
	if u, err := url.Parse(eng.Config().BaseURL); err == nil && u.Scheme != "" && u.Host != "" {
		// Our own public origin, as the browser sees it behind a proxy.
		h.cop.AddTrustedOrigin(u.Scheme + "://" + u.Host)
	}
	h.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, http.StatusForbidden, "This request came from another site and was refused.")
	}))
	h.routes()
	return h
}

// Register mounts the dashboard on mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle(Prefix, h)
	mux.Handle("GET /dashboard", http.RedirectHandler(Prefix, http.StatusMovedPermanently))
}

// ServeHTTP serves the dashboard's routes with its security headers.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("X-Frame-Options", "DENY")
	if !strings.HasPrefix(r.URL.Path, Prefix+"assets/") {
		hd.Set("Cache-Control", "no-store")
	}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.log.Error("dashboard panic", "path", r.URL.Path, "panic", v)
			h.fail(w, r, http.StatusInternalServerError, "An internal error occurred.")
		}
	}()
	h.cop.Handler(h.mux).ServeHTTP(w, r)
}

// route registers an authenticated page. write marks routes that change
// something: only admins reach them.
func (h *Handler) route(pattern string, write bool, fn func(w http.ResponseWriter, r *http.Request, s *engine.Session)) {
	h.mux.Handle(pattern, h.authed(write, fn))
}

func (h *Handler) routes() {
	h.mux.HandleFunc("GET "+Prefix+"assets/{file}", h.asset)
	h.mux.HandleFunc("GET "+Prefix+"login", h.loginPage)
	h.mux.HandleFunc("POST "+Prefix+"login", h.login)
	h.mux.HandleFunc("GET "+Prefix+"invite/{token}", h.invitePage)
	h.mux.HandleFunc("POST "+Prefix+"invite/{token}", h.acceptInvite)
	h.route("POST "+Prefix+"logout", false, h.logout)
	h.route("POST "+Prefix+"mode", false, h.switchMode)

	h.route("GET "+Prefix+"{$}", false, h.overview)
	h.route("GET "+Prefix+"payments", false, h.paymentList)
	h.route("GET "+Prefix+"payments/{id}", false, h.paymentPage)
	h.route("POST "+Prefix+"payments/{id}/capture", true, h.capture)
	h.route("POST "+Prefix+"payments/{id}/cancel", true, h.cancel)
	h.route("POST "+Prefix+"payments/{id}/refund", true, h.refund)
	h.route("GET "+Prefix+"refunds", false, h.refundList)
	h.route("GET "+Prefix+"orders", false, h.orderList)
	h.route("GET "+Prefix+"orders/{id}", false, h.orderPage)
	h.route("POST "+Prefix+"orders/{id}/{action}", true, h.orderAct)

	h.route("GET "+Prefix+"webhooks", false, h.webhookList)
	h.route("POST "+Prefix+"webhooks", true, h.webhookCreate)
	h.route("GET "+Prefix+"webhooks/{id}", false, h.webhookPage)
	h.route("POST "+Prefix+"webhooks/{id}/roll", true, h.webhookRoll)
	h.route("POST "+Prefix+"webhooks/{id}/delete", true, h.webhookDelete)
	h.route("POST "+Prefix+"events/{id}/redeliver", true, h.redeliver)

	h.route("GET "+Prefix+"keys", false, h.keysPage)
	h.route("POST "+Prefix+"keys/roll", true, h.rollKey)
	h.route("GET "+Prefix+"settings", false, h.settingsPage)
	h.route("POST "+Prefix+"settings", true, h.saveSettings)
	h.route("POST "+Prefix+"settings/shoplazza", true, h.bindShop)
	h.route("POST "+Prefix+"settings/izipay", true, h.izipayCredentials)
	h.route("GET "+Prefix+"team", false, h.teamPage)
	h.route("POST "+Prefix+"team/invite", true, h.invite)
	h.route("POST "+Prefix+"team/{id}/remove", true, h.removeUser)

	h.mux.Handle(Prefix+"x/{section}/", h.authed(false, h.serveSection))
	h.mux.Handle(Prefix+"x/{section}", h.authed(false, h.serveSection))
	// Unknown pages: behind the login like every page, so a logged-in user
	// keeps the navigation and nobody learns which paths exist.
	h.mux.Handle(Prefix, h.authed(false, func(w http.ResponseWriter, r *http.Request, _ *engine.Session) {
		h.fail(w, r, http.StatusNotFound, "There is no such page.")
	}))
}

// ---- sessions and cookies

type ctxKey struct{}

// SessionFrom returns the dashboard session of a request (for extension
// handlers), or nil outside the dashboard.
func SessionFrom(ctx context.Context) *engine.Session {
	s, _ := ctx.Value(ctxKey{}).(*engine.Session)
	return s
}

// secureFor reports whether r's cookies are Secure: always when the
// gateway's public URL is https, else when r itself came over TLS.
func (h *Handler) secureFor(r *http.Request) bool { return h.secure || r.TLS != nil }

// cookieName gives Secure cookies the __Host- prefix, which the browser
// accepts only from a secure origin, with Path=/ and no Domain: a sibling
// subdomain or a plain-HTTP page cannot plant or overwrite them.
func (h *Handler) cookieName(r *http.Request, base string) string {
	if h.secureFor(r) {
		return "__Host-" + base
	}
	return base
}

func (h *Handler) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	c := &http.Cookie{Name: h.cookieName(r, name), Value: value, Path: "/", HttpOnly: true, Secure: h.secureFor(r),
		SameSite: http.SameSiteLaxMode}
	if maxAge > 0 {
		c.MaxAge = int(maxAge.Seconds())
	} else {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

const sessionCookie = "kassa_session"

// maxForm bounds a form body.
const maxForm = 64 << 10

// authed resolves the session, then for POST requests checks the CSRF token
// and, for write routes (and every POST of an extension section), the role.
func (h *Handler) authed(write bool, fn func(w http.ResponseWriter, r *http.Request, s *engine.Session)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var s *engine.Session
		if c, err := r.Cookie(h.cookieName(r, sessionCookie)); err == nil {
			s, err = h.eng.SessionByToken(r.Context(), c.Value)
			if err != nil && kassa.ErrorKind(err) != kassa.EUNAUTHORIZED {
				h.serverError(w, r, err)
				return
			}
		}
		if s == nil {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, Prefix+"login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			h.fail(w, r, http.StatusUnauthorized, "Your session has ended. Please log in again.")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if err := r.ParseForm(); err != nil {
				h.fail(w, r, http.StatusBadRequest, "The form could not be read.")
				return
			}
			if !s.CheckCSRF(r.PostForm.Get("csrf")) {
				h.fail(w, r, http.StatusForbidden, "The form's security token is missing or out of date. Reload the page and try again.")
				return
			}
			if (write || r.PathValue("section") != "") && !s.User.CanWrite() {
				h.fail(w, r, http.StatusForbidden, "Your role (viewer) can look but not change anything.")
				return
			}
		}
		fn(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, s)), s)
	})
}

// ---- rendering

var funcs = template.FuncMap{
	"money": func(amount int64, currency string) string {
		return kassa.FormatAmount(amount, currency) + " " + currency
	},
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"date":         func(t time.Time) string { return t.UTC().Format("2006-01-02") },
	"percent":      func(f float64) string { return fmt.Sprintf("%.1f%%", f*100) },
	"title":        func(s string) string { return strings.ReplaceAll(s, "_", " ") },
	"refundStatus": func(s kassa.TxnStatus) string { return kassa.RefundStatus(s) },
}

func parsePages() map[string]*template.Template {
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html"))
	entries, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		panic(err)
	}
	pages := map[string]*template.Template{}
	for _, e := range entries {
		name := strings.TrimSuffix(strings.TrimPrefix(e, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		pages[name] = template.Must(template.Must(base.Clone()).ParseFS(files, e))
	}
	return pages
}

// view is what every page template gets.
type view struct {
	Title     string
	Nav       string
	Session   *engine.Session
	Sections  []Section
	Notice    string
	Error     string
	Data      any
	Content   template.HTML // extension pages
	Bare      bool          // login and invitation pages: no navigation
	LoginCSRF string
}

// CSRF is the session's token for forms.
func (v *view) CSRF() string {
	if v.Session == nil {
		return ""
	}
	return v.Session.CSRFToken
}

// Admin reports whether the viewer may change things.
func (v *view) Admin() bool { return v.Session != nil && v.Session.User.CanWrite() }

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, page string, v *view) {
	if v.Session == nil {
		v.Session = SessionFrom(r.Context())
	}
	v.Sections = h.sections
	t := h.pages[page]
	if t == nil {
		panic("dashboard: no template " + page)
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout.html", v); err != nil {
		h.serverError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write([]byte(b.String()))
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h.render(w, r, status, "error", &view{Title: http.StatusText(status), Error: msg, Bare: SessionFrom(r.Context()) == nil})
}

func (h *Handler) serverError(w http.ResponseWriter, r *http.Request, err error) {
	h.log.Error("dashboard", "path", r.URL.Path, "error", err)
	h.render(w, r, http.StatusInternalServerError, "error", &view{Title: "Error", Error: "An internal error occurred.",
		Bare: SessionFrom(r.Context()) == nil})
}

// statusOf maps an engine error kind to the page's HTTP status.
func statusOf(err error) int {
	switch kassa.ErrorKind(err) {
	case kassa.EINVALID, kassa.EIDEMPOTENCY:
		return http.StatusUnprocessableEntity
	case kassa.ENOTFOUND:
		return http.StatusNotFound
	case kassa.ECONFLICT:
		return http.StatusConflict
	case kassa.ECARD:
		return http.StatusPaymentRequired
	case kassa.EUNAUTHORIZED:
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

// userError reports err on a page: its message for engine errors, a generic
// text (and a log line) for internal ones.
func (h *Handler) userError(w http.ResponseWriter, r *http.Request, err error) {
	var ke *kassa.Error
	if !errors.As(err, &ke) {
		h.serverError(w, r, err)
		return
	}
	h.fail(w, r, statusOf(err), ke.Message)
}

func (h *Handler) asset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if name != "dashboard.css" {
		http.NotFound(w, r)
		return
	}
	b, err := fs.ReadFile(files, "static/"+name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(b)
}
