package kassa

import (
	"context"
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"time"
)

// Orders with payout (izi.exchange-style "applications").
//
// An Order is a merchant's request to take InAmount from a shopper (by card,
// through an ordinary Payment, so checkout and ledger are shared) and pay
// OutAmount out to a recipient. Its amounts come from a Route, which the
// operator configures: pay-in currency → payout currency, rate, fee and
// limits. The order has its own 10-status lifecycle (izi.exchange's names);
// the payment under it keeps the payment state machine.

// OrderStatus is an order's status, with izi.exchange's names.
type OrderStatus string

const (
	OrderNew              OrderStatus = "new"              // created, nothing paid yet
	OrderWaitPayment      OrderStatus = "waitPayment"      // the shopper went to pay
	OrderErrorPayment     OrderStatus = "errorPayment"     // the shopper's payment failed; they may retry
	OrderInProgress       OrderStatus = "inProgress"       // paid; awaiting payout (or the operator's approval)
	OrderInProgressPayout OrderStatus = "inProgressPayout" // payout queued or running
	OrderErrorPayout      OrderStatus = "errorPayout"      // the payout failed; the operator retries or returns
	OrderHold             OrderStatus = "hold"             // frozen by the operator or the payout processor
	OrderDone             OrderStatus = "done"             // paid out. Final.
	OrderReturned         OrderStatus = "returned"         // paid, then refunded to the sender. Final.
	OrderDeleted          OrderStatus = "deleted"          // cancelled before payment. Final.
)

// OrderStatuses lists every status in lifecycle order.
var OrderStatuses = []OrderStatus{OrderNew, OrderWaitPayment, OrderErrorPayment, OrderInProgress, OrderInProgressPayout,
	OrderErrorPayout, OrderHold, OrderDone, OrderReturned, OrderDeleted}

// Valid reports whether s is a known status.
func (s OrderStatus) Valid() bool {
	for _, x := range OrderStatuses {
		if x == s {
			return true
		}
	}
	return false
}

// Final reports whether nothing can happen to the order any more.
func (s OrderStatus) Final() bool { return s == OrderDone || s == OrderReturned || s == OrderDeleted }

// Success reports whether a final status counts as success for the
// shopper's return button (clientCallbackUrl?status=success|error).
func (s OrderStatus) Success() bool { return s == OrderDone }

// orderTransitions is the lifecycle. hold is left by "release", which goes
// back to where the order was held from (see Order.CheckTransition).
var orderTransitions = map[OrderStatus][]OrderStatus{
	OrderNew:              {OrderWaitPayment, OrderInProgress, OrderErrorPayment, OrderHold, OrderDeleted},
	OrderWaitPayment:      {OrderInProgress, OrderErrorPayment, OrderHold, OrderDeleted},
	OrderErrorPayment:     {OrderWaitPayment, OrderInProgress, OrderHold, OrderDeleted},
	OrderInProgress:       {OrderInProgressPayout, OrderHold, OrderReturned},
	OrderInProgressPayout: {OrderDone, OrderErrorPayout, OrderHold},
	OrderErrorPayout:      {OrderInProgressPayout, OrderHold, OrderReturned},
	OrderHold:             {OrderNew, OrderWaitPayment, OrderErrorPayment, OrderInProgress, OrderInProgressPayout, OrderErrorPayout, OrderReturned, OrderDeleted},
}

// CanMove reports whether the lifecycle has an edge from s to to.
func (s OrderStatus) CanMove(to OrderStatus) bool {
	for _, x := range orderTransitions[s] {
		if x == to {
			return true
		}
	}
	return false
}

// PayoutMode says whether a paid order is paid out at once or waits for the
// operator's approval.
type PayoutMode string

const (
	PayoutAutomatic PayoutMode = "automatic"
	PayoutManual    PayoutMode = "manual"
)

