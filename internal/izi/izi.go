// Package izi speaks izi.exchange's (BoxExchanger's) merchant order
// protocol over Kassa's orders: the order API (public/exchanger/order/create
// and order/get), the shopper's payment and order pages, and the IPN format
// (ipn.go). It translates and calls the engine; it never touches storage.
//
// Routes (under the gateway's base URL):
//
//	POST /public/exchanger/order/create   form-encoded or JSON; merchant's secret key
//	POST /public/exchanger/order/get      orderUID + orderSecret (GET with a query works too)
//	GET  /{lang}/payment/{uid}/{secret}   what to pay; POST: go to Kassa's card form
//	GET  /{lang}/order/{uid}/{secret}     status timeline and the way back to the merchant
//	GET  /izi/assets/{file}               the pages' stylesheet
package izi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
)

// Handler serves the izi.exchange-compatible surface.
type Handler struct {
	eng *engine.Engine
	log *slog.Logger
	mux *http.ServeMux
}

// New returns the handler over eng.
func New(eng *engine.Engine, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	h := &Handler{eng: eng, log: log, mux: http.NewServeMux()}
	h.mux.HandleFunc("POST /public/exchanger/order/create", h.create)
	h.mux.HandleFunc("POST /public/exchanger/order/get", h.get)
	h.mux.HandleFunc("GET /public/exchanger/order/get", h.get)
	h.mux.HandleFunc("GET /public/exchanger/route/get", h.routes)
	h.mux.HandleFunc("POST /public/exchanger/route/get", h.routes)
	for _, p := range []string{"/{lang}/payment/{uid}/{secret}", "/{lang}/payment/{uid}/{secret}/{$}"} {
		h.mux.HandleFunc("GET "+p, h.paymentPage)
		h.mux.HandleFunc("POST "+p, h.pay)
	}
	h.mux.HandleFunc("GET /{lang}/order/{uid}/{secret}", h.orderPage)
	h.mux.HandleFunc("GET /{lang}/order/{uid}/{secret}/{$}", h.orderPage)
	h.mux.HandleFunc("GET /izi/assets/{file}", h.asset)
	return h
}

// Register mounts the handler's paths on mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle("/public/exchanger/", h)
	mux.Handle("/izi/", h)
	for _, l := range engine.OrderLangs {
		mux.Handle("/"+l+"/", h)
	}
}

// ServeHTTP serves the routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// ---- API envelope

type envelope struct {
	Success   bool      `json:"success"`
	Data      any       `json:"data,omitempty"`
	Error     *apiError `json:"error,omitempty"`
	LatencyMS int64     `json:"latency_ms"`
	RequestID string    `json:"requestId"`
}

// apiError is izi.exchange's error object, plus Kassa's code and param.
type apiError struct {
	APIError  bool           `json:"apiError"`
	Message   string         `json:"message"`
	ErrorType string         `json:"errorType"`
	ErrorCode int            `json:"errorCode"`
	Code      string         `json:"code"`
	Param     string         `json:"param,omitempty"`
	Object    *errorFieldRef `json:"object,omitempty"`
	Level     int            `json:"level"`
}

// errorFieldRef names the offending detail, as izi.exchange does for toValues.
type errorFieldRef struct {
	FieldID   string `json:"fieldId"`
	NameField string `json:"nameField"`
	Err       string `json:"err"`
	Type      string `json:"type"`
}

// errorCodes are the numeric errorCode values (documented in docs/orders.md).
var errorCodes = map[string]int{
	"parameter_missing": 100, "parameter_invalid": 101, "parameter_invalid_type": 101, "parameter_too_long": 101,
	"amount_invalid": 102, "amount_too_large": 102, "amount_out_of_range": 103, "agreement_required": 104,
	"to_values_invalid": 105, "route_not_found": 106, "order_not_found": 107, "url_invalid": 108,
	"currency_unsupported": 101, "body_invalid": 109, "unsupported_media_type": 109,
	"api_key_missing": 401, "invalid_api_key": 401, "secret_key_required": 401,
}

