package checkout

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
)

// Modes of integration, as kassa.mount names them.
const (
	modeEmbedded = "embedded"
	modePopup    = "popup"
	modeRedirect = "redirect" // the hosted page at checkout_url
)

// formView is what templates/form.html renders.
type formView struct {
	Lang, Nonce, Base, Mode string
	State                   string // form | action | done | expired
	Merchant, LogoURL       string
	Accent                  string
	Amount, Description     string
	Test                    bool
	T                       map[string]string
	Pay, Title              string
	CancelLabel             string
	ReturnLabel             string
	Config                  map[string]any // read by form.js
}

// form serves the payment form: the hosted page, or the page inside the
// merchant's iframe (mode=embedded|popup, with the merchant page's origin
// and publishable key).
func (h *Handler) form(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	locale := pickLocale(q.Get("locale"), r.Header.Get("Accept-Language"))
	mode := q.Get("mode")
	if mode == "" {
		mode = modeRedirect
	}
	secret := r.PathValue("secret")
	sess, err := h.eng.CheckoutSession(r.Context(), secret, h.cfg.ClientSecretTTL)
	if err != nil {
		if kassa.ErrorKind(err) == kassa.ENOTFOUND {
			h.errorPage(w, http.StatusNotFound, locale, msg(locale, "not_found"))
			return
		}
		h.log.Error("checkout form", "err", err)
		h.errorPage(w, http.StatusInternalServerError, locale, msg(locale, "err.generic"))
		return
	}
	origin := ""
	// ancestors may frame the page: none for the hosted page, unless an
	// adapter vouches for its platform's origins; the one embedding page
	// otherwise.
	ancestors := ""
	switch mode {
	case modeRedirect:
		ancestors = strings.Join(h.vouchedAncestors(r.Context(), sess.Payment), " ")
	case modeEmbedded, modePopup:
		origin, err = kassa.NormalizeOrigin("origin", q.Get("origin"))
		if err == nil && h.cfg.AuthorizeEmbedding != nil && h.cfg.AuthorizeEmbedding(r.Context(), sess.Payment, origin) {
			break
		}
		if err != nil || !sess.Settings.OriginAllowed(origin) {
			h.log.Info("checkout form refused: origin not allowed", "merchant", sess.Payment.MerchantID, "origin", q.Get("origin"))
			h.errorPage(w, http.StatusBadRequest, locale, fmt.Sprintf(
				"This payment form cannot be shown on %q: add that origin to the merchant's allowed origins (POST /v1/merchant/settings).", q.Get("origin")))
			return
		}
		pr, err := h.eng.Authenticate(r.Context(), q.Get("pk"))
		if err != nil || pr.KeyKind != kassa.KeyPublishable || pr.MerchantID != sess.Payment.MerchantID || pr.Livemode != sess.Payment.Livemode {
			h.errorPage(w, http.StatusBadRequest, locale, "The publishable key does not belong to the merchant of this payment.")
			return
		}
	default:
		h.errorPage(w, http.StatusBadRequest, locale, "mode must be embedded, popup or redirect")
		return
	}
	if mode != modeRedirect {
		ancestors = origin
	}

	p := sess.Payment
	st := sess.Settings
	name := st.DisplayName
	if name == "" {
		name = sess.Merchant.Name
	}
	amount := formatMoney(p.Amount, p.Currency, locale)
	logo, accent := h.branding(r.Context(), p, st)
	v := formView{
		Lang: locale, Nonce: newNonce(), Base: h.base, Mode: mode, Merchant: name, LogoURL: logo,
		Accent: accent, Amount: amount, Description: p.Description, Test: !p.Livemode,
		T: messages[locale], Pay: fmt.Sprintf(msg(locale, "pay"), amount), Title: fmt.Sprintf(msg(locale, "title"), name),
		CancelLabel: msg(locale, "cancel"), ReturnLabel: fmt.Sprintf(msg(locale, "return"), name),
	}
	if mode == modeRedirect {
		v.CancelLabel = fmt.Sprintf(msg(locale, "cancel_return"), name)
	}
	resp := h.outcome(sess, locale, p, nil)
	v.State = resp.State
	v.Config = map[string]any{
		"mode": mode, "origin": origin, "locale": locale, "client_secret": secret, "base": h.base,
		"messages": formMessages(locale), "state": resp,
	}
	csp := pagePolicy(v.Nonce, ancestors, originOf(logo))
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, "form.html", v); err != nil {
		h.log.Error("checkout form template", "err", err)
		h.errorPage(w, http.StatusInternalServerError, locale, msg(locale, "err.generic"))
		return
	}
	pageHeaders(w, csp)
	w.Write(buf.Bytes())
}

