package api

import (
	"errors"
	"net/http"

	"github.com/kassa-pay/kassa"
)

// errorBody is the error envelope: {"error":{"type","code","message","param"}}.
type errorBody struct {
	Error errorObject `json:"error"`
}

type errorObject struct {
	Type        string               `json:"type"`
	Code        string               `json:"code"`
	Message     string               `json:"message"`
	Param       string               `json:"param,omitempty"`
	DeclineCode string               `json:"decline_code,omitempty"`
	Payment     *kassa.PaymentObject `json:"payment,omitempty"`
}

// status maps error kinds to HTTP statuses and error types. This is the
// only place in the tree that does so.
func status(kind string) (int, string) {
	switch kind {
	case kassa.EINVALID:
		return http.StatusBadRequest, "invalid_request_error"
	case kassa.ENOTFOUND:
		return http.StatusNotFound, "invalid_request_error"
	case kassa.ECONFLICT:
		return http.StatusConflict, "invalid_request_error"
	case kassa.ECARD:
		return http.StatusPaymentRequired, "card_error"
	case kassa.EUNAUTHORIZED:
		return http.StatusUnauthorized, "authentication_error"
	case kassa.EIDEMPOTENCY:
		return http.StatusBadRequest, "idempotency_error"
	}
	return http.StatusInternalServerError, "api_error"
}

// writeError answers err. Internal errors are logged with their detail and
// answered without it.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error, payment *kassa.PaymentObject) {
	var e *kassa.Error
	if !errors.As(err, &e) {
		s.log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		e = &kassa.Error{Kind: kassa.EINTERNAL, Code: "internal_error", Message: "An internal error occurred; the request may be retried with the same Idempotency-Key."}
	}
	code, typ := status(e.Kind)
	if e.Code == "body_too_large" {
		code = http.StatusRequestEntityTooLarge
	}
	if e.Code == "unsupported_media_type" {
		code = http.StatusUnsupportedMediaType
	}
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="kassa"`)
	}
	writeJSON(w, code, errorBody{Error: errorObject{Type: typ, Code: e.Code, Message: e.Message, Param: e.Param,
		DeclineCode: e.DeclineCode, Payment: payment}})
}
