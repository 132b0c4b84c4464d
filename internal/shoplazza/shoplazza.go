// Package shoplazza makes Kassa a Shoplazza payments app server
// (specs/shoplazza-payments-app.md, seeds 001 and 004): a shop registers
// Kassa's URLs as its payment and refund session URLs, and Kassa speaks
// Shoplazza's protocol: form-encoded signed requests in, signed JSON
// complete and notify calls out.
//
// It is a protocol adapter: it verifies and translates, then calls
// engine.Shoplazza (bindings, request records, idempotency), the payment
// engine and the hosted checkout; it never touches storage. The Notify API
// is a notify.Format ("shoplazza") delivered by the outbox, which migration
// 00006 fills when a Shoplazza payment is paid or canceled and when a
// Shoplazza refund settles.
//
// Routes (under the gateway's base URL):
//
//	POST /shoplazza/payments        payment request (type sale or card)
//	POST /shoplazza/refunds         refund request
//	GET  /shoplazza/pay/{secret}    303 to the hosted form (the iframe model's URL in earlier answers)
//	GET  /shoplazza/return          where the checkout sends the shopper back: complete call, then redirect
//	GET  /shoplazza/assets/top.js   sends a framed page's shopper on at the top level
package shoplazza

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/resultsig"
)

// Config tunes the adapter where Shoplazza's public material leaves a
// choice open. Zero values take the defaults shown.
type Config struct {
	// Signature is the Shoplazza-Hmac-Sha256 scheme (DefaultScheme:
	// client secret, raw body, lower-case hex).
	Signature SigScheme
	// AcceptAnyScheme accepts a request signed under any canonical form and
	// encoding (with the configured key source) and logs which matched: an
	// onboarding aid to learn what a live shop sends. Off by default.
	AcceptAnyScheme bool
	// TimestampWindow refuses requests whose timestamp is further than this
	// from now (15m); negative disables the check.
	TimestampWindow time.Duration
	// FailureStatus is the HTTP status of refused requests other than
	// authentication failures (401) and races (409): 400. Set 200 to answer
	// every refusal with 200 and the {code, message} body.
	FailureStatus int
	// IframeWidthKey and IframeHeightKey name the iframe size in the iframe
	// model's answer ("width", "height"): the key names are not public.
	IframeWidthKey, IframeHeightKey string
	// IframeDefault is the size answered when a binding sets none (480×640);
	// IframeMax caps it (1920×1080): Shoplazza falls back to 80vw×80vh when
	// the size exceeds the screen. The minimum, 300×200, is Shoplazza's.
	IframeDefault, IframeMax [2]int
	// CompleteStatus is the status of the complete call ("paying", per the
	// current docs; older ones say paid).
	CompleteStatus string
	// AmountAsString sends amounts in complete and notify bodies as JSON
	// strings ("254.20") instead of numbers (254.20, the OpenAPI type).
	AmountAsString bool
	// RefundPendingStatus is the status of a refund answer whose result is
	// not known yet ("refund_pending"): Shoplazza names only
	// refund_success and refund_failed.
	RefundPendingStatus string
	// NotifySchedule is the Notify API's retry schedule (Schedule: 18
	// attempts in 24 hours).
	NotifySchedule notify.Schedule
	// Client makes complete calls (15 s timeout, redirects not followed).
	Client *http.Client
}

func (c *Config) defaults() {
	c.Signature = c.Signature.withDefaults()
	if c.TimestampWindow == 0 {
		c.TimestampWindow = 15 * time.Minute
	}
	if c.FailureStatus == 0 {
		c.FailureStatus = http.StatusBadRequest
	}
	if c.IframeWidthKey == "" {
		c.IframeWidthKey = "width"
	}
	if c.IframeHeightKey == "" {
		c.IframeHeightKey = "height"
	}
	if c.IframeDefault == [2]int{} {
		c.IframeDefault = [2]int{480, 640}
	}
	if c.IframeMax == [2]int{} {
		c.IframeMax = [2]int{1920, 1080}
	}
	if c.CompleteStatus == "" {
		c.CompleteStatus = "paying"
	}
	if c.RefundPendingStatus == "" {
		c.RefundPendingStatus = "refund_pending"
	}
	if c.NotifySchedule == nil {
		c.NotifySchedule = Schedule
	}
	if c.Client == nil {
		c.Client = &http.Client{Timeout: 15 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}
	}
}

