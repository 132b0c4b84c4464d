package kassa

import (
	"time"
)

// PaymentStatus is the coarse status of a payment, with Stripe's names.
type PaymentStatus string

const (
	// StatusRequiresPaymentMethod: created, or an attempt was declined
	// (last_error says why) and the shopper may try another card.
	StatusRequiresPaymentMethod PaymentStatus = "requires_payment_method"
	// StatusRequiresAction: the issuer asks for 3-D Secure; next_action says where.
	StatusRequiresAction PaymentStatus = "requires_action"
	// StatusProcessing: a processor call is in flight or its result is unknown
	// (a timeout); the reconciler resolves it.
	StatusProcessing PaymentStatus = "processing"
	// StatusRequiresCapture: authorized; the merchant captures or cancels.
	StatusRequiresCapture PaymentStatus = "requires_capture"
	// StatusSucceeded: the money is captured. Terminal (refunds do not change it).
	StatusSucceeded PaymentStatus = "succeeded"
	// StatusCanceled: abandoned, voided or expired. Terminal.
	StatusCanceled PaymentStatus = "canceled"
)

// Valid reports whether s is a known status.
func (s PaymentStatus) Valid() bool {
	switch s {
	case StatusRequiresPaymentMethod, StatusRequiresAction, StatusProcessing,
		StatusRequiresCapture, StatusSucceeded, StatusCanceled:
		return true
	}
	return false
}

// Terminal reports whether no further state change can happen.
func (s PaymentStatus) Terminal() bool { return s == StatusSucceeded || s == StatusCanceled }

// HoldsOrder reports whether a payment in status s holds its order: while it
// does, no other payment of the same (merchant, order_id) may be confirmed.
// That is how "one order is paid at most once" holds under racing tabs: the
// claim is taken in the same database transaction that records the pending
// processor call, before the processor is called, and given back only when the
// attempt is known to have moved no money (declined, canceled, expired).
func (s PaymentStatus) HoldsOrder() bool {
	switch s {
	case StatusRequiresAction, StatusProcessing, StatusRequiresCapture, StatusSucceeded:
		return true
	}
	return false
}

// CaptureMethod says whether a successful authorization is captured at once.
type CaptureMethod string

const (
	CaptureAutomatic CaptureMethod = "automatic" // one sale call
	CaptureManual    CaptureMethod = "manual"    // authorize now, capture later
)

// Address is a postal address.
type Address struct {
	Line1      string `json:"line1,omitempty"`
	Line2      string `json:"line2,omitempty"`
	City       string `json:"city,omitempty"`
	State      string `json:"state,omitempty"`
	PostalCode string `json:"postal_code,omitempty"`
	Country    string `json:"country,omitempty"`
	Name       string `json:"name,omitempty"`
	Phone      string `json:"phone,omitempty"`
}

// Customer identifies the shopper.
type Customer struct {
	Email string `json:"email,omitempty"`
	Name  string `json:"name,omitempty"`
	Phone string `json:"phone,omitempty"`
}

// Item is one line of the order being paid, for display and records; it does
// not change the amount charged, which is Payment.Amount.
type Item struct {
	Name      string `json:"name"`
	Quantity  int64  `json:"quantity"`
	UnitPrice int64  `json:"unit_price"`
	SKU       string `json:"sku,omitempty"`
}

// PaymentError is the last failed attempt of a payment.
type PaymentError struct {
	Type        string `json:"type"`
	Code        string `json:"code"`
	DeclineCode string `json:"decline_code,omitempty"`
	Message     string `json:"message"`
}

// NextAction tells the client what the shopper must do, e.g. 3-D Secure.
type NextAction struct {
	Type        string `json:"type"` // "redirect_to_url"
	RedirectURL string `json:"redirect_url"`
}

// Payment is the intent to collect Amount for one merchant order.
// Money totals (captured, refunded) are derived from its transactions and are
// not fields here; see Totals.
type Payment struct {
	ID             string
	MerchantID     string
	Livemode       bool
	Amount         int64
	Currency       string
	OrderID        string
	CaptureMethod  CaptureMethod
	Description    string
	Customer       *Customer
	Billing        *Address
	Shipping       *Address
	Items          []Item
	ReturnURL      string
	CancelURL      string
	NotifyURL      string
	Metadata       map[string]string
	Status         PaymentStatus
	ClientSecret   string
	LastError      *PaymentError
	NextAction     *NextAction
	Card           *CardSummary
	CanceledReason string
	Created        time.Time
	Updated        time.Time
	ExpiresAt      time.Time
}