// RouteField is one recipient detail (toValues key) a route asks for.
type RouteField struct {
	Key      string `json:"key"`
	Name     string `json:"name"`
	Pattern  string `json:"pattern"` // a Go regexp the whole value must match; "" accepts any non-empty value
	Optional bool   `json:"optional,omitempty"`
}

// DefaultRouteFields is what a route asks for when the operator configured
// no fields: the recipient's account.
var DefaultRouteFields = []RouteField{{Key: "account", Name: "Recipient account", Pattern: `[A-Za-z0-9 ._@+\-]{4,64}`}}

// Route is a payment direction the operator offers: pay-in by card in From,
// payout in To at Rate (To per one From), less FeePercent of the amount.
type Route struct {
	ID         string
	MerchantID string // "" for a route every merchant may use
	From       string // ISO 4217 pay-in currency (charged by card)
	To         string // ISO 4217 payout currency
	XMLFrom    string // currency codes as izi.exchange names them (xml_from/xml_to); From/To when not set
	XMLTo      string
	Rate       string // exact decimal, e.g. "0.27"
	FeePercent string // exact decimal percent, e.g. "1" or "0.5"
	Min, Max   int64  // limits of the pay-in amount, minor units of From (Max 0: none)
	PayoutMode PayoutMode
	ToFields   []RouteField
	Created    time.Time
}

var decimalRE = regexp.MustCompile(`^[0-9]{1,12}(\.[0-9]{1,12})?$`)

// parseDecimal reads a plain decimal string into an exact rational. Only
// digits and one dot are accepted (no exponent, sign or fraction), so what
// the operator typed is what is used.
func parseDecimal(param, s string) (*big.Rat, error) {
	s = strings.TrimSpace(s)
	if !decimalRE.MatchString(s) {
		return nil, Invalid(param, "parameter_invalid", "%s must be a plain decimal number such as 0.27 (got %q)", param, s)
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, Invalid(param, "parameter_invalid", "%s %q is not a decimal number", param, s)
	}
	return r, nil
}

// Validate checks and normalizes a route.
func (r *Route) Validate() error {
	var err error
	if r.From, err = NormalizeCurrency("from", r.From); err != nil {
		return err
	}
	if r.To, err = NormalizeCurrency("to", r.To); err != nil {
		return err
	}
	if r.XMLFrom == "" {
		r.XMLFrom = r.From
	}
	if r.XMLTo == "" {
		r.XMLTo = r.To
	}
	for p, v := range map[string]string{"xml_from": r.XMLFrom, "xml_to": r.XMLTo} {
		if len(v) > 20 || strings.ContainsAny(v, ": \t\r\n&=") {
			return Invalid(p, "parameter_invalid", "%s must be a short code without spaces, ':' '&' or '='", p)
		}
	}
	rate, err := parseDecimal("rate", r.Rate)
	if err != nil {
		return err
	}
	if rate.Sign() <= 0 {
		return Invalid("rate", "parameter_invalid", "rate must be greater than 0")
	}
	if r.FeePercent == "" {
		r.FeePercent = "0"
	}
	fee, err := parseDecimal("fee_percent", r.FeePercent)
	if err != nil {
		return err
	}
	if fee.Cmp(big.NewRat(100, 1)) >= 0 {
		return Invalid("fee_percent", "parameter_invalid", "fee_percent must be below 100")
	}
	if r.Min < 0 || r.Max < 0 || r.Max > MaxAmount || (r.Max > 0 && r.Min > r.Max) {
		return Invalid("min", "parameter_invalid", "min and max must be amounts with min ≤ max")
	}
	switch r.PayoutMode {
	case "":
		r.PayoutMode = PayoutAutomatic
	case PayoutAutomatic, PayoutManual:
	default:
		return Invalid("payout_mode", "parameter_invalid", "payout_mode must be automatic or manual")
	}
	if len(r.ToFields) == 0 {
		r.ToFields = append([]RouteField(nil), DefaultRouteFields...)
	}
	seen := map[string]bool{}
	for i, f := range r.ToFields {
		p := fmt.Sprintf("to_fields[%d]", i)
		if f.Key == "" || len(f.Key) > 40 || seen[f.Key] {
			return Invalid(p+"[key]", "parameter_invalid", "each to field needs a unique key of 1 to 40 characters")
		}
		seen[f.Key] = true
		if f.Pattern != "" {
			if _, err := regexp.Compile(`^(?:` + f.Pattern + `)$`); err != nil {
				return Invalid(p+"[pattern]", "parameter_invalid", "pattern of %s is not a valid regular expression: %v", f.Key, err)
			}
		}
		if r.ToFields[i].Name == "" {
			r.ToFields[i].Name = f.Key
		}
	}
	return nil
}

