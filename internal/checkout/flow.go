package checkout

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
)

// formRequest is the body of the form's JSON calls. Card is present only on
// confirm; it is passed to the engine and never logged or stored.
type formRequest struct {
	ClientSecret string      `json:"client_secret"`
	Locale       string      `json:"locale"`
	Card         *kassa.Card `json:"card"`
}

const maxFormBody = 8 << 10

// session reads a form call and finds its checkout session; it answers the
// request itself and returns nil on failure.
func (h *Handler) session(w http.ResponseWriter, r *http.Request) (*formRequest, *engine.CheckoutSession) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		jsonError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json")
		return nil, nil
	}
	var req formRequest
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBody))
	if err == nil {
		err = json.Unmarshal(b, &req)
	}
	if err != nil {
		jsonError(w, http.StatusBadRequest, "body_invalid", "the request body is not valid JSON")
		return nil, nil
	}
	req.Locale = pickLocale(req.Locale, r.Header.Get("Accept-Language"))
	sess, err := h.eng.CheckoutSession(r.Context(), req.ClientSecret, h.cfg.ClientSecretTTL)
	if err != nil {
		if kassa.ErrorKind(err) == kassa.ENOTFOUND {
			jsonError(w, http.StatusNotFound, "client_secret_invalid", msg(req.Locale, "not_found"))
		} else {
			h.log.Error("checkout session", "err", err)
			jsonError(w, http.StatusInternalServerError, "internal_error", msg(req.Locale, "err.generic"))
		}
		return nil, nil
	}
	return &req, sess
}

// confirm charges the card entered in the form. The card was checked in the
// browser; the engine checks it again (Luhn, expiry, CVC) before any
// processor sees it.
func (h *Handler) confirm(w http.ResponseWriter, r *http.Request) {
	req, sess := h.session(w, r)
	if sess == nil {
		return
	}
	if req.Card == nil {
		jsonError(w, http.StatusBadRequest, "parameter_missing", "card is required")
		return
	}
	d, err := h.eng.ConfirmCheckout(r.Context(), sess, req.Card)
	h.answer(w, r, req, sess, d, err)
}

// status is called when the 3-D Secure page returns: it asks the processor
// for the outcome (CompleteAuthentication is idempotent) and reports it.
func (h *Handler) status(w http.ResponseWriter, r *http.Request) {
	req, sess := h.session(w, r)
	if sess == nil {
		return
	}
	d, err := h.eng.CompleteAuthentication(r.Context(), sess.Payment.ID)
	if d != nil && d.Payment.Status == kassa.StatusRequiresPaymentMethod && d.Payment.LastError != nil && err == nil {
		// Reloaded after a failed challenge: show why it failed.
		le := d.Payment.LastError
		err = &kassa.Error{Kind: kassa.ECARD, Code: le.Code, DeclineCode: le.DeclineCode, Message: le.Message}
	}
	h.answer(w, r, req, sess, d, err)
}

// cancel abandons the checkout: the pop-up was closed or the shopper chose
// to go back to the shop. A payment that finished meanwhile (a 3-D Secure
// approval racing the close) is reported as it is.
func (h *Handler) cancel(w http.ResponseWriter, r *http.Request) {
	req, sess := h.session(w, r)
	if sess == nil {
		return
	}
	var d *engine.PaymentDetail
	var err error
	if !finished(sess.Payment.Status) {
		d, err = h.eng.CancelCheckout(r.Context(), sess)
	}
	h.answer(w, r, req, sess, d, err)
}

// answer reports the payment after an operation. Card and state errors are
// part of the form's state (HTTP 200); only failures of the gateway itself
// are HTTP errors.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, req *formRequest, sess *engine.CheckoutSession, d *engine.PaymentDetail, err error) {
	var ke *kassa.Error
	if err != nil && !errors.As(err, &ke) {
		h.log.Error("checkout", "path", r.URL.Path, "payment", sess.Payment.ID, "err", err)
		jsonError(w, http.StatusInternalServerError, "internal_error", msg(req.Locale, "err.generic"))
		return
	}
	p := sess.Payment
	if d != nil {
		p = d.Payment
	} else if err != nil && ke.Code != "checkout_expired" && ke.Param == "" {
		// Refused without a payment (e.g. it moved on in another tab):
		// show the payment as it is now.
		if fresh, ferr := h.eng.CheckoutSession(r.Context(), req.ClientSecret, h.cfg.ClientSecretTTL); ferr == nil {
			p = fresh.Payment
		}
	}
	writeJSON(w, http.StatusOK, h.outcome(sess, req.Locale, p, err))
}