// Minimum iframe size (DOC-IFRAME).
const minIframeWidth, minIframeHeight = 300, 200

// Handler serves the Shoplazza routes.
type Handler struct {
	s    *engine.Shoplazza
	eng  *engine.Engine
	cfg  Config
	log  *slog.Logger
	mux  *http.ServeMux
	base string
}

// New returns the handler over s.
func New(s *engine.Shoplazza, cfg Config, log *slog.Logger) (*Handler, error) {
	cfg.defaults()
	if err := cfg.Signature.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	eng := s.Engine()
	h := &Handler{s: s, eng: eng, cfg: cfg, log: log, mux: http.NewServeMux(), base: strings.TrimRight(eng.Config().BaseURL, "/")}
	h.mux.HandleFunc("POST /shoplazza/payments", h.payment)
	h.mux.HandleFunc("POST /shoplazza/refunds", h.refund)
	h.mux.HandleFunc("GET /shoplazza/pay/{secret}", h.iframePage)
	h.mux.HandleFunc("GET /shoplazza/return", h.shopperReturn)
	h.mux.HandleFunc("GET /shoplazza/assets/top.js", h.topScript)
	return h, nil
}

// Register mounts the Shoplazza paths on mux.
func (h *Handler) Register(mux *http.ServeMux) { mux.Handle("/shoplazza/", h) }

// ServeHTTP serves the Shoplazza routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

const maxBody = 256 << 10

// errorBody is Shoplazza's failure answer.
type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(body)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// failure renders err as Shoplazza's {code, message} with its status.
func (h *Handler) failure(r *http.Request, err error) (int, []byte) {
	var e *kassa.Error
	if !errors.As(err, &e) {
		h.log.Error("shoplazza", "path", r.URL.Path, "err", err)
		return http.StatusInternalServerError, mustJSON(errorBody{"internal_error", "an internal error occurred; retry the request"})
	}
	code := h.cfg.FailureStatus
	switch e.Kind {
	case kassa.EUNAUTHORIZED:
		code = http.StatusUnauthorized
	case kassa.ECONFLICT:
		if code != http.StatusOK {
			code = http.StatusConflict
		}
	case kassa.EINTERNAL:
		code = http.StatusInternalServerError
	}
	return code, mustJSON(errorBody{e.Code, e.Message})
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	code, body := h.failure(r, err)
	writeJSON(w, code, body)
}

func errSignature() error {
	return kassa.Errorf(kassa.EUNAUTHORIZED, "invalid_signature", "Shoplazza-Hmac-Sha256 is missing or does not match the request")
}