// errorPage answers a form request that cannot show a form. It may not be
// framed: it has no merchant whose origins could be trusted.
func (h *Handler) errorPage(w http.ResponseWriter, code int, locale, text string) {
	nonce := newNonce()
	pageHeaders(w, pagePolicy(nonce, "", ""))
	w.WriteHeader(code)
	templates.ExecuteTemplate(w, "error.html", map[string]string{"Lang": locale, "Text": text, "Base": h.base})
}

// formState is the form's state after a request, as form.js applies it.
type formState struct {
	State     string     `json:"state"` // form | action | done | expired
	PaymentID string     `json:"payment_id"`
	Status    string     `json:"status"`
	Error     *formError `json:"error,omitempty"`
	ActionURL string     `json:"action_url,omitempty"`
	Result    *Result    `json:"result,omitempty"`
	// ReturnURL is where redirect mode sends the browser when done: the
	// gateway's /checkout/v1/return, which answers 303 to the merchant.
	ReturnURL string `json:"return_url,omitempty"`
	Title     string `json:"title,omitempty"`
	Text      string `json:"text,omitempty"`
}

// formError is an error shown in the form; Field names the input it is
// about (number, expiry, cvc, holder), if any.
type formError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

var fieldOfParam = map[string]string{
	"payment_method[card][number]":      "number",
	"payment_method[card][exp_month]":   "expiry",
	"payment_method[card][exp_year]":    "expiry",
	"payment_method[card][cvc]":         "cvc",
	"payment_method[card][holder_name]": "holder",
}

// outcome describes payment p (as it is after the request) to the form,
// with opErr the error of the operation just run, if any.
func (h *Handler) outcome(sess *engine.CheckoutSession, locale string, p *kassa.Payment, opErr error) *formState {
	s := &formState{PaymentID: p.ID, Status: string(p.Status),
		ReturnURL: h.base + "/checkout/v1/return?client_secret=" + url.QueryEscape(p.ClientSecret)}
	secret := sess.Settings.ResultSigningSecret
	switch {
	case finished(p.Status):
		s.State, s.Result = "done", signedResult(secret, p)
		s.Title, s.Text = doneText(locale, p)
	case kassa.ErrorCode(opErr) == "checkout_expired" || sess.Expired && p.Status == kassa.StatusRequiresPaymentMethod:
		s.State, s.Result = "expired", signedResult(secret, p)
		s.Result.Error = &ResultError{Code: "checkout_expired", Message: "The client secret expired before the payment was completed."}
		s.Title, s.Text = msg(locale, "expired_title"), msg(locale, "expired_text")
	case p.Status == kassa.StatusRequiresAction && p.NextAction != nil:
		s.State, s.ActionURL = "action", p.NextAction.RedirectURL
	default:
		s.State = "form"
	}
	if s.State == "form" || s.State == "action" {
		if e := asError(opErr); e != nil {
			s.Error = &formError{Code: e.Code, Message: errorMessage(locale, e), Field: fieldOfParam[e.Param]}
		}
	}
	return s
}

func asError(err error) *kassa.Error {
	if err == nil {
		return nil
	}
	e, ok := err.(*kassa.Error)
	if !ok {
		return nil
	}
	return e
}

func doneText(locale string, p *kassa.Payment) (title, text string) {
	switch p.Status {
	case kassa.StatusSucceeded:
		title = msg(locale, "done_succeeded")
	case kassa.StatusRequiresCapture:
		title = msg(locale, "done_authorized")
	case kassa.StatusProcessing:
		return msg(locale, "done_processing"), msg(locale, "done_processing_2")
	case kassa.StatusCanceled:
		return msg(locale, "done_canceled"), ""
	}
	if p.Card != nil {
		text = fmt.Sprintf(msg(locale, "done_charged"), formatMoney(p.Amount, p.Currency, locale), brandName(p.Card.Brand), p.Card.Last4)
	}
	return title, text
}

func brandName(b string) string {
	switch b {
	case "visa":
		return "Visa"
	case "mastercard":
		return "Mastercard"
	case "amex":
		return "American Express"
	case "discover":
		return "Discover"
	case "diners":
		return "Diners Club"
	case "jcb":
		return "JCB"
	case "unionpay":
		return "UnionPay"
	}
	return "card"
}