// Quote computes the payout for a pay-in of in (minor units of From).
//
// Rounding rule: out = in × Rate × (100 − FeePercent) / 100, computed exactly
// on rationals (never float64) and then rounded DOWN (toward zero) to the
// payout currency's minor unit. The pay-in amount itself is never rounded:
// it is charged exactly as asked. So the recipient never gets more than the
// rate allows and the difference is below one minor unit of To.
func (r *Route) Quote(in int64) (int64, error) {
	rate, err := parseDecimal("rate", r.Rate)
	if err != nil {
		return 0, err
	}
	fee, err := parseDecimal("fee_percent", r.FeePercent)
	if err != nil {
		return 0, err
	}
	expFrom, _ := CurrencyExponent(r.From)
	expTo, _ := CurrencyExponent(r.To)
	v := new(big.Rat).SetInt64(in)
	v.Mul(v, rate)
	keep := new(big.Rat).Sub(big.NewRat(100, 1), fee)
	v.Mul(v, keep)
	v.Quo(v, big.NewRat(100, 1))
	// Convert minor units of From to minor units of To.
	scale := new(big.Rat).SetFrac(pow10(expTo), pow10(expFrom))
	v.Mul(v, scale)
	out := new(big.Int).Quo(v.Num(), v.Denom()) // both positive: truncation is floor
	if !out.IsInt64() || out.Int64() > MaxAmount {
		return 0, Invalid("amount", "amount_too_large", "the payout for this amount is too large")
	}
	return out.Int64(), nil
}

func pow10(n int) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil) }

// OrderValue is one key/value detail of an order (fromValues, toValues,
// routeValues). Name is the route's label for a toValues key.
type OrderValue struct {
	Key   string `json:"key"`
	Name  string `json:"name,omitempty"`
	Value string `json:"value"`
}

// OrderStatusChange is one step of an order's timeline.
type OrderStatusChange struct {
	Status OrderStatus `json:"status"`
	At     time.Time   `json:"at"`
	Reason string      `json:"reason,omitempty"`
}

// Payout statuses of an order.
const (
	PayoutNone      = ""          // no payout asked yet
	PayoutPending   = "pending"   // committed before the payout processor is called; resolved by retrying the same reference
	PayoutSucceeded = "succeeded" // money sent to the recipient
	PayoutFailed    = "failed"    // refused; no money sent
	PayoutHeld      = "held"      // the payout processor holds it for review; no money sent
)

// Order is an izi.exchange-style order.
type Order struct {
	ID         string
	UID        int64  // the public number (orderUID); set by storage on insert
	Secret     string // with UID, opens the shopper's pages; compared in constant time
	MerchantID string
	Livemode   bool
	RouteID    string
	Partner    string

	InAmount   int64 // minor units of From, charged by card
	OutAmount  int64 // minor units of To, paid out
	From, To   string
	XMLFrom    string
	XMLTo      string
	Rate       string // the route's at creation
	FeePercent string
	PayoutMode PayoutMode

	FromValues  []OrderValue
	ToValues    []OrderValue
	RouteValues []OrderValue

	Lang              string
	Agreement         bool
	HideOutData       bool
	ClientCallbackURL string
	IPNURL            string
	IPNSecret         string
	// IPNSingleTry sends each IPN once, as izi.exchange does, instead of
	// with the notification engine's retries.
	IPNSingleTry bool

	Status   OrderStatus
	HeldFrom OrderStatus // while in hold: where release goes back to
	Paid     bool        // the pay-in payment succeeded
	History  []OrderStatusChange

	PaymentID     string // the card payment collecting InAmount (the latest one)
	PayoutRef     string // reference of the current payout attempt
	PayoutStatus  string
	PayoutMessage string
	PayoutAt      time.Time // when the current payout attempt was committed

	Created time.Time
	Updated time.Time
}

