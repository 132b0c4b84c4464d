package izipay

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/resultsig"
)

// Form types, as render.typeForm names them.
const (
	typeEmbedded = "embedded"
	typePopup    = "pop-up"
	typeRedirect = "redirect"
)

// config is the part of Izipay's config object that Kassa reads. Unknown
// fields (appearance.customTheme, customize.elements, originEntry, card,
// shipping …) are accepted and ignored: decoding never refuses them.
type config struct {
	TransactionID   flexString `json:"transactionId"`
	Action          string     `json:"action"`
	MerchantCode    flexString `json:"merchantCode"`
	FacilitatorCode flexString `json:"facilitatorCode"`
	Order           struct {
		OrderNumber     flexString `json:"orderNumber"`
		Currency        string     `json:"currency"`
		Amount          flexString `json:"amount"`
		ProcessType     string     `json:"processType"`
		MerchantBuyerID flexString `json:"merchantBuyerId"`
		PayMethod       string     `json:"payMethod"`
	} `json:"order"`
	Billing  map[string]any `json:"billing"`
	Language struct {
		Init string `json:"init"`
	} `json:"language"`
	Render struct {
		TypeForm     string `json:"typeForm"`
		Container    string `json:"container"`
		RedirectUrls struct {
			OnSuccess string `json:"onSuccess"`
			OnError   string `json:"onError"`
			OnCancel  string `json:"onCancel"`
		} `json:"redirectUrls"`
	} `json:"render"`
	URLIPN       string `json:"urlIPN"`
	CustomFields []any  `json:"customFields"`
	// Appearance is read leniently (appearanceOf): a field of an unexpected
	// type is ignored, never a reason to refuse the form.
	Appearance json.RawMessage `json:"appearance"`
}

// appearance is the part of config.appearance the form honours: the logo,
// the colour (theme) and hiding the logo. It is stored with the session
// (in extra) and read back by Handler.Branding when the form is shown.
type appearance struct {
	Logo     string `json:"logo,omitempty"`
	Accent   string `json:"accent,omitempty"`
	HideLogo bool   `json:"hideLogo,omitempty"`
}

// themeColors are Kassa's accent colours for Izipay's named themes
// (appearance.theme; "ligthgreen" is Izipay's spelling). The exact shades
// of Izipay's themes are not public: these are close, legible ones.
var themeColors = map[string]string{
	"red": "#d52b1e", "lightred": "#e8534a", "green": "#1e8a3c", "purple": "#6a3d9a",
	"black": "#1f1f1f", "blue": "#1f5fbf", "ligthgreen": "#3ea55b", "lightgreen": "#3ea55b",
}

