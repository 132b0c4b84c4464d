package izipay

import (
	"net/http"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
)

// Error codes of Token/Generate and LoadForm (docs/izipay.md). Izipay's own
// error bodies are not public; these keep its envelope (code != "00",
// message) so merchant code that checks code == "00" behaves.
const (
	errTransactionID = "T01" // transactionId header missing or not 5-40 letters/digits
	errCredentials   = "T02" // merchantCode or publicKey wrong
	errOrderNumber   = "T03" // orderNumber not 5-15 letters/digits
	errAmount        = "T04" // amount not a positive decimal with ≤ 2 decimals
	errField         = "T05" // requestSource wrong or a field missing
	errBody          = "T06" // the body is not JSON
	errTokenExpired  = "T07" // the token's 15 minutes are over
	errTokenMismatch = "T08" // config's transactionId/orderNumber/amount/merchantCode differ from the token's
	errTokenInvalid  = "T09" // unknown token
	errConfig        = "V01" // config invalid (Errors lists the fields)
	errAction        = "V02" // action not supported by Kassa
	errInternal      = "99"
)

// apiError is the error envelope: Izipay's code/message plus the friendly
// messages its results carry, and the offending fields.
type apiError struct {
	Code           string       `json:"code"`
	Message        string       `json:"message"`
	MessageUser    string       `json:"messageUser"`
	MessageUserEng string       `json:"messageUserEng"`
	Errors         []fieldError `json:"errors,omitempty"`
	Response       any          `json:"response"`
}

type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (h *Handler) fail(w http.ResponseWriter, status int, code, message string, fields ...fieldError) {
	writeJSON(w, status, apiError{Code: code, Message: message, MessageUser: "No se pudo procesar la solicitud: " + message,
		MessageUserEng: "The request could not be processed: " + message, Errors: fields})
}

// failErr answers an engine error with the Izipay code its field names.
func (h *Handler) failErr(w http.ResponseWriter, r *http.Request, err error) {
	var ke *kassa.Error
	e, ok := err.(*kassa.Error)
	if !ok {
		h.log.Error("izipay", "path", r.URL.Path, "err", err)
		h.fail(w, http.StatusInternalServerError, errInternal, "internal error; try again")
		return
	}
	ke = e
	code, status := errConfig, http.StatusBadRequest
	switch {
	case ke.Code == "izipay_credentials_invalid":
		code, status = errCredentials, http.StatusUnauthorized
	case ke.Code == "izipay_token_expired":
		code, status = errTokenExpired, http.StatusUnauthorized
	case ke.Code == "izipay_token_invalid":
		code, status = errTokenInvalid, http.StatusUnauthorized
	case ke.Code == "izipay_token_mismatch":
		code = errTokenMismatch
	case ke.Param == "transactionId":
		code = errTransactionID
	case ke.Param == "orderNumber":
		code = errOrderNumber
	case ke.Param == "amount":
		code = errAmount
	case ke.Param == "requestSource" || ke.Param == "merchantCode" || ke.Param == "publicKey":
		code = errField
	case ke.Kind == kassa.ECONFLICT:
		status = http.StatusConflict
	case ke.Kind == kassa.ENOTFOUND:
		status = http.StatusNotFound
	}
	var fields []fieldError
	if ke.Param != "" {
		fields = []fieldError{{Field: ke.Param, Message: ke.Message}}
	}
	h.fail(w, status, code, ke.Message, fields...)
}

// tokenRequest is Token/Generate's body.
type tokenRequest struct {
	RequestSource string     `json:"requestSource"`
	MerchantCode  flexString `json:"merchantCode"`
	OrderNumber   flexString `json:"orderNumber"`
	PublicKey     string     `json:"publicKey"`
	Amount        flexString `json:"amount"`
}

// tokenGenerate is POST /security/v1/Token/Generate. The answer has
// exactly Izipay's shape, {"code":"00","message":"OK","response":{"token",
// "userOrg","userScoring"}}: a strictly typed client (a Java DTO that fails
// on unknown properties) must read it as it reads Izipay's.
func (h *Handler) tokenGenerate(w http.ResponseWriter, r *http.Request) {
	cors(w, r)
	var req tokenRequest
	if err := readJSON(w, r, &req); err != nil {
		h.fail(w, http.StatusBadRequest, errBody, err.Error())
		return
	}
	token, s, err := h.z.IssueIzipayToken(r.Context(), engine.IzipayTokenRequest{
		TransactionID: r.Header.Get("transactionId"), MerchantCode: string(req.MerchantCode), PublicKey: req.PublicKey,
		OrderNumber: string(req.OrderNumber), Amount: string(req.Amount), RequestSource: req.RequestSource})
	if err != nil {
		h.failErr(w, r, err)
		return
	}
	w.Header().Set("transactionId", s.TransactionID)
	writeJSON(w, http.StatusOK, map[string]any{"code": "00", "message": "OK", "response": map[string]any{
		"token": token, "userOrg": "", "userScoring": ""}})
}