// CheckTransition is the lifecycle's rule: nil if the order may move to
// to, else an EINVALID "order_transition_invalid" error naming both
// statuses. Beyond the table: money decides too — a paid order cannot be
// deleted (it must be returned), an unpaid one cannot be returned or paid
// out, and release from hold goes back where it came from (or, if the
// payment succeeded while held, to inProgress).
func (o *Order) CheckTransition(to OrderStatus) error {
	bad := func(why string) error {
		msg := fmt.Sprintf("order %d cannot move from %s to %s", o.UID, o.Status, to)
		if why != "" {
			msg += ": " + why
		}
		return &Error{Kind: EINVALID, Code: "order_transition_invalid", Message: msg}
	}
	if o.Status.Final() {
		return bad("the order is final")
	}
	if !o.Status.CanMove(to) {
		return bad("")
	}
	switch to {
	case OrderDeleted:
		if o.Paid {
			return bad("it is paid; return it instead")
		}
	case OrderReturned:
		if !o.Paid {
			return bad("nothing was paid")
		}
	case OrderInProgress, OrderInProgressPayout, OrderErrorPayout:
		if !o.Paid {
			return bad("it is not paid")
		}
	}
	if o.Status == OrderHold && to != OrderReturned && to != OrderDeleted && to != o.ReleaseTo() {
		return bad("an order on hold is released to " + string(o.ReleaseTo()))
	}
	return nil
}

// ReleaseTo is where releasing a held order goes.
func (o *Order) ReleaseTo() OrderStatus {
	switch {
	case o.Paid && (o.HeldFrom == "" || o.HeldFrom == OrderNew || o.HeldFrom == OrderWaitPayment || o.HeldFrom == OrderErrorPayment):
		return OrderInProgress
	case o.HeldFrom == OrderInProgressPayout && o.PayoutStatus != PayoutSucceeded:
		// A payout held by the processor is retried after release.
		return OrderInProgressPayout
	case o.HeldFrom == "":
		return OrderNew
	}
	return o.HeldFrom
}

// Move changes the order's status after CheckTransition, recording the
// step in its history.
func (o *Order) Move(to OrderStatus, reason string, at time.Time) error {
	if err := o.CheckTransition(to); err != nil {
		return err
	}
	if to == OrderHold {
		o.HeldFrom = o.Status
	} else if o.Status == OrderHold {
		o.HeldFrom = ""
	}
	o.Status, o.Updated = to, at
	o.History = append(o.History, OrderStatusChange{Status: to, At: at, Reason: reason})
	return nil
}

// Event types of orders.
const EventOrderUpdated = "order.updated"

// OrderObject is an order as the API and events show it. The IPN secret
// and the page secret are left out of events (they go to the merchant's
// servers, which already have them).
type OrderObject struct {
	ID                string         `json:"id"`
	Object            string         `json:"object"`
	UID               int64          `json:"uid"`
	Secret            string         `json:"secret,omitempty"`
	Status            OrderStatus    `json:"status"`
	Route             string         `json:"route"`
	Partner           string         `json:"partner,omitempty"`
	InAmount          string         `json:"in_amount"`
	OutAmount         string         `json:"out_amount"`
	From              string         `json:"from"`
	To                string         `json:"to"`
	XMLFrom           string         `json:"xml_from"`
	XMLTo             string         `json:"xml_to"`
	Rate              string         `json:"rate"`
	FeePercent        string         `json:"fee_percent"`
	PayoutMode        PayoutMode     `json:"payout_mode"`
	ToValues          []OrderValue   `json:"to_values"`
	Paid              bool           `json:"paid"`
	Payment           string         `json:"payment,omitempty"`
	PayoutStatus      string         `json:"payout_status,omitempty"`
	ClientCallbackURL string         `json:"client_callback_url,omitempty"`
	IPNURL            string         `json:"ipn_url,omitempty"`
	IPNSingleTry      bool           `json:"ipn_single_try"`
	History           []OrderHistory `json:"history"`
	Livemode          bool           `json:"livemode"`
	Created           int64          `json:"created"`
}

