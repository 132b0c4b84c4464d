package izi

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
)

//go:embed templates assets
var files embed.FS

var pages = template.Must(template.ParseFS(files, "templates/*.html"))

// pagePolicy: the pages run no script at all (the order page refreshes
// itself with a meta refresh) and may not be framed.
const pagePolicy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

func pageHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", pagePolicy)
	hd.Set("Referrer-Policy", "no-referrer") // the secret is in the URL
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
}

func (h *Handler) asset(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("file") != "order.css" {
		http.NotFound(w, r)
		return
	}
	b, err := fs.ReadFile(files, "assets/order.css")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(b)
}

type langLink struct {
	Code, URL string
	Current   bool
}

type timelineStep struct {
	Status           kassa.OrderStatus
	Label, When, ISO string
}

type pageView struct {
	Lang, Title, Base   string
	Refresh             int
	Langs               []langLink
	T                   map[string]string
	Status              kassa.OrderStatus
	StatusLabel         string
	StatusText          string
	InAmount, OutAmount string
	HideOut             bool
	ToValues            []kassa.OrderValue
	Payable             bool
	PayLabel            string
	Self                string
	OrderURL            string
	PaymentURL          string
	ReturnURL           string
	Timeline            []timelineStep
	Error               string
}

func (h *Handler) base() string { return h.eng.Config().BaseURL }

func (h *Handler) render(w http.ResponseWriter, code int, name string, v *pageView) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, v); err != nil {
		h.log.Error("izi page", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	pageHeaders(w)
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// lang is the page language from the path; unknown ones get English.
func lang(r *http.Request) string {
	l := r.PathValue("lang")
	if _, ok := texts[l]; ok {
		return l
	}
	return "en"
}

// notFound shows nothing of any order: an unknown UID and a wrong secret
// look the same.
func (h *Handler) notFound(w http.ResponseWriter, r *http.Request, err error) {
	l := lang(r)
	if kassa.ErrorKind(err) != kassa.ENOTFOUND {
		h.log.Error("izi page", "path", r.URL.Path, "err", err)
	}
	v := &pageView{Lang: l, Title: texts[l]["notfound_title"], Base: h.base(), T: texts[l]}
	h.render(w, http.StatusNotFound, "notfound.html", v)
}

func payable(s kassa.OrderStatus) bool {
	return s == kassa.OrderNew || s == kassa.OrderWaitPayment || s == kassa.OrderErrorPayment
}

func (h *Handler) baseView(r *http.Request, o *kassa.Order, kind string) *pageView {
	l := lang(r)
	t := texts[l]
	uid := strconv.FormatInt(o.UID, 10)
	v := &pageView{Lang: l, Base: h.base(), T: t, Status: o.Status, StatusLabel: statusLabel(l, o.Status),
		InAmount:  formatMoney(o.InAmount, o.From, l),
		OutAmount: formatMoney(o.OutAmount, o.To, l), HideOut: o.HideOutData, ToValues: o.ToValues, Payable: payable(o.Status),
		OrderURL:   h.base() + "/" + l + "/order/" + uid + "/" + o.Secret,
		PaymentURL: h.base() + "/" + l + "/payment/" + uid + "/" + o.Secret,
	}
	for _, c := range engine.OrderLangs {
		v.Langs = append(v.Langs, langLink{Code: c, URL: h.base() + "/" + c + "/" + kind + "/" + uid + "/" + o.Secret, Current: c == l})
	}
	return v
}

// paymentPage shows what to pay and a button to Kassa's card form.
func (h *Handler) paymentPage(w http.ResponseWriter, r *http.Request) {
	o, err := h.order(r.Context(), r)
	if err != nil {
		h.notFound(w, r, err)
		return
	}
	v := h.baseView(r, o, "payment")
	v.Title = strings.ReplaceAll(v.T["payment_title"], "{uid}", strconv.FormatInt(o.UID, 10))
	v.Self = v.PaymentURL
	v.PayLabel = strings.ReplaceAll(v.T["pay"], "{amount}", v.InAmount)
	if o.Status == kassa.OrderErrorPayment {
		v.Error = v.T["payment_failed"]
	}
	h.render(w, http.StatusOK, "payment.html", v)
}

// pay moves the order to waitPayment and sends the shopper to the card
// form of its payment (a POST, so that no link prefetch changes the order).
func (h *Handler) pay(w http.ResponseWriter, r *http.Request) {
	uid, err := strconv.ParseInt(r.PathValue("uid"), 10, 64)
	if err != nil {
		h.notFound(w, r, kassa.Errorf(kassa.ENOTFOUND, "order_not_found", "not found"))
		return
	}
	o, p, err := h.eng.StartOrderPayment(r.Context(), uid, r.PathValue("secret"))
	if kassa.ErrorKind(err) == kassa.ENOTFOUND {
		h.notFound(w, r, err)
		return
	}
	if err != nil {
		// Not payable (any more): the order page says why.
		if o, oerr := h.order(r.Context(), r); oerr == nil {
			http.Redirect(w, r, h.baseView(r, o, "order").OrderURL, http.StatusSeeOther)
			return
		}
		h.notFound(w, r, err)
		return
	}
	_ = o
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, h.base()+"/pay/"+p.ClientSecret+"?locale="+url.QueryEscape(lang(r)), http.StatusSeeOther)
}

// orderPage shows the order's status and timeline; on a final status, the
// way back to the merchant (clientCallbackUrl?status=success|error).
func (h *Handler) orderPage(w http.ResponseWriter, r *http.Request) {
	o, err := h.order(r.Context(), r)
	if err != nil {
		h.notFound(w, r, err)
		return
	}
	v := h.baseView(r, o, "order")
	v.Title = strings.ReplaceAll(v.T["order_title"], "{uid}", strconv.FormatInt(o.UID, 10))
	v.StatusText = texts[v.Lang]["text."+string(o.Status)]
	for _, s := range o.History {
		v.Timeline = append(v.Timeline, timelineStep{Status: s.Status, Label: statusLabel(v.Lang, s.Status),
			When: s.At.UTC().Format("2006-01-02 15:04:05 UTC"), ISO: s.At.UTC().Format(time.RFC3339)})
	}
	if o.Status.Final() {
		if o.ClientCallbackURL != "" {
			v.ReturnURL = callbackURL(o.ClientCallbackURL, o.Status.Success())
		}
	} else {
		v.Refresh = 5
	}
	h.render(w, http.StatusOK, "order.html", v)
}

// callbackURL adds status=success|error to the merchant's URL, keeping its
// own query.
func callbackURL(raw string, success bool) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	q := u.Query()
	if success {
		q.Set("status", "success")
	} else {
		q.Set("status", "error")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// formatMoney renders an amount for people: "100.00 PEN" (en),
// "100,00 PEN" (es, ru).
func formatMoney(amount int64, currency, l string) string {
	s := kassa.FormatAmount(amount, currency)
	if l == "es" || l == "ru" {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s + " " + currency
}

func statusLabel(l string, s kassa.OrderStatus) string {
	if t, ok := texts[l]["status."+string(s)]; ok {
		return t
	}
	return string(s)
}
