package izipay

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
)

// Result is Izipay's payment result: what callbackResponse receives, what
// redirect mode POSTs and the IPN body. payloadHttp is the exact JSON text
// that signature covers; the sibling fields repeat it for convenience, and
// receivers must trust only payloadHttp once the signature checks.
type Result struct {
	Code           string    `json:"code"`
	Message        string    `json:"message"`
	MessageUser    string    `json:"messageUser"`
	MessageUserEng string    `json:"messageUserEng"`
	TransactionID  string    `json:"transactionId"`
	Response       *Response `json:"response,omitempty"`
	PayloadHTTP    string    `json:"payloadHttp,omitempty"`
	Signature      string    `json:"signature,omitempty"`
}

// payload is the signed part, in Izipay's field order.
type payload struct {
	Code           string    `json:"code"`
	Message        string    `json:"message"`
	MessageUser    string    `json:"messageUser"`
	MessageUserEng string    `json:"messageUserEng"`
	TransactionID  string    `json:"transactionId"`
	Response       *Response `json:"response"`
}

// Response is the result's detail.
type Response struct {
	PayMethod      string            `json:"payMethod"`
	Order          []Order           `json:"order"`
	Card           Card              `json:"card"`
	Billing        map[string]string `json:"billing"`
	Merchant       Merchant          `json:"merchant"`
	Token          Token             `json:"token"`
	Authentication Authentication    `json:"authentication"`
	CustomFields   []string          `json:"customFields"`
}

// Order is one transaction of the result. Kassa fills uniqueId with the
// processor's reference and referenceNumber with the Kassa payment ID,
// which is what Kassa's refund API takes.
type Order struct {
	PayMethodAuthorization string `json:"payMethodAuthorization"`
	CodeAuth               string `json:"codeAuth"`
	Currency               string `json:"currency"`
	Amount                 string `json:"amount"`
	Installment            string `json:"installment"`
	Deferred               string `json:"deferred"`
	OrderNumber            string `json:"orderNumber"`
	StateMessage           string `json:"stateMessage"`
	DateTransaction        string `json:"dateTransaction"`
	TimeTransaction        string `json:"timeTransaction"`
	UniqueID               string `json:"uniqueId"`
	ReferenceNumber        string `json:"referenceNumber"`
}

// Card is the masked card.
type Card struct {
	Brand string `json:"brand"`
	Pan   string `json:"pan"`
	Save  string `json:"save"`
}

// Merchant names the merchant.
type Merchant struct {
	MerchantCode    string `json:"merchantCode"`
	FacilitatorCode string `json:"facilitatorCode"`
}

// Token echoes the buyer id; Kassa does not tokenize cards, so the card
// token and alias stay empty.
type Token struct {
	MerchantBuyerID string `json:"merchantBuyerId"`
	CardToken       string `json:"cardToken"`
	Alias           string `json:"alias"`
}

// Authentication is the 3-D Secure result ("" when none ran).
type Authentication struct {
	Result string `json:"result"`
}

// extra is what LoadForm's config contributes to results, stored with the
// session.
type extra struct {
	Billing         map[string]string `json:"billing,omitempty"`
	MerchantBuyerID string            `json:"merchantBuyerId,omitempty"`
	FacilitatorCode string            `json:"facilitatorCode,omitempty"`
	CustomFields    []string          `json:"customFields,omitempty"`
	Language        string            `json:"language,omitempty"`
	// Appearance is the form's look asked for by config.appearance; it is
	// not part of results.
	Appearance *appearance `json:"appearance,omitempty"`
}