// authenticate reads the body of a Shoplazza request, finds its shop and
// checks the signature over the raw bytes, then the timestamp. Nothing is
// parsed before the signature holds.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request) (*engine.ShoplazzaBinding, []byte, fields, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return nil, nil, nil, kassa.Invalid("", "body_invalid", "the body is too large or could not be read")
	}
	sig := r.Header.Get("Shoplazza-Hmac-Sha256")
	if sig == "" {
		return nil, nil, nil, errSignature()
	}
	shop := r.Header.Get("Shoplazza-Shop-Domain")
	b, err := h.s.Binding(r.Context(), shop)
	if kassa.ErrorKind(err) == kassa.ENOTFOUND || shop == "" {
		// The same answer as a bad signature: shops cannot be probed.
		return nil, nil, nil, errSignature()
	} else if err != nil {
		return nil, nil, nil, err
	}
	key := b.ClientSecret
	if h.cfg.Signature.KeySource == KeyMerchantKey {
		key = b.SignKey
	}
	ok := h.cfg.Signature.Verify(key, r.Method, r.URL.RequestURI(), body, sig)
	if !ok && h.cfg.AcceptAnyScheme {
		for _, sc := range AllSchemes(h.cfg.Signature.KeySource) {
			if sc.Verify(key, r.Method, r.URL.RequestURI(), body, sig) {
				h.log.Warn("shoplazza: request signed under another scheme than configured", "shop", b.ShopDomain, "scheme", sc.String())
				ok = true
				break
			}
		}
	}
	if !ok {
		h.log.Info("shoplazza: signature refused", "shop", b.ShopDomain, "path", r.URL.Path)
		return nil, nil, nil, errSignature()
	}
	f, err := parseBody(r.Header.Get("Content-Type"), body)
	if err != nil {
		return nil, nil, nil, kassa.Invalid("", "body_invalid", "%s", err.Error())
	}
	if h.cfg.TimestampWindow > 0 {
		if ts, present := f["timestamp"]; present && ts != "" {
			t, ok := parseTimestamp(ts)
			if !ok {
				return nil, nil, nil, kassa.Invalid("timestamp", "parameter_invalid", "timestamp %q is neither unix seconds nor ISO 8601", ts)
			}
			if d := h.s.Now().Sub(t); d > h.cfg.TimestampWindow || d < -h.cfg.TimestampWindow {
				return nil, nil, nil, kassa.Errorf(kassa.EUNAUTHORIZED, "request_expired",
					"timestamp %s is more than %s from now; the request may be a replay", ts, h.cfg.TimestampWindow)
			}
		}
	}
	return b, body, f, nil
}

func (h *Handler) checkApp(b *engine.ShoplazzaBinding, f fields) error {
	if f["app_id"] != b.AppID {
		return kassa.Invalid("app_id", "app_mismatch", "app_id %q is not the app bound to shop %s", f["app_id"], b.ShopDomain)
	}
	if a, ok := f["account_id"]; ok && a != "" && a != b.AccountID {
		return kassa.Invalid("account_id", "account_mismatch", "account_id %q is not the account bound to shop %s", a, b.ShopDomain)
	}
	return nil
}

// origins are the shop's web origins that may frame the iframe page.
func origins(r *http.Request, b *engine.ShoplazzaBinding) []string {
	var out []string
	for _, d := range []string{b.ShopDomain, r.Header.Get("Shoplazza-Shop-Domain"), r.Header.Get("Custom-Domain")} {
		d = strings.TrimSpace(d)
		if d == "" {
			continue
		}
		if !strings.Contains(d, "://") {
			d = "https://" + d
		}
		o, err := kassa.NormalizeOrigin("origin", d)
		if err != nil {
			continue
		}
		dup := false
		for _, x := range out {
			dup = dup || x == o
		}
		if !dup {
			out = append(out, o)
		}
	}
	return out
}