// Totals are a payment's money figures, computed from its ledger.
type Totals struct {
	Authorized int64 // succeeded authorizations not yet captured or voided
	Captured   int64 // succeeded captures and sales
	Refunded   int64 // succeeded refunds
	// RefundReserved is what refunds in flight (pending or unknown) may still
	// take; it counts against what is refundable so that two concurrent
	// refunds can never exceed the captured amount.
	RefundReserved int64
}

// Refundable is what may still be refunded.
func (t Totals) Refundable() int64 { return t.Captured - t.Refunded - t.RefundReserved }

// ComputeTotals derives the totals from a payment's transactions.
func ComputeTotals(txns []Transaction) Totals {
	var t Totals
	for _, x := range txns {
		switch {
		case x.Status == TxnSucceeded && x.Type == TxnAuthorize:
			t.Authorized += x.Amount
		case x.Status == TxnSucceeded && (x.Type == TxnCapture || x.Type == TxnSale):
			t.Captured += x.Amount
		case x.Type == TxnRefund && x.Status == TxnSucceeded:
			t.Refunded += x.Amount
		case x.Type == TxnRefund && (x.Status == TxnPending || x.Status == TxnUnknown):
			t.RefundReserved += x.Amount
		}
	}
	if t.Captured > 0 || hasSucceeded(txns, TxnVoid) {
		t.Authorized = 0 // captured (the remainder is released) or voided
	}
	return t
}

func hasSucceeded(txns []Transaction, typ TxnType) bool {
	for _, x := range txns {
		if x.Type == typ && x.Status == TxnSucceeded {
			return true
		}
	}
	return false
}

// Rules of the state machine. Each returns nil or an EINVALID error with a
// code naming the rule, and the engine applies none of the change.

// CheckConfirm: only a payment awaiting a payment method can be confirmed.
func (p *Payment) CheckConfirm(now time.Time) error {
	switch {
	case p.Status == StatusSucceeded:
		return Errorf(EINVALID, "payment_already_succeeded", "payment %s has already succeeded", p.ID)
	case p.Status != StatusRequiresPaymentMethod:
		return Errorf(EINVALID, "payment_unexpected_state", "payment %s cannot be confirmed in status %s", p.ID, p.Status)
	case !p.ExpiresAt.IsZero() && now.After(p.ExpiresAt):
		return Errorf(EINVALID, "payment_expired", "payment %s expired at %s", p.ID, p.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return nil
}

// CheckCapture: only an authorized payment can be captured, for at most the
// authorized amount.
func (p *Payment) CheckCapture(amount int64, t Totals) error {
	if p.Status != StatusRequiresCapture {
		return Errorf(EINVALID, "payment_unexpected_state", "payment %s cannot be captured in status %s", p.ID, p.Status)
	}
	if amount <= 0 {
		return Invalid("amount", "amount_invalid", "amount must be a positive integer in minor units")
	}
	if amount > t.Authorized {
		return Invalid("amount", "amount_too_large", "amount %d exceeds the authorized %d", amount, t.Authorized)
	}
	return nil
}

// CheckCancel: a payment that is not terminal and has no call in flight can be canceled.
func (p *Payment) CheckCancel() error {
	switch p.Status {
	case StatusRequiresPaymentMethod, StatusRequiresAction, StatusRequiresCapture:
		return nil
	case StatusProcessing:
		return Errorf(ECONFLICT, "payment_processing", "payment %s is processing; try again when it has settled", p.ID)
	}
	return Errorf(EINVALID, "payment_unexpected_state", "payment %s cannot be canceled in status %s", p.ID, p.Status)
}

// CheckRefund: only captured money can be refunded, never more than is left.
func (p *Payment) CheckRefund(amount int64, t Totals) error {
	if p.Status != StatusSucceeded {
		return Errorf(EINVALID, "payment_unexpected_state", "payment %s cannot be refunded in status %s", p.ID, p.Status)
	}
	// Checked before the amount: a refund of "all that is left" (no amount)
	// of a fully refunded payment comes here with amount 0 and must not be
	// told about an amount parameter it never sent.
	if t.Captured-t.Refunded == 0 {
		return Errorf(EINVALID, "charge_already_refunded", "payment %s has already been refunded in full", p.ID)
	}
	if amount <= 0 {
		return Invalid("amount", "amount_invalid", "amount must be a positive integer in minor units")
	}
	if left := t.Refundable(); amount > left {
		return Invalid("amount", "amount_too_large", "amount %d exceeds the %d that can still be refunded", amount, left)
	}
	return nil
}