// OrderHistory is a timeline step as OrderObject shows it.
type OrderHistory struct {
	Status OrderStatus `json:"status"`
	At     int64       `json:"at"`
	Reason string      `json:"reason,omitempty"`
}

// Object renders the order; withSecret adds the page secret.
func (o *Order) Object(withSecret bool) OrderObject {
	obj := OrderObject{ID: o.ID, Object: "order", UID: o.UID, Status: o.Status, Route: o.RouteID, Partner: o.Partner,
		InAmount: FormatAmount(o.InAmount, o.From), OutAmount: FormatAmount(o.OutAmount, o.To), From: o.From, To: o.To,
		XMLFrom: o.XMLFrom, XMLTo: o.XMLTo, Rate: o.Rate, FeePercent: o.FeePercent, PayoutMode: o.PayoutMode,
		ToValues: o.ToValues, Paid: o.Paid, Payment: o.PaymentID, PayoutStatus: o.PayoutStatus,
		ClientCallbackURL: o.ClientCallbackURL, IPNURL: o.IPNURL, IPNSingleTry: o.IPNSingleTry,
		History: []OrderHistory{}, Livemode: o.Livemode, Created: o.Created.Unix()}
	if obj.ToValues == nil {
		obj.ToValues = []OrderValue{}
	}
	for _, h := range o.History {
		obj.History = append(obj.History, OrderHistory{Status: h.Status, At: h.At.Unix(), Reason: h.Reason})
	}
	if withSecret {
		obj.Secret = o.Secret
	}
	return obj
}

// OrderStore is the storage of routes and orders; internal/store's *DB
// implements it. It is kept out of Store so the payment core stays small.
type OrderStore interface {
	Route(ctx context.Context, id string) (*Route, error)
	// ListRoutes returns the routes merchantID may use (its own and the
	// shared ones), or every route when merchantID is "".
	ListRoutes(ctx context.Context, merchantID string) ([]*Route, error)
	Order(ctx context.Context, id string) (*Order, error)
	OrderByUID(ctx context.Context, uid int64) (*Order, error)
	ListOrders(ctx context.Context, p Principal, f OrderFilter) ([]*Order, bool, error)
	// PayoutsDue returns orders in inProgressPayout whose payout has not
	// been asked for, or was committed before staleBefore without an answer.
	PayoutsDue(ctx context.Context, staleBefore time.Time, limit int) ([]*Order, error)
}

// OrderFilter selects orders.
type OrderFilter struct {
	Page
	Status OrderStatus
}

// OrderTx is what a write transaction offers for orders; internal/store's
// transactions implement it next to Tx.
type OrderTx interface {
	InsertRoute(ctx context.Context, r *Route) error
	// InsertOrder stores a new order and sets its UID.
	InsertOrder(ctx context.Context, o *Order) error
	// LockOrder loads an order and locks it until the transaction ends.
	LockOrder(ctx context.Context, id string) (*Order, error)
	UpdateOrder(ctx context.Context, o *Order) error
	// InsertEvent is Tx.InsertEvent, for order events: an event without a
	// payment is about its object, so the order's notification
	// subscriptions (its IPN) get it in the same transaction.
	InsertEvent(ctx context.Context, e *Event) error
}