// returnToMerchant ends a redirect-mode checkout: 303 to return_url or
// cancel_url with the signed result. A checkout still in progress goes
// back to its form.
func (h *Handler) returnToMerchant(w http.ResponseWriter, r *http.Request) {
	secret := r.URL.Query().Get("client_secret")
	locale := pickLocale(r.URL.Query().Get("locale"), r.Header.Get("Accept-Language"))
	sess, err := h.eng.CheckoutSession(r.Context(), secret, h.cfg.ClientSecretTTL)
	if err != nil {
		if kassa.ErrorKind(err) == kassa.ENOTFOUND {
			h.errorPage(w, http.StatusNotFound, locale, msg(locale, "not_found"))
			return
		}
		h.log.Error("checkout return", "err", err)
		h.errorPage(w, http.StatusInternalServerError, locale, msg(locale, "err.generic"))
		return
	}
	p := sess.Payment
	if !finished(p.Status) && !(sess.Expired && p.Status == kassa.StatusRequiresPaymentMethod) {
		http.Redirect(w, r, h.base+"/pay/"+p.ClientSecret+"?locale="+locale, http.StatusSeeOther)
		return
	}
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	if target := redirectTarget(sess.Settings.ResultSigningSecret, p); target != "" {
		http.Redirect(w, r, target, http.StatusSeeOther)
		return
	}
	title, text := doneText(locale, p)
	h.messagePage(w, locale, title, text, "", "")
}

// threeDSReturn is where the issuer's 3-D Secure page sends the shopper
// back. The engine asks the processor for the outcome. Inside the checkout
// form (the challenge runs in a frame of the form) the page tells the form,
// which carries on; opened at the top level (a merchant that redirected the
// shopper to next_action.redirect_url itself) it redirects to return_url or
// cancel_url with the signed result.
func (h *Handler) threeDSReturn(w http.ResponseWriter, r *http.Request) {
	locale := pickLocale("", r.Header.Get("Accept-Language"))
	d, err := h.eng.CompleteAuthentication(r.Context(), r.PathValue("id"))
	if d == nil {
		if kassa.ErrorKind(err) == kassa.ENOTFOUND {
			h.errorPage(w, http.StatusNotFound, locale, msg(locale, "not_found"))
			return
		}
		h.log.Error("3-D Secure return", "payment", r.PathValue("id"), "err", err)
		h.errorPage(w, http.StatusInternalServerError, locale, "The payment could not be completed now; it will be reconciled.")
		return
	}
	p := d.Payment
	st, err := h.eng.MerchantSettings(r.Context(), p.MerchantID)
	if err != nil {
		h.log.Error("3-D Secure return", "payment", p.ID, "err", err)
		h.errorPage(w, http.StatusInternalServerError, locale, msg(locale, "err.generic"))
		return
	}
	target := redirectTarget(st.ResultSigningSecret, p)
	if r.Header.Get("Sec-Fetch-Dest") == "document" && target != "" {
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, target, http.StatusSeeOther)
		return
	}
	title, text := doneText(locale, p)
	if !finished(p.Status) {
		title, text = "Payment "+string(p.Status), ""
	}
	// The page runs in the challenge frame of the form, whose ancestors are
	// the gateway and (embedded, pop-up) the merchant's page, or the
	// platform page an adapter vouches for (Config.FrameAncestors: the
	// Shoplazza iframe): frame-ancestors covers every ancestor, so it lists
	// the merchant's allowed origins and the vouched ones.
	ancestors := "'self'"
	for _, o := range st.AllowedOrigins {
		ancestors += " " + o
	}
	for _, o := range h.vouchedAncestors(r.Context(), p) {
		ancestors += " " + o
	}
	h.messagePage(w, locale, title, text, target, ancestors)
}

// messagePage shows a short message; target, if set, is where threeds.js
// sends a top-level window; frameAncestors "" forbids framing.
func (h *Handler) messagePage(w http.ResponseWriter, locale, title, text, target, frameAncestors string) {
	nonce := newNonce()
	pageHeaders(w, pagePolicy(nonce, frameAncestors, ""))
	templates.ExecuteTemplate(w, "message.html", map[string]string{"Lang": locale, "Title": title, "Text": text,
		"Target": target, "Base": h.base, "Continue": msg(locale, "redirecting")})
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

func jsonError(w http.ResponseWriter, code int, errCode, message string) {
	writeJSON(w, code, map[string]any{"error": map[string]string{"code": errCode, "message": message}})
}