// appearanceOf reads config.appearance: logo (an absolute URL, checked
// again by the checkout as a merchant's logo_url is), theme (a name from
// themeColors, or a "#rrggbb" colour) and customize.visibility.hideLogo.
// customTheme and the other customize blocks are ignored. nil when the
// config asks for nothing the form honours.
func appearanceOf(raw json.RawMessage) *appearance {
	var a struct {
		Logo      any `json:"logo"`
		Theme     any `json:"theme"`
		Customize struct {
			Visibility map[string]any `json:"visibility"`
		} `json:"customize"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &a) != nil {
		// A wrongly typed customize block: take what is readable.
		var loose map[string]any
		if json.Unmarshal(raw, &loose) != nil {
			return nil
		}
		a.Logo, a.Theme = loose["logo"], loose["theme"]
	}
	var out appearance
	if l, ok := a.Logo.(string); ok && len(l) <= 2048 && absoluteURL(strings.TrimSpace(l)) {
		out.Logo = strings.TrimSpace(l)
	}
	if t, ok := a.Theme.(string); ok {
		t = strings.ToLower(strings.TrimSpace(t))
		if c, ok := themeColors[t]; ok {
			out.Accent = c
		} else if kassa.ValidAccentColor(t) {
			out.Accent = t
		}
	}
	if h, ok := a.Customize.Visibility["hideLogo"].(bool); ok {
		out.HideLogo = h
	}
	if out == (appearance{}) {
		return nil
	}
	return &out
}

// billingFields are Izipay's billing keys, echoed back in results.
var billingFields = []string{"firstName", "lastName", "email", "phoneNumber", "street", "city", "state", "country",
	"postalCode", "documentType", "document", "companyName"}

func absoluteURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && len(s) <= 2048
}

// check validates config as Izipay does before showing a form (the script
// checks the same in the browser) and returns the offending fields.
func (c *config) check() []fieldError {
	var errs []fieldError
	add := func(f, m string) { errs = append(errs, fieldError{Field: f, Message: m}) }
	if tid := string(c.TransactionID); len(tid) < 5 || len(tid) > 40 || strings.Trim(tid, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		add("transactionId", "must be 5 to 40 letters and digits, the same as the Token/Generate header")
	}
	switch c.Action {
	case "pay", "pay_register", "":
	default:
		add("action", fmt.Sprintf("action %q is not supported by Kassa; use \"pay\"", c.Action))
	}
	if c.MerchantCode == "" {
		add("merchantCode", "is required")
	}
	if !engine.ValidIzipayOrderNumber(string(c.Order.OrderNumber)) {
		add("order.orderNumber", "must be 5 to 15 letters and digits, the same as the token's")
	}
	if _, ok := kassa.CurrencyExponent(strings.ToUpper(c.Order.Currency)); !ok {
		add("order.currency", "must be an ISO 4217 code such as PEN or USD")
	} else if a, err := kassa.ParseAmount("order.amount", string(c.Order.Amount), strings.ToUpper(c.Order.Currency)); err != nil || a <= 0 {
		add("order.amount", "must be a positive decimal string like \"10.00\", the same as the token's")
	}
	switch c.Render.TypeForm {
	case typeEmbedded, typePopup:
	case typeRedirect:
		for f, u := range map[string]string{"onSuccess": c.Render.RedirectUrls.OnSuccess, "onError": c.Render.RedirectUrls.OnError,
			"onCancel": c.Render.RedirectUrls.OnCancel} {
			if !absoluteURL(u) {
				add("render.redirectUrls."+f, "redirect mode needs an absolute http(s) URL that accepts POST")
			}
		}
	default:
		add("render.typeForm", "must be embedded, pop-up or redirect")
	}
	if c.URLIPN != "" && !absoluteURL(c.URLIPN) {
		add("urlIPN", "must be an absolute http(s) URL")
	}
	switch c.Language.Init {
	case "", "ESP", "ENG":
	default:
		add("language.init", "must be ESP or ENG")
	}
	return errs
}

func (c *config) locale() string {
	if c.Language.Init == "ENG" {
		return "en"
	}
	return "es"
}

// formRequest is LoadForm's call.
type formRequest struct {
	Authorization string `json:"authorization"`
	Config        config `json:"config"`
}

// loadForm is POST /payments/v1/form: it checks LoadForm's config against
// its token and opens (or reopens) the Kassa payment, answering where the
// form is.
func (h *Handler) loadForm(w http.ResponseWriter, r *http.Request) {
	cors(w, r)
	var req formRequest
	if err := readJSON(w, r, &req); err != nil {
		h.fail(w, http.StatusBadRequest, errBody, err.Error())
		return
	}
	c := &req.Config
	if errs := c.check(); len(errs) > 0 {
		code := errConfig
		if errs[0].Field == "action" {
			code = errAction
		}
		h.fail(w, http.StatusBadRequest, code, "invalid config: "+errs[0].Field+" "+errs[0].Message, errs...)
		return
	}
	origin := ""
	if c.Render.TypeForm != typeRedirect {
		o, err := kassa.NormalizeOrigin("Origin", r.Header.Get("Origin"))
		if err != nil {
			h.fail(w, http.StatusBadRequest, errConfig, "embedded and pop-up forms must be loaded by a web page (the request has no Origin)")
			return
		}
		origin = o
	}
	ex := extra{MerchantBuyerID: string(c.Order.MerchantBuyerID), FacilitatorCode: string(c.FacilitatorCode), Language: c.Language.Init,
		Appearance: appearanceOf(c.Appearance)}
	addr := &kassa.Address{}
	cust := &kassa.Customer{}
	if len(c.Billing) > 0 {
		ex.Billing = map[string]string{}
		for _, f := range billingFields {
			if v, ok := c.Billing[f].(string); ok && len(v) <= 255 {
				ex.Billing[f] = v
			}
		}
		b := ex.Billing
		name := strings.TrimSpace(b["firstName"] + " " + b["lastName"])
		addr = &kassa.Address{Line1: b["street"], City: b["city"], State: b["state"], PostalCode: b["postalCode"], Name: name, Phone: b["phoneNumber"]}
		if cc := strings.ToUpper(b["country"]); len(cc) == 2 {
			addr.Country = cc
		}
		cust = &kassa.Customer{Email: b["email"], Name: name, Phone: b["phoneNumber"]}
	}
	for i, v := range c.CustomFields {
		if i >= 10 {
			break
		}
		s, _ := v.(string)
		ex.CustomFields = append(ex.CustomFields, s)
	}
	exJSON, _ := json.Marshal(ex)
	capture := kassa.CaptureAutomatic
	switch strings.ToUpper(c.Order.ProcessType) {
	case "PA", "PREAUTHORIZE":
		capture = kassa.CaptureManual
	}
	if *cust == (kassa.Customer{}) {
		cust = nil
	}
	if *addr == (kassa.Address{}) {
		addr = nil
	}
	back := h.base + "/payments/v1/redirect"
	f := engine.IzipayForm{
		TransactionID: string(c.TransactionID), MerchantCode: string(c.MerchantCode), OrderNumber: string(c.Order.OrderNumber),
		Amount: string(c.Order.Amount), Currency: strings.ToUpper(c.Order.Currency), TypeForm: c.Render.TypeForm, Origin: origin,
		IPNURL: c.URLIPN, OnSuccess: c.Render.RedirectUrls.OnSuccess, OnError: c.Render.RedirectUrls.OnError,
		OnCancel: c.Render.RedirectUrls.OnCancel, Extra: string(exJSON),
		Payment: engine.PaymentParams{CaptureMethod: capture, Description: "Order " + string(c.Order.OrderNumber),
			Customer: cust, Billing: addr, ReturnURL: back, CancelURL: back,
			Metadata: map[string]string{"izipay_transaction_id": string(c.TransactionID)}},
	}
	s, d, err := h.z.OpenIzipayForm(r.Context(), req.Authorization, f)
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	if s.TypeForm != c.Render.TypeForm || s.Origin != origin {
		// The token already opened a form elsewhere (another mode or page).
		h.fail(w, http.StatusConflict, errTokenMismatch, "this token already opened a form in another mode or page; generate a new token")
		return
	}
	locale := c.locale()
	formURL := h.base + "/pay/" + url.PathEscape(d.Payment.ClientSecret) + "?locale=" + locale
	writeJSON(w, http.StatusOK, map[string]any{"code": "00", "message": "OK", "response": map[string]any{
		"clientSecret": d.Payment.ClientSecret, "formUrl": formURL, "typeForm": s.TypeForm, "locale": locale,
		"paymentId": d.Payment.ID}})
}

// result is POST /payments/v1/result: the signed result of the token's
// payment as it is now, for callbackResponse.
func (h *Handler) result(w http.ResponseWriter, r *http.Request) {
	cors(w, r)
	var req struct {
		Authorization string `json:"authorization"`
	}
	if err := readJSON(w, r, &req); err != nil {
		h.fail(w, http.StatusBadRequest, errBody, err.Error())
		return
	}
	s, err := h.z.IzipaySession(r.Context(), req.Authorization)
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	res, err := h.build(r, s)
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (h *Handler) build(r *http.Request, s *engine.IzipaySession) (*Result, error) {
	o, err := h.z.IzipayOutcome(r.Context(), s)
	if err != nil {
		return nil, err
	}
	return buildResult(o)
}

var postPage = template.Must(template.New("post").Parse(`<!doctype html>
<html lang="es"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer"><title>Izipay</title></head>
<body><form id="f" method="post" action="{{.Action}}">
{{range .Fields}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<noscript><button type="submit">Continuar / Continue</button></noscript></form>
<script nonce="{{.Nonce}}">document.getElementById('f').submit();</script></body></html>`))

// redirect is where Kassa's hosted form returns in redirect mode (the
// payment's return_url and cancel_url). It checks Kassa's signature of the
// return, then POSTs Izipay's signed result from the browser to
// render.redirectUrls: onSuccess when paid, onCancel when the shopper
// canceled, onError otherwise. Fields are form-encoded: code, message,
// messageUser, messageUserEng, transactionId, payloadHttp, signature.
func (h *Handler) redirect(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s, err := h.z.IzipaySessionByPayment(r.Context(), q.Get("payment_id"))
	if err != nil {
		http.Error(w, "unknown payment", http.StatusNotFound)
		return
	}
	st, err := h.eng.MerchantSettings(r.Context(), s.MerchantID)
	if err != nil {
		h.log.Error("izipay redirect", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if _, _, err := resultsig.VerifyQuery(st.ResultSigningSecret, q); err != nil {
		http.Error(w, "the return is not signed by Kassa", http.StatusBadRequest)
		return
	}
	res, err := h.build(r, s)
	if err != nil {
		h.log.Error("izipay redirect", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	target := s.OnError
	switch res.Code {
	case codeOK:
		target = s.OnSuccess
	case codeCanceledByUser:
		target = s.OnCancel
	}
	type field struct{ Name, Value string }
	fields := []field{{"code", res.Code}, {"message", res.Message}, {"messageUser", res.MessageUser},
		{"messageUserEng", res.MessageUserEng}, {"transactionId", res.TransactionID}, {"payloadHttp", res.PayloadHTTP},
		{"signature", res.Signature}}
	var nb [16]byte
	rand.Read(nb[:])
	nonce := base64.RawURLEncoding.EncodeToString(nb[:])
	u, _ := url.Parse(target)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; form-action "+u.Scheme+"://"+u.Host+
		"; frame-ancestors 'none'; base-uri 'none'")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	postPage.Execute(w, map[string]any{"Action": target, "Fields": fields, "Nonce": nonce})
}