// Sign returns base64(HMAC-SHA256(hashKey, payloadHttp)), Izipay's signature.
func Sign(hashKey, payloadHTTP string) string {
	m := hmac.New(sha256.New, []byte(hashKey))
	m.Write([]byte(payloadHTTP))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Verify checks a result's signature over its payloadHttp in constant time,
// as a merchant server does.
func Verify(hashKey string, r *Result) error {
	if r.PayloadHTTP == "" || r.Signature == "" {
		return errors.New("izipay: result has no payloadHttp or signature")
	}
	got, err := base64.StdEncoding.DecodeString(r.Signature)
	if err != nil {
		return errors.New("izipay: signature is not base64")
	}
	m := hmac.New(sha256.New, []byte(hashKey))
	m.Write([]byte(r.PayloadHTTP))
	if !hmac.Equal(got, m.Sum(nil)) {
		return errors.New("izipay: signature does not match")
	}
	return nil
}

// lima is Peru's time (UTC-5, no daylight saving): Izipay's dates and times.
var lima = time.FixedZone("PET", -5*3600)

// brands maps Kassa's card brands to Izipay's codes.
var brands = map[string]string{"visa": "VS", "mastercard": "MC", "amex": "AE", "diners": "DN",
	"discover": "DS", "jcb": "JC", "unionpay": "UP"}

// Result codes other than Izipay's "00"; docs/izipay.md lists them.
const (
	codeOK             = "00"
	codeDeclined       = "05"
	codeCanceledByUser = "C01"
	codeCanceled       = "C02"
	codeProcessing     = "09"
	codeExpired        = "T07"
)

var declineCodes = map[string]string{
	"insufficient_funds": "51",
	"expired_card":       "54",
	"incorrect_cvc":      "N7",
	"processing_error":   "96",
}

// status is a result's code and messages for payment p.
func status(p *kassa.Payment) (code, msg, user, userEng, state string) {
	switch {
	case p.Status == kassa.StatusSucceeded || p.Status == kassa.StatusRequiresCapture:
		return codeOK, "OK", "Operación exitosa", "Successful", "Autorizado"
	case p.Status == kassa.StatusProcessing:
		return codeProcessing, "Transaction in process", "Operación en proceso", "Payment in process", "En proceso"
	case p.Status == kassa.StatusCanceled && p.CanceledReason == "abandoned":
		return codeCanceledByUser, "Canceled by the user", "Operación cancelada por el usuario", "Canceled by the user", "Cancelado"
	case p.Status == kassa.StatusCanceled:
		return codeCanceled, "Canceled: " + p.CanceledReason, "Operación cancelada", "Payment canceled", "Cancelado"
	case p.LastError != nil:
		c := declineCodes[p.LastError.DeclineCode]
		if c == "" {
			c = declineCodes[p.LastError.Code]
		}
		if c == "" {
			c = codeDeclined
		}
		return c, p.LastError.Message, "Operación denegada", "Transaction denied", "Denegado"
	}
	return codeExpired, "The form expired before the payment", "La sesión de pago expiró", "The payment session expired", "Expirado"
}

// buildResult renders the signed result of a session's payment as it is now.
func buildResult(o *engine.IzipayOutcome) (*Result, error) {
	p, s := o.Payment, o.Session
	var ex extra
	if s.Extra != "" {
		if err := json.Unmarshal([]byte(s.Extra), &ex); err != nil {
			return nil, err
		}
	}
	code, msg, user, userEng, state := status(p)
	// The charge: the latest authorize or sale.
	var charge *kassa.Transaction
	for i := range o.Transactions {
		t := &o.Transactions[i]
		if t.Type == kassa.TxnSale || t.Type == kassa.TxnAuthorize {
			charge = t
		}
	}
	when := p.Updated
	ord := Order{PayMethodAuthorization: "CARD", Currency: p.Currency, Amount: kassa.FormatAmount(p.Amount, p.Currency),
		Installment: "00", Deferred: "0", OrderNumber: s.OrderNumber, StateMessage: state, ReferenceNumber: p.ID}
	if charge != nil {
		ord.CodeAuth, ord.UniqueID, when = charge.AuthorizationCode, charge.ProcessorRef, charge.Updated
	}
	when = when.In(lima)
	ord.DateTransaction, ord.TimeTransaction = when.Format("20060102"), when.Format("150405")
	card := Card{Save: "false"}
	if p.Card != nil {
		card.Brand = brands[p.Card.Brand]
		if card.Brand == "" {
			card.Brand = strings.ToUpper(p.Card.Brand)
		}
		card.Pan = "******" + p.Card.Last4
	}
	billing := ex.Billing
	if billing == nil {
		billing = map[string]string{}
	}
	custom := make([]string, 10)
	copy(custom, ex.CustomFields)
	resp := &Response{PayMethod: "CARD", Order: []Order{ord}, Card: card, Billing: billing,
		Merchant:     Merchant{MerchantCode: s.MerchantCode, FacilitatorCode: ex.FacilitatorCode},
		Token:        Token{MerchantBuyerID: ex.MerchantBuyerID},
		CustomFields: custom}
	body, err := json.Marshal(payload{Code: code, Message: msg, MessageUser: user, MessageUserEng: userEng,
		TransactionID: s.TransactionID, Response: resp})
	if err != nil {
		return nil, err
	}
	return &Result{Code: code, Message: msg, MessageUser: user, MessageUserEng: userEng, TransactionID: s.TransactionID,
		Response: resp, PayloadHTTP: string(body), Signature: Sign(o.Credentials.HashKey, string(body))}, nil
}
