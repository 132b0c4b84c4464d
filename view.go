package kassa

import (
	"encoding/json"
	"time"
)

// The public JSON shapes of the core objects. They are part of the model
// because the same object appears in API responses and in event payloads
// (webhooks), which must agree byte for byte.

// PaymentObject is a payment as the API and events show it.
type PaymentObject struct {
	ID               string            `json:"id"`
	Object           string            `json:"object"`
	Status           PaymentStatus     `json:"status"`
	Amount           int64             `json:"amount"`
	Currency         string            `json:"currency"`
	OrderID          string            `json:"order_id,omitempty"`
	CaptureMethod    CaptureMethod     `json:"capture_method"`
	AmountCapturable int64             `json:"amount_capturable"`
	AmountCaptured   int64             `json:"amount_captured"`
	AmountRefunded   int64             `json:"amount_refunded"`
	ClientSecret     string            `json:"client_secret,omitempty"`
	CheckoutURL      string            `json:"checkout_url,omitempty"`
	Description      string            `json:"description,omitempty"`
	Customer         *Customer         `json:"customer,omitempty"`
	Billing          *Address          `json:"billing,omitempty"`
	Shipping         *Address          `json:"shipping,omitempty"`
	Items            []Item            `json:"items,omitempty"`
	ReturnURL        string            `json:"return_url,omitempty"`
	CancelURL        string            `json:"cancel_url,omitempty"`
	NotifyURL        string            `json:"notify_url,omitempty"`
	Metadata         map[string]string `json:"metadata"`
	LastError        *PaymentError     `json:"last_error"`
	NextAction       *NextAction       `json:"next_action"`
	Card             *CardSummary      `json:"card,omitempty"`
	CanceledReason   string            `json:"cancellation_reason,omitempty"`
	ExpiresAt        int64             `json:"expires_at"`
	Livemode         bool              `json:"livemode"`
	Created          int64             `json:"created"`
}

// Object renders the payment with totals from its ledger. checkoutURL is the
// hosted page for it (built by the caller, which knows the public base URL).
func (p *Payment) Object(t Totals, checkoutURL string, withSecret bool) PaymentObject {
	o := PaymentObject{
		ID: p.ID, Object: "payment", Status: p.Status, Amount: p.Amount, Currency: p.Currency, OrderID: p.OrderID,
		CaptureMethod: p.CaptureMethod, AmountCaptured: t.Captured, AmountRefunded: t.Refunded,
		CheckoutURL: checkoutURL, Description: p.Description, Customer: p.Customer, Billing: p.Billing, Shipping: p.Shipping,
		Items: p.Items, ReturnURL: p.ReturnURL, CancelURL: p.CancelURL, NotifyURL: p.NotifyURL, Metadata: p.Metadata,
		LastError: p.LastError, NextAction: p.NextAction, Card: p.Card, CanceledReason: p.CanceledReason,
		ExpiresAt: p.ExpiresAt.Unix(), Livemode: p.Livemode, Created: p.Created.Unix(),
	}
	if p.Metadata == nil {
		o.Metadata = map[string]string{}
	}
	if p.Status == StatusRequiresCapture {
		o.AmountCapturable = t.Authorized
	}
	if withSecret {
		o.ClientSecret = p.ClientSecret
	}
	return o
}

// TransactionObject is a ledger row as the API shows it.
type TransactionObject struct {
	ID                string            `json:"id"`
	Object            string            `json:"object"`
	Payment           string            `json:"payment"`
	Type              TxnType           `json:"type"`
	Status            TxnStatus         `json:"status"`
	Amount            int64             `json:"amount"`
	Currency          string            `json:"currency"`
	Processor         string            `json:"processor"`
	Parent            string            `json:"parent,omitempty"`
	ProcessorRef      string            `json:"processor_reference,omitempty"`
	AuthorizationCode string            `json:"authorization_code,omitempty"`
	ResponseCode      string            `json:"response_code,omitempty"`
	DeclineCode       string            `json:"decline_code,omitempty"`
	Message           string            `json:"message,omitempty"`
	History           []TxnStatusChange `json:"status_history"`
	Livemode          bool              `json:"livemode"`
	Created           int64             `json:"created"`
	Updated           int64             `json:"updated"`
}

// Object renders the transaction.
func (x *Transaction) Object() TransactionObject {
	h := x.History
	if h == nil {
		h = []TxnStatusChange{}
	}
	return TransactionObject{
		ID: x.ID, Object: "transaction", Payment: x.PaymentID, Type: x.Type, Status: x.Status, Amount: x.Amount,
		Currency: x.Currency, Processor: x.Processor, Parent: x.ParentID, ProcessorRef: x.ProcessorRef,
		AuthorizationCode: x.AuthorizationCode, ResponseCode: x.ResponseCode, DeclineCode: x.DeclineCode,
		Message: x.Message, History: h, Livemode: x.Livemode, Created: x.Created.Unix(), Updated: x.Updated.Unix(),
	}
}

// RefundObject is a refund as the API and events show it.
type RefundObject struct {
	ID          string            `json:"id"`
	Object      string            `json:"object"`
	Payment     string            `json:"payment"`
	Amount      int64             `json:"amount"`
	Currency    string            `json:"currency"`
	Status      string            `json:"status"`
	Reason      string            `json:"reason,omitempty"`
	FailureCode string            `json:"failure_reason,omitempty"`
	Transaction string            `json:"transaction"`
	Metadata    map[string]string `json:"metadata"`
	Livemode    bool              `json:"livemode"`
	Created     int64             `json:"created"`
}

// RefundStatus maps the ledger status to the refund's: pending while the
// processor has not answered or the answer was lost.
func RefundStatus(s TxnStatus) string {
	switch s {
	case TxnSucceeded:
		return "succeeded"
	case TxnFailed:
		return "failed"
	}
	return "pending"
}

// Object renders the refund.
func (r *Refund) Object() RefundObject {
	o := RefundObject{
		ID: r.ID, Object: "refund", Payment: r.PaymentID, Amount: r.Amount, Currency: r.Currency, Status: RefundStatus(r.Status),
		Reason: r.Reason, Transaction: r.TransactionID, Metadata: r.Metadata, Livemode: r.Livemode, Created: r.Created.Unix(),
	}
	if r.Status == TxnFailed {
		o.FailureCode = r.FailureCode
	}
	if o.Metadata == nil {
		o.Metadata = map[string]string{}
	}
	return o
}

// EventObject is an event as the API shows it and webhooks carry it.
type EventObject struct {
	ID       string          `json:"id"`
	Object   string          `json:"object"`
	Type     string          `json:"type"`
	Data     json.RawMessage `json:"data"`
	Livemode bool            `json:"livemode"`
	Created  int64           `json:"created"`
}

// Object renders the event; Data is {"object": …}.
func (e *Event) Object() EventObject {
	return EventObject{ID: e.ID, Object: "event", Type: e.Type, Data: e.Data, Livemode: e.Livemode, Created: e.Created.Unix()}
}

// NewEvent builds an event whose data is {"object": obj}.
func NewEvent(typ, merchantID string, live bool, paymentID string, obj any, now time.Time) *Event {
	data, err := json.Marshal(struct {
		Object any `json:"object"`
	}{obj})
	if err != nil {
		panic(err) // objects are plain structs
	}
	return &Event{ID: NewID("evt"), MerchantID: merchantID, Livemode: live, Type: typ, PaymentID: paymentID, Data: data, Created: now}
}