func (h *Handler) payment(w http.ResponseWriter, r *http.Request) {
	b, _, f, err := h.authenticate(w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := f.check(paymentFields); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.checkApp(b, f); err != nil {
		h.fail(w, r, err)
		return
	}
	typ := f["type"]
	if typ != "sale" && typ != "card" {
		h.fail(w, r, kassa.Invalid("type", "parameter_invalid", "type must be sale or card"))
		return
	}
	cur, err := kassa.NormalizeCurrency("currency", f["currency"])
	if err != nil {
		h.fail(w, r, err)
		return
	}
	amount, err := kassa.ParseAmount("amount", f["amount"], cur)
	if err == nil && amount <= 0 {
		err = kassa.Invalid("amount", "amount_invalid", "amount must be positive")
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	items, err := parseProducts(f["products"], cur)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var card *kassa.Card
	if typ == "card" {
		if card, err = parseCards(f["cards"]); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	for _, u := range []string{"cancel_url", "complete_url", "callback_url"} {
		if p, err := url.Parse(f[u]); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			h.fail(w, r, kassa.Invalid(u, "url_invalid", "%s must be an absolute http(s) URL", u))
			return
		}
	}
	extra := map[string]any{"unknown_fields": f.unknown(paymentFields), "headers": headerMap(r),
		"customer": map[string]string{"billing_company": f["customer_billing_company"], "billing_province": f["customer_billing_province"],
			"shipping_company": f["customer_shipping_company"], "shipping_province": f["customer_shipping_province"], "email": f["customer_email"]}}
	sess := &engine.ShoplazzaPayment{RequestID: f["id"], AppID: f["app_id"], ShoplazzaOrderID: f["shoplazza_order_id"], Type: typ,
		Amount: f["amount"], Currency: cur, Test: f["test"] == "true" || f["test"] == "1", CancelURL: f["cancel_url"],
		CompleteURL: f["complete_url"], CallbackURL: f["callback_url"], Origins: origins(r, b),
		Fingerprint: f.fingerprint(r.URL.Path), Extra: string(mustJSON(extra))}
	cust := &kassa.Customer{Name: clip(strings.TrimSpace(f["customer_billing_first_name"]+" "+f["customer_billing_last_name"]), 255),
		Phone: clip(f["customer_phone_number"], 40)}
	if plausibleEmail(f["customer_email"]) {
		cust.Email = f["customer_email"]
	}
	params := engine.PaymentParams{Amount: amount, Currency: cur, OrderID: f["shoplazza_order_id"],
		Description: clip("Shoplazza order "+f["shoplazza_order_id"], 1000), Customer: cust,
		Billing: f.address("billing"), Shipping: f.address("shipping"), Items: items,
		ReturnURL: h.base + "/shoplazza/return", CancelURL: h.base + "/shoplazza/return?cancel=1",
		Metadata: map[string]string{"shoplazza_payment_id": clip(f["id"], 500), "shoplazza_order_id": clip(f["shoplazza_order_id"], 500),
			"shoplazza_shop": b.ShopDomain}}
	if len(items) > 100 {
		params.Items = nil // kept in the request's products; the payment shows none rather than refusing the order
	}
	st, err := h.s.StartPayment(r.Context(), b, sess, params, card)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if st.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
		writeJSON(w, st.Session.ResponseStatus, st.Session.Response)
		return
	}
	code, resp := h.paymentAnswer(b, st)
	if err := h.s.FinishPayment(r.Context(), st.Session, code, resp); err != nil {
		h.log.Error("shoplazza: storing the answer", "err", err)
	}
	writeJSON(w, code, resp)
}

func headerMap(r *http.Request) map[string]string {
	m := map[string]string{}
	for _, k := range requestHeaders {
		if v := r.Header.Get(k); v != "" {
			m[k] = v
		}
	}
	return m
}

// paymentAnswer is the synchronous answer to a new payment request.
func (h *Handler) paymentAnswer(b *engine.ShoplazzaBinding, st *engine.ShoplazzaPaymentStart) (int, []byte) {
	p := st.Payment.Payment
	if st.Session.Type == "sale" {
		ans := map[string]any{}
		// The hosted page in both models; in the iframe model the checkout
		// lets the shop's origins frame it (FrameAncestors).
		ans["redirect_url"] = h.eng.CheckoutURL(p)
		if b.Model == engine.ShoplazzaModelIframe {
			wd, ht := h.iframeSize(b)
			ans[h.cfg.IframeWidthKey], ans[h.cfg.IframeHeightKey] = wd, ht
		}
		return http.StatusOK, mustJSON(ans)
	}
	// Direct card: the result in the Notify format, or the 3-D Secure step.
	n := h.paymentNotice(b, st.Session, p, "")
	if p.Status == kassa.StatusRequiresAction && p.NextAction != nil {
		n.Status = "paying"
		n.RedirectURL = p.NextAction.RedirectURL
	}
	return http.StatusOK, mustJSON(n)
}

// iframeSize clamps the binding's size to Shoplazza's minimum and the
// configured maximum.
func (h *Handler) iframeSize(b *engine.ShoplazzaBinding) (int, int) {
	wd, ht := b.IframeWidth, b.IframeHeight
	if wd == 0 {
		wd = h.cfg.IframeDefault[0]
	}
	if ht == 0 {
		ht = h.cfg.IframeDefault[1]
	}
	return clamp(wd, minIframeWidth, h.cfg.IframeMax[0]), clamp(ht, minIframeHeight, h.cfg.IframeMax[1])
}

func clamp(v, lo, hi int) int {
	if hi < lo {
		hi = lo
	}
	return min(max(v, lo), hi)
}

// refundAnswer is the synchronous answer to a refund request.
type refundAnswer struct {
	RefundID string `json:"refund_id"`
	Status   string `json:"status"`
	Message  string `json:"message"`
}

func (h *Handler) refundStatus(s kassa.TxnStatus) string {
	switch s {
	case kassa.TxnSucceeded:
		return "refund_success"
	case kassa.TxnFailed:
		return "refund_failed"
	}
	return h.cfg.RefundPendingStatus
}

func (h *Handler) refund(w http.ResponseWriter, r *http.Request) {
	b, _, f, err := h.authenticate(w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := f.check(refundFields); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.checkApp(b, f); err != nil {
		h.fail(w, r, err)
		return
	}
	if t := f["type"]; t != "" && t != "refund" {
		h.fail(w, r, kassa.Invalid("type", "parameter_invalid", "type must be refund"))
		return
	}
	if p, err := url.Parse(f["callback_url"]); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		h.fail(w, r, kassa.Invalid("callback_url", "url_invalid", "callback_url must be an absolute http(s) URL"))
		return
	}
	extra := map[string]any{"unknown_fields": f.unknown(refundFields), "headers": headerMap(r), "extra": f["extra"]}
	req := &engine.ShoplazzaRefund{RequestID: f["id"], AppID: f["app_id"], PaymentRequestID: f["payment_id"], Amount: f["amount"],
		Currency: f["currency"], CallbackURL: f["callback_url"], Fingerprint: f.fingerprint(r.URL.Path), Extra: string(mustJSON(extra))}
	st, err := h.s.StartRefund(r.Context(), b, req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if st.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
		writeJSON(w, st.Request.ResponseStatus, st.Request.Response)
		return
	}
	ans := refundAnswer{RefundID: st.Refund.ID, Status: h.refundStatus(st.Refund.Status), Message: "success"}
	switch {
	case st.RefundErr != nil:
		ans.Message = "the refund failed"
		var ke *kassa.Error
		if errors.As(st.RefundErr, &ke) {
			ans.Message = ke.Message
		}
	case st.Refund.Status != kassa.TxnSucceeded && st.Refund.Status != kassa.TxnFailed:
		ans.Message = "the refund is being processed; its result follows by notify"
	}
	body := mustJSON(ans)
	if err := h.s.FinishRefund(r.Context(), st.Request, http.StatusOK, body); err != nil {
		h.log.Error("shoplazza: storing the refund answer", "err", err)
	}
	writeJSON(w, http.StatusOK, body)
}

// FrameAncestors is checkout.Config.FrameAncestors: the hosted page of a
// payment requested by a shop bound in the iframe model, and its 3-D Secure
// return, may be framed by that shop's origins (its Shoplazza domain and
// the order's custom domain, taken from the signed payment request) and by
// no one else. Payments this adapter did not open answer nil.
func (h *Handler) FrameAncestors(ctx context.Context, p *kassa.Payment) []string {
	if p.ReturnURL != h.base+"/shoplazza/return" {
		return nil // not a Shoplazza payment: no lookup
	}
	sess, b, err := h.s.SessionByPayment(ctx, p.ID)
	if err != nil {
		if kassa.ErrorKind(err) != kassa.ENOTFOUND {
			h.log.Error("shoplazza: frame ancestors", "payment", p.ID, "err", err)
		}
		return nil
	}
	if b.Model != engine.ShoplazzaModelIframe {
		return nil
	}
	return sess.Origins
}

// iframePage is the URL of the iframe model answered before the hosted page
// itself was answered: a stored (replayed) answer may still carry it, so it
// sends the frame on to the hosted page, which FrameAncestors lets the
// shop's origins frame.
func (h *Handler) iframePage(w http.ResponseWriter, r *http.Request) {
	sess, err := h.eng.CheckoutSession(r.Context(), r.PathValue("secret"), 0)
	if err != nil {
		h.page(w, http.StatusNotFound, "This payment page does not exist.", "", nil)
		return
	}
	target := h.base + "/pay/" + url.PathEscape(sess.Payment.ClientSecret)
	if l := r.URL.Query().Get("locale"); l != "" {
		target += "?" + url.Values{"locale": {l}}.Encode()
	}
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// shopperReturn is the return_url and cancel_url of every Shoplazza
// payment: the checkout (or its 3-D Secure return) sends the shopper here
// with the signed result. A payment that went through is reported to
// Shoplazza's complete_url, and the shopper goes to the redirect_url it
// answers; otherwise the payment is canceled (queuing the failed notify)
// and the shopper goes to the request's cancel_url.
func (h *Handler) shopperReturn(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sess, b, err := h.s.SessionByPayment(r.Context(), q.Get("payment_id"))
	if err != nil {
		h.page(w, http.StatusNotFound, "This payment is unknown.", "", nil)
		return
	}
	st, err := h.eng.MerchantSettings(r.Context(), sess.MerchantID)
	if err != nil {
		h.log.Error("shoplazza return", "err", err)
		h.page(w, http.StatusInternalServerError, "Something went wrong; please try again.", "", nil)
		return
	}
	if !resultsig.Verify(st.ResultSigningSecret, q.Get("payment_id"), q.Get("status"), q.Get("signature")) {
		h.page(w, http.StatusBadRequest, "This link is not valid.", "", nil)
		return
	}
	d, err := h.s.Payment(r.Context(), sess)
	if err != nil {
		h.log.Error("shoplazza return", "err", err)
		h.page(w, http.StatusInternalServerError, "Something went wrong; please try again.", "", nil)
		return
	}
	if !wentThrough(d.Payment.Status) {
		if d, err = h.s.Abandon(r.Context(), sess); err != nil {
			h.log.Error("shoplazza return: cancel", "payment", sess.PaymentID, "err", err)
		}
	}
	target := sess.CancelURL
	if d != nil && wentThrough(d.Payment.Status) {
		target = sess.CompleteRedirect
		if target == "" {
			redirect, err := h.complete(r.Context(), b, sess, d.Payment)
			if err != nil {
				// The payment stands and its notify will tell Shoplazza;
				// the shopper goes back to the shop's checkout.
				h.log.Error("shoplazza complete call failed", "shop", b.ShopDomain, "payment", sess.PaymentID, "err", err)
				redirect = sess.CancelURL
			} else if err := h.s.SetCompleteRedirect(r.Context(), sess, redirect); err != nil {
				h.log.Error("shoplazza: storing the complete redirect", "err", err)
			}
			target = redirect
		}
	}
	h.sendShopper(w, r, target)
}

// wentThrough: the money moved, or may have (its outcome is being
// reconciled): the shop is told by the complete call.
func wentThrough(s kassa.PaymentStatus) bool {
	return s == kassa.StatusSucceeded || s == kassa.StatusRequiresCapture || s == kassa.StatusProcessing
}

// sendShopper redirects the shopper. Inside the shop's iframe (the iframe
// model) the page is replaced at the top level instead, so the shop's
// result page is not shown inside its own checkout.
func (h *Handler) sendShopper(w http.ResponseWriter, r *http.Request, target string) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	if r.Header.Get("Sec-Fetch-Dest") == "iframe" {
		h.page(w, http.StatusOK, "Payment finished. Continue to the shop.", target, nil)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer"><title>Payment</title>
{{if .Target}}<script src="{{.Base}}/shoplazza/assets/top.js" defer></script>{{end}}</head>
<body><main><p>{{.Text}}</p>{{if .Target}}<p><a id="continue" href="{{.Target}}" target="_top">Continue</a></p>{{end}}</main></body></html>`))

func (h *Handler) page(w http.ResponseWriter, code int, text, target string, _ any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fa := "'none'"
	if target != "" {
		fa = "*" // the shop's pages frame it; it only sends the shopper on
	}
	w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors "+fa)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	pageTmpl.Execute(w, map[string]string{"Text": text, "Target": target, "Base": h.base})
}

const topJS = `(function () {
  var a = document.getElementById('continue');
  if (!a) { return; }
  try { window.top.location.href = a.href; } catch (e) { /* blocked: the shopper clicks Continue */ }
})();
`

func (h *Handler) topScript(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write([]byte(topJS))
}