// httpStatus maps error kinds to HTTP statuses for this protocol's
// envelope (the REST API's mapping is internal/api's; izi clients read the
// success flag, the status is for HTTP tooling).
func httpStatus(kind string) int {
	switch kind {
	case kassa.EINVALID, kassa.EIDEMPOTENCY:
		return http.StatusBadRequest
	case kassa.ENOTFOUND:
		return http.StatusNotFound
	case kassa.ECONFLICT:
		return http.StatusConflict
	case kassa.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case kassa.ECARD:
		return http.StatusPaymentRequired
	}
	return http.StatusInternalServerError
}

var toValuesParam = regexp.MustCompile(`^toValues(?:\[(\d+)\])?`)
var toValuesKey = regexp.MustCompile(`isn't valid: (\S+) \((.*)\)$`)

func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, start time.Time, err error) {
	var e *kassa.Error
	if !errors.As(err, &e) {
		h.log.Error("izi", "path", r.URL.Path, "err", err)
		e = &kassa.Error{Kind: kassa.EINTERNAL, Code: "internal_error", Message: "An internal error occurred."}
	}
	ae := &apiError{APIError: true, Message: e.Message, ErrorType: "api", ErrorCode: errorCodes[e.Code], Code: e.Code, Param: e.Param}
	if ae.ErrorCode == 0 {
		ae.ErrorCode = httpStatus(e.Kind)
	}
	if e.Code == "to_values_invalid" {
		ref := &errorFieldRef{Type: "toValues", Err: "regexp"}
		if m := toValuesKey.FindStringSubmatch(e.Message); m != nil {
			ref.FieldID, ref.NameField = m[1], m[1]
			if m[2] != "regexp" {
				ref.Err = m[2]
			}
		}
		ae.Object = ref
	}
	writeJSON(w, httpStatus(e.Kind), envelope{Error: ae, LatencyMS: time.Since(start).Milliseconds(), RequestID: requestID(start)})
}

func requestID(start time.Time) string {
	return strconv.FormatInt(start.UnixMilli(), 10) + "-" + kassa.RandomToken(5)
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

// ---- request decoding

const maxBody = 64 << 10

// params reads a form-encoded or JSON body (or the query of a GET) into
// flat izi-style keys: toValues[0][key], agreement, … JSON arrays of
// {key,value} objects and nested objects are flattened the same way, and
// JSON numbers keep their literal text (amounts never pass through float64).
func params(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	if r.Method == http.MethodGet {
		return r.URL.Query(), nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return nil, kassa.Errorf(kassa.EINVALID, "body_invalid", "request body too large or unreadable")
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case mt == "application/json" || (mt == "" && bytes.HasPrefix(bytes.TrimSpace(b), []byte("{"))):
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			return nil, kassa.Errorf(kassa.EINVALID, "body_invalid", "request body is not a JSON object")
		}
		out := url.Values{}
		flatten(out, "", m)
		return out, nil
	case mt == "application/x-www-form-urlencoded" || mt == "":
		v, err := url.ParseQuery(string(b))
		if err != nil {
			return nil, kassa.Errorf(kassa.EINVALID, "body_invalid", "request body is not form-encoded")
		}
		return v, nil
	}
	return nil, kassa.Errorf(kassa.EINVALID, "unsupported_media_type", "Content-Type must be application/x-www-form-urlencoded or application/json")
}

func flatten(out url.Values, prefix string, v any) {
	key := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "[" + k + "]"
	}
	switch x := v.(type) {
	case map[string]any:
		for k, vv := range x {
			flatten(out, key(k), vv)
		}
	case []any:
		for i, vv := range x {
			flatten(out, key(strconv.Itoa(i)), vv)
		}
	case json.Number:
		out.Set(prefix, x.String())
	case string:
		out.Set(prefix, x)
	case bool:
		out.Set(prefix, strconv.FormatBool(x))
	case nil:
	default:
		out.Set(prefix, fmt.Sprint(x))
	}
}

// values collects name[i][key]/name[i][value] pairs in index order. Indexes
// must be 0..n-1 without gaps.
func values(p url.Values, name string) ([]kassa.OrderValue, error) {
	re := regexp.MustCompile(`^` + name + `\[(\d+)\]\[(key|value|name)\]$`)
	byIdx := map[int]*kassa.OrderValue{}
	for k, vs := range p {
		m := re.FindStringSubmatch(k)
		if m == nil {
			if strings.HasPrefix(k, name+"[") {
				return nil, kassa.Invalid(k, "parameter_invalid", "%s: use %s[i][key] and %s[i][value]", k, name, name)
			}
			continue
		}
		i, err := strconv.Atoi(m[1])
		if err != nil || i >= 100 {
			return nil, kassa.Invalid(k, "parameter_invalid", "%s: index out of range", k)
		}
		if byIdx[i] == nil {
			byIdx[i] = &kassa.OrderValue{}
		}
		switch m[2] {
		case "key":
			byIdx[i].Key = vs[0]
		case "value":
			byIdx[i].Value = vs[0]
		}
	}
	idx := make([]int, 0, len(byIdx))
	for i := range byIdx {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	out := make([]kassa.OrderValue, 0, len(idx))
	for n, i := range idx {
		if i != n {
			return nil, kassa.Invalid(fmt.Sprintf("%s[%d]", name, n), "parameter_missing", "%s[%d] is missing (indexes start at 0, without gaps)", name, n)
		}
		out = append(out, *byIdx[i])
	}
	return out, nil
}

func boolParam(p url.Values, name string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(p.Get(name))) {
	case "", "false", "0", "off", "no":
		return false, nil
	case "true", "1", "on", "yes":
		return true, nil
	}
	return false, kassa.Invalid(name, "parameter_invalid", "%s must be true or false", name)
}

// authenticate requires the merchant's secret key: Authorization: Bearer
// sk_…, or HTTP Basic with the key as user name.
func (h *Handler) authenticate(r *http.Request) (kassa.Principal, error) {
	key := ""
	a := r.Header.Get("Authorization")
	switch {
	case strings.HasPrefix(a, "Bearer "):
		key = strings.TrimSpace(a[len("Bearer "):])
	case strings.HasPrefix(a, "Basic "):
		if raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(a[len("Basic "):])); err == nil {
			key, _, _ = strings.Cut(string(raw), ":")
		}
	}
	if key == "" {
		return kassa.Principal{}, kassa.Errorf(kassa.EUNAUTHORIZED, "api_key_missing", "send your secret key as 'Authorization: Bearer sk_…'")
	}
	pr, err := h.eng.Authenticate(r.Context(), key)
	if err != nil {
		return pr, err
	}
	if pr.KeyKind != kassa.KeySecret {
		return pr, kassa.Errorf(kassa.EUNAUTHORIZED, "secret_key_required", "orders are created with the secret key (sk_…), not the publishable key")
	}
	return pr, nil
}

// ---- order/create and order/get

func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	pr, err := h.authenticate(r)
	if err != nil {
		h.writeError(w, r, start, err)
		return
	}
	p, err := params(w, r)
	if err != nil {
		h.writeError(w, r, start, err)
		return
	}
	op := engine.OrderParams{RouteID: p.Get("routeId"), Partner: p.Get("partner"), Amount: p.Get("amount"),
		Lang: p.Get("lang"), ClientCallbackURL: p.Get("clientCallbackUrl"), IPNURL: p.Get("ipnUrl"), IPNSecret: p.Get("ipnSecret")}
	var errs []error
	var e1, e2, e3, e4, e5, e6 error
	op.FromValues, e1 = values(p, "fromValues")
	op.ToValues, e2 = values(p, "toValues")
	op.RouteValues, e3 = values(p, "routeValues")
	op.Agreement, e4 = boolParam(p, "agreement")
	op.HideOutData, e5 = boolParam(p, "hideOutData")
	op.IPNSingleTry, e6 = boolParam(p, "ipnSingleTry")
	errs = append(errs, e1, e2, e3, e4, e5, e6)
	for _, e := range errs {
		if e != nil {
			h.writeError(w, r, start, e)
			return
		}
	}
	o, err := h.eng.CreateOrder(r.Context(), pr, op)
	if err != nil {
		h.writeError(w, r, start, err)
		return
	}
	writeJSON(w, http.StatusOK, envelope{Success: true, Data: h.view(o, true), LatencyMS: time.Since(start).Milliseconds(), RequestID: requestID(start)})
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	p, err := params(w, r)
	if err != nil {
		h.writeError(w, r, start, err)
		return
	}
	uidText, secret := p.Get("orderUID"), p.Get("orderSecret")
	uid, perr := strconv.ParseInt(uidText, 10, 64)
	if perr != nil || len(uidText) > 11 || secret == "" || len(secret) > 50 {
		h.writeError(w, r, start, kassa.Invalid("orderUID", "parameter_invalid", "orderUID (a number of at most 11 digits) and orderSecret (at most 50 characters) are required"))
		return
	}
	o, err := h.eng.OrderBySecret(r.Context(), uid, secret)
	if err != nil {
		h.writeError(w, r, start, err)
		return
	}
	writeJSON(w, http.StatusOK, envelope{Success: true, Data: h.view(o, false), LatencyMS: time.Since(start).Milliseconds(), RequestID: requestID(start)})
}

func (h *Handler) routes(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	pr, err := h.authenticate(r)
	if err != nil {
		h.writeError(w, r, start, err)
		return
	}
	rs, err := h.eng.Routes(r.Context(), pr.MerchantID)
	if err != nil {
		h.writeError(w, r, start, err)
		return
	}
	out := []map[string]any{}
	for _, rt := range rs {
		out = append(out, map[string]any{"_id": rt.ID, "from": currency(rt.From, rt.XMLFrom), "to": currency(rt.To, rt.XMLTo),
			"rate": json.Number(rt.Rate), "feePercent": json.Number(rt.FeePercent),
			"min": json.Number(Number(rt.Min, rt.From)), "max": json.Number(Number(rt.Max, rt.From)),
			"payoutMode": rt.PayoutMode, "toFields": rt.ToFields})
	}
	writeJSON(w, http.StatusOK, envelope{Success: true, Data: out, LatencyMS: time.Since(start).Milliseconds(), RequestID: requestID(start)})
}

func currency(code, xml string) map[string]string {
	return map[string]string{"name": code, "symbol": code, "xml": xml}
}

// view is the order as order/create and order/get answer it. Amounts are
// JSON numbers written as izi numbers from the exact decimal ("inAmount":100,
// "outAmount":26.73), the same text the IPN carries.
// The answer to create carries the ipn settings back; toValues are left
// out of order/get when the merchant asked to hide the recipient's details
// (fromValues, the sender's own, and routeValues are always shown).
func (h *Handler) view(o *kassa.Order, created bool) map[string]any {
	v := map[string]any{
		"_id": o.ID, "uid": o.UID, "secret": o.Secret, "status": o.Status,
		"route":    map[string]any{"_id": o.RouteID, "from": currency(o.From, o.XMLFrom), "to": currency(o.To, o.XMLTo)},
		"inAmount": json.Number(Number(o.InAmount, o.From)), "outAmount": json.Number(Number(o.OutAmount, o.To)),
		"xml_from": o.XMLFrom, "xml_to": o.XMLTo, "rate": json.Number(o.Rate), "feePercent": json.Number(o.FeePercent),
		"lang": o.Lang, "hideOutData": o.HideOutData, "partner": o.Partner,
		"payment_url": h.eng.PaymentPageURL(o), "order_url": h.eng.OrderPageURL(o),
		"createdAt": o.Created.UTC().Format(time.RFC3339), "history": o.Object(false).History,
	}
	if created || !o.HideOutData {
		tv := o.ToValues
		if tv == nil {
			tv = []kassa.OrderValue{}
		}
		v["toValues"] = tv
	}
	for name, vs := range map[string][]kassa.OrderValue{"fromValues": o.FromValues, "routeValues": o.RouteValues} {
		if vs == nil {
			vs = []kassa.OrderValue{}
		}
		v[name] = vs
	}
	if created {
		v["clientCallbackUrl"], v["ipnUrl"], v["ipnSingleTry"] = o.ClientCallbackURL, o.IPNURL, o.IPNSingleTry
	}
	return v
}

// ---- helpers shared with the pages

func (h *Handler) order(ctx context.Context, r *http.Request) (*kassa.Order, error) {
	uid, err := strconv.ParseInt(r.PathValue("uid"), 10, 64)
	if err != nil || len(r.PathValue("secret")) > 50 {
		return nil, kassa.Errorf(kassa.ENOTFOUND, "order_not_found", "No order matches this UID and secret.")
	}
	return h.eng.OrderBySecret(ctx, uid, r.PathValue("secret"))
}
