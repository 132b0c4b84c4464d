package engine

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/internal/processor"
)

// Orders with payout (kassa.Order). The money rules:
//
//   - An order collects InAmount through an ordinary payment whose order_id
//     is the order's ID, so the checkout, the pending-first ledger and "one
//     order is paid at most once" (order claims) are the payments' own.
//   - The order moves when its payment succeeds or is declined inside the
//     same database transaction that records the processor's answer
//     (orderPaymentMoved, called from movePayment): a paid payment and an
//     order that says so commit together.
//   - Every status change writes an order.updated event in that same
//     transaction. An order with an ipnUrl is subscribed to its own
//     order.updated events when it is created (notify.Subscription, in
//     CreateOrder's transaction), so each event's IPN is queued with it.
//   - Payouts are pending-first like card calls: the attempt's reference is
//     committed before the payout processor is called; an attempt without an
//     answer is asked again with the same reference (processors are
//     idempotent on it), so a recipient is never paid twice.

// IPN notification formats (registered by internal/izi with the notify engine).
const (
	FormatIziIPN     = "izi_ipn"      // with the notification engine's retries
	FormatIziIPNOnce = "izi_ipn_once" // one attempt, as izi.exchange sends it
)

// OrderLangs are the languages of the order pages.
var OrderLangs = []string{"en", "es", "ru"}

func orderStores(s kassa.Store) (kassa.OrderStore, error) {
	os, ok := s.(kassa.OrderStore)
	if !ok {
		return nil, fmt.Errorf("engine: store %T does not keep orders", s)
	}
	return os, nil
}

func orderTx(tx kassa.Tx) (kassa.OrderTx, error) {
	ot, ok := tx.(kassa.OrderTx)
	if !ok {
		return nil, fmt.Errorf("engine: transaction %T does not keep orders", tx)
	}
	return ot, nil
}

// ---- routes

// CreateRoute stores a route for merchantID ("" for every merchant).
func (e *Engine) CreateRoute(ctx context.Context, merchantID string, r kassa.Route) (*kassa.Route, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if merchantID != "" {
		if _, err := e.store.Merchant(ctx, merchantID); err != nil {
			return nil, err
		}
	}
	r.ID, r.MerchantID, r.Created = kassa.NewID("rte"), merchantID, e.now()
	err := e.store.Write(ctx, func(tx kassa.Tx) error {
		ot, err := orderTx(tx)
		if err != nil {
			return err
		}
		return ot.InsertRoute(ctx, &r)
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// Routes returns the routes merchantID may use ("" for all).
func (e *Engine) Routes(ctx context.Context, merchantID string) ([]*kassa.Route, error) {
	os, err := orderStores(e.store)
	if err != nil {
		return nil, err
	}
	return os.ListRoutes(ctx, merchantID)
}

// ---- creating orders

// OrderParams are a merchant's inputs for a new order (izi.exchange's
// order/create parameters). Param names in errors are izi's.
type OrderParams struct {
	RouteID           string
	Partner           string
	Amount            string // decimal, in the route's pay-in currency
	FromValues        []kassa.OrderValue
	ToValues          []kassa.OrderValue
	RouteValues       []kassa.OrderValue
	Lang              string
	Agreement         bool
	HideOutData       bool
	ClientCallbackURL string
	IPNURL            string
	IPNSecret         string
	IPNSingleTry      bool
}

const maxOrderValues = 20

func checkValues(param string, vs []kassa.OrderValue) error {
	if len(vs) > maxOrderValues {
		return kassa.Invalid(param, "parameter_invalid", "at most %d %s", maxOrderValues, param)
	}
	for i, v := range vs {
		p := fmt.Sprintf("%s[%d]", param, i)
		if strings.TrimSpace(v.Key) == "" {
			return kassa.Invalid(p+"[key]", "parameter_missing", "%s[key] is required", p)
		}
		if err := errors.Join(checkText(p+"[key]", v.Key, 40), checkText(p+"[value]", v.Value, maxText)); err != nil {
			return firstError(err)
		}
	}
	return nil
}

// toValuesError is izi.exchange's "Param toValues isn't valid: <key>".
func toValuesError(param, key, why string) error {
	return &kassa.Error{Kind: kassa.EINVALID, Code: "to_values_invalid", Param: param,
		Message: fmt.Sprintf("Param toValues isn't valid: %s (%s)", key, why)}
}

// checkToValues matches the recipient details against the route's fields
// and fills in their names.
func checkToValues(r *kassa.Route, vs []kassa.OrderValue) ([]kassa.OrderValue, error) {
	if err := checkValues("toValues", vs); err != nil {
		return nil, err
	}
	given := map[string]int{}
	for i, v := range vs {
		if _, dup := given[v.Key]; dup {
			return nil, toValuesError(fmt.Sprintf("toValues[%d][key]", i), v.Key, "given twice")
		}
		given[v.Key] = i
	}
	out := make([]kassa.OrderValue, 0, len(vs))
	for _, f := range r.ToFields {
		i, ok := given[f.Key]
		if !ok || strings.TrimSpace(vs[i].Value) == "" {
			if f.Optional {
				continue
			}
			return nil, toValuesError("toValues", f.Key, "required")
		}
		v := strings.TrimSpace(vs[i].Value)
		if f.Pattern != "" {
			re, err := regexp.Compile(`^(?:` + f.Pattern + `)$`)
			if err != nil {
				return nil, fmt.Errorf("engine: route %s: pattern of %s: %w", r.ID, f.Key, err)
			}
			if !re.MatchString(v) {
				return nil, toValuesError(fmt.Sprintf("toValues[%d][value]", i), f.Key, "regexp")
			}
		}
		out = append(out, kassa.OrderValue{Key: f.Key, Name: f.Name, Value: v})
		delete(given, f.Key)
	}
	for k, i := range given {
		return nil, toValuesError(fmt.Sprintf("toValues[%d][key]", i), k, "unknown field for this route")
	}
	return out, nil
}

// OrderPageURL is the order's status page; PaymentPageURL what-to-pay.
func (e *Engine) OrderPageURL(o *kassa.Order) string {
	return e.cfg.BaseURL + "/" + o.Lang + "/order/" + strconv.FormatInt(o.UID, 10) + "/" + o.Secret
}

// PaymentPageURL is the order's payment page.
func (e *Engine) PaymentPageURL(o *kassa.Order) string {
	return e.cfg.BaseURL + "/" + o.Lang + "/payment/" + strconv.FormatInt(o.UID, 10) + "/" + o.Secret
}

func pickLang(l string) string {
	l = strings.ToLower(strings.TrimSpace(l))
	for _, x := range OrderLangs {
		if x == l {
			return l
		}
	}
	return "en"
}

// CreateOrder creates an order and the payment that collects its pay-in
// amount, in one transaction. Its amounts come from the route (Route.Quote).
func (e *Engine) CreateOrder(ctx context.Context, pr kassa.Principal, params OrderParams) (*kassa.Order, error) {
	os, err := orderStores(e.store)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(params.RouteID) == "" {
		return nil, kassa.Invalid("routeId", "parameter_missing", "routeId is required")
	}
	route, err := os.Route(ctx, strings.TrimSpace(params.RouteID))
	if kassa.ErrorKind(err) == kassa.ENOTFOUND || err == nil && route.MerchantID != "" && route.MerchantID != pr.MerchantID {
		return nil, &kassa.Error{Kind: kassa.ENOTFOUND, Code: "route_not_found", Param: "routeId",
			Message: fmt.Sprintf("no such route: %q", params.RouteID)}
	} else if err != nil {
		return nil, err
	}
	if strings.TrimSpace(params.Amount) == "" {
		return nil, kassa.Invalid("amount", "parameter_missing", "amount is required")
	}
	in, err := kassa.ParseAmount("amount", params.Amount, route.From)
	if err != nil {
		return nil, err
	}
	if in < route.Min || (route.Max > 0 && in > route.Max) || in == 0 {
		limits := "at least " + kassa.FormatAmount(max(route.Min, 1), route.From)
		if route.Max > 0 {
			limits = "between " + kassa.FormatAmount(route.Min, route.From) + " and " + kassa.FormatAmount(route.Max, route.From)
		}
		return nil, kassa.Invalid("amount", "amount_out_of_range", "amount %s %s is outside this route's limits: %s %s",
			kassa.FormatAmount(in, route.From), route.From, limits, route.From)
	}
	out, err := route.Quote(in)
	if err != nil {
		return nil, err
	}
	if out <= 0 {
		return nil, kassa.Invalid("amount", "amount_out_of_range", "amount %s %s pays out nothing at this rate",
			kassa.FormatAmount(in, route.From), route.From)
	}
	if !params.Agreement {
		return nil, kassa.Invalid("agreement", "agreement_required", "agreement must be true: the client has to accept the terms")
	}
	toValues, err := checkToValues(route, params.ToValues)
	if err != nil {
		return nil, err
	}
	if err := errors.Join(checkValues("fromValues", params.FromValues), checkValues("routeValues", params.RouteValues),
		checkText("partner", params.Partner, 100)); err != nil {
		return nil, firstError(err)
	}
	for name, u := range map[string]string{"clientCallbackUrl": params.ClientCallbackURL, "ipnUrl": params.IPNURL} {
		if err := checkURL(name, u); err != nil {
			return nil, err
		}
	}
	if params.IPNURL != "" && params.IPNSecret == "" {
		return nil, kassa.Invalid("ipnSecret", "parameter_missing", "ipnSecret is required with ipnUrl: it keys the IPN's hash")
	}
	if err := checkText("ipnSecret", params.IPNSecret, 200); err != nil {
		return nil, err
	}

	now := e.now()
	o := &kassa.Order{
		ID: kassa.NewID("ord"), Secret: kassa.RandomToken(15), MerchantID: pr.MerchantID, Livemode: pr.Livemode,
		RouteID: route.ID, Partner: params.Partner, InAmount: in, OutAmount: out, From: route.From, To: route.To,
		XMLFrom: route.XMLFrom, XMLTo: route.XMLTo, Rate: route.Rate, FeePercent: route.FeePercent, PayoutMode: route.PayoutMode,
		FromValues: params.FromValues, ToValues: toValues, RouteValues: params.RouteValues, Lang: pickLang(params.Lang),
		Agreement: true, HideOutData: params.HideOutData, ClientCallbackURL: params.ClientCallbackURL,
		IPNURL: params.IPNURL, IPNSecret: params.IPNSecret, IPNSingleTry: params.IPNSingleTry,
		Status: kassa.OrderNew, History: []kassa.OrderStatusChange{{Status: kassa.OrderNew, At: now}},
		Created: now, Updated: now,
	}
	err = e.store.Write(ctx, func(tx kassa.Tx) error {
		ot, err := orderTx(tx)
		if err != nil {
			return err
		}
		o.PaymentID = kassa.NewID("pay")
		if err := ot.InsertOrder(ctx, o); err != nil {
			return err
		}
		if o.IPNURL != "" {
			if err := notify.Subscribe(ctx, tx, orderIPN(o)); err != nil {
				return err
			}
		}
		_, err = e.insertOrderPayment(ctx, tx, o, o.PaymentID, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return o, nil
}

// insertOrderPayment writes the payment that collects o's pay-in amount.
// The shopper comes back to the order page from the card form.
func (e *Engine) insertOrderPayment(ctx context.Context, tx kassa.Tx, o *kassa.Order, id string, now time.Time) (*kassa.Payment, error) {
	page := e.OrderPageURL(o)
	p := &kassa.Payment{
		ID: id, MerchantID: o.MerchantID, Livemode: o.Livemode, Amount: o.InAmount, Currency: o.From,
		OrderID: o.ID, CaptureMethod: kassa.CaptureAutomatic, Description: "Order " + strconv.FormatInt(o.UID, 10),
		ReturnURL: page, CancelURL: page, Metadata: map[string]string{"order_uid": strconv.FormatInt(o.UID, 10)},
		Status: kassa.StatusRequiresPaymentMethod, ClientSecret: id + "_secret_" + kassa.RandomToken(16),
		Created: now, Updated: now, ExpiresAt: now.Add(e.cfg.PaymentTTL),
	}
	if err := tx.InsertPayment(ctx, p); err != nil {
		return nil, err
	}
	return p, e.event(ctx, tx, kassa.EventPaymentCreated, p, nil)
}

// ---- reading orders

func orderNotFound() error {
	return kassa.Errorf(kassa.ENOTFOUND, "order_not_found", "No order matches this UID and secret.")
}

// OrderBySecret returns the order with this UID if secret is its secret.
// A wrong secret is the same ENOTFOUND as an unknown UID, and the secret
// is compared in constant time, so neither can be probed.
func (e *Engine) OrderBySecret(ctx context.Context, uid int64, secret string) (*kassa.Order, error) {
	os, err := orderStores(e.store)
	if err != nil {
		return nil, err
	}
	o, err := os.OrderByUID(ctx, uid)
	if kassa.ErrorKind(err) == kassa.ENOTFOUND {
		return nil, orderNotFound()
	} else if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(o.Secret), []byte(secret)) != 1 {
		return nil, orderNotFound()
	}
	return o, nil
}

// Order returns an order of pr by ID or UID.
func (e *Engine) Order(ctx context.Context, pr kassa.Principal, ref string) (*kassa.Order, error) {
	o, err := e.OperatorOrder(ctx, ref)
	if err != nil {
		return nil, err
	}
	if o.MerchantID != pr.MerchantID || o.Livemode != pr.Livemode {
		return nil, kassa.Errorf(kassa.ENOTFOUND, "resource_missing", "no such order: '%s'", ref)
	}
	return o, nil
}

// OperatorOrder returns any order by ID ("ord_…") or UID (the operator's view).
func (e *Engine) OperatorOrder(ctx context.Context, ref string) (*kassa.Order, error) {
	os, err := orderStores(e.store)
	if err != nil {
		return nil, err
	}
	if uid, err := strconv.ParseInt(ref, 10, 64); err == nil {
		return os.OrderByUID(ctx, uid)
	}
	return os.Order(ctx, ref)
}

// ListOrders returns a page of pr's orders, newest first.
func (e *Engine) ListOrders(ctx context.Context, pr kassa.Principal, f kassa.OrderFilter) ([]*kassa.Order, bool, error) {
	os, err := orderStores(e.store)
	if err != nil {
		return nil, false, err
	}
	return os.ListOrders(ctx, pr, f)
}

// ---- moving orders

// moveOrder applies one lifecycle step inside tx and writes its event
// (which queues its IPN, see orderIPN). The order row itself is stored by the caller (saveOrder).
func (e *Engine) moveOrder(ctx context.Context, ot kassa.OrderTx, o *kassa.Order, to kassa.OrderStatus, reason string) error {
	now := e.now()
	if err := o.Move(to, reason, now); err != nil {
		return err
	}
	return ot.InsertEvent(ctx, kassa.NewEvent(kassa.EventOrderUpdated, o.MerchantID, o.Livemode, "", o.Object(false), now))
}

// orderIPN is the subscription that sends an order's status changes to its
// ipnUrl. Its ID "ipn:<order>" keeps a 410 Gone from one IPN receiver from
// touching any other delivery. Single-try is a property of the format.
func orderIPN(o *kassa.Order) *notify.Subscription {
	format := FormatIziIPN
	if o.IPNSingleTry {
		format = FormatIziIPNOnce
	}
	return &notify.Subscription{ID: "ipn:" + o.ID, Subject: o.ID, MerchantID: o.MerchantID, Livemode: o.Livemode,
		URL: o.IPNURL, Format: format, EventTypes: []string{kassa.EventOrderUpdated}, Created: o.Created}
}

// afterPaid starts the payout of a paid order on an automatic route.
func (e *Engine) afterPaid(ctx context.Context, ot kassa.OrderTx, o *kassa.Order) error {
	if o.Status != kassa.OrderInProgress || o.PayoutMode != kassa.PayoutAutomatic {
		return nil
	}
	o.PayoutRef, o.PayoutStatus, o.PayoutMessage = "", kassa.PayoutNone, ""
	if err := e.moveOrder(ctx, ot, o, kassa.OrderInProgressPayout, "automatic payout"); err != nil {
		return err
	}
	wakePayouts(e)
	return nil
}

// orderPaymentMoved is called by movePayment, in the transaction that
// recorded a payment's new status, after the payment's event. It moves the
// payment's order, if the payment belongs to one: success → inProgress
// (and on to inProgressPayout on automatic routes), decline → errorPayment.
func (e *Engine) orderPaymentMoved(ctx context.Context, tx kassa.Tx, p *kassa.Payment, event string) error {
	if !strings.HasPrefix(p.OrderID, "ord_") || (event != kassa.EventPaymentSucceeded && event != kassa.EventPaymentFailed) {
		return nil
	}
	ot, ok := tx.(kassa.OrderTx)
	if !ok {
		return nil
	}
	o, err := ot.LockOrder(ctx, p.OrderID)
	if kassa.ErrorKind(err) == kassa.ENOTFOUND {
		return nil // a merchant's own order reference that merely looks like ours
	} else if err != nil {
		return err
	}
	if o.MerchantID != p.MerchantID || o.Livemode != p.Livemode {
		return nil
	}
	if event == kassa.EventPaymentFailed {
		if o.Status != kassa.OrderNew && o.Status != kassa.OrderWaitPayment {
			return nil
		}
		reason := "payment declined"
		if p.LastError != nil {
			reason += ": " + p.LastError.Code
		}
		if err := e.moveOrder(ctx, ot, o, kassa.OrderErrorPayment, reason); err != nil {
			return err
		}
		return ot.UpdateOrder(ctx, o)
	}
	// Succeeded: the money is in, whatever the order's status says.
	o.Paid, o.PaymentID, o.Updated = true, p.ID, e.now()
	switch o.Status {
	case kassa.OrderNew, kassa.OrderWaitPayment, kassa.OrderErrorPayment:
		if err := e.moveOrder(ctx, ot, o, kassa.OrderInProgress, "payment "+p.ID+" succeeded"); err != nil {
			return err
		}
		if err := e.afterPaid(ctx, ot, o); err != nil {
			return err
		}
	default:
		// On hold (release then goes to inProgress) or, after a lost race
		// with delete, deleted: the operator sees a paid order and returns it.
		e.log.Warn("order paid while not awaiting payment", "order", o.ID, "status", o.Status, "payment", p.ID)
	}
	return ot.UpdateOrder(ctx, o)
}

// StartOrderPayment is the shopper's "pay" on the payment page: the order
// moves to waitPayment and the returned payment is one whose card form is
// open. A payment whose form has expired (its client secret lives
// Config.ClientSecretTTL) is canceled and replaced by a fresh one for the
// same order; order claims still allow only one of them to succeed.
func (e *Engine) StartOrderPayment(ctx context.Context, uid int64, secret string) (*kassa.Order, *kassa.Payment, error) {
	o, err := e.OrderBySecret(ctx, uid, secret)
	if err != nil {
		return nil, nil, err
	}
	var pay *kassa.Payment
	err = e.store.Write(ctx, func(tx kassa.Tx) error {
		ot, err := orderTx(tx)
		if err != nil {
			return err
		}
		if o, err = ot.LockOrder(ctx, o.ID); err != nil {
			return err
		}
		switch o.Status {
		case kassa.OrderNew, kassa.OrderErrorPayment:
			if err := e.moveOrder(ctx, ot, o, kassa.OrderWaitPayment, "the client went to pay"); err != nil {
				return err
			}
		case kassa.OrderWaitPayment:
		default:
			return kassa.Errorf(kassa.EINVALID, "order_not_payable", "order %d is %s and takes no payment", o.UID, o.Status)
		}
		pr := kassa.Principal{MerchantID: o.MerchantID, Livemode: o.Livemode}
		if pay, err = tx.LockPayment(ctx, pr, o.PaymentID); err != nil {
			return err
		}
		now := e.now()
		// Keep a margin so the form does not expire under the shopper.
		fresh := now.Before(pay.Created.Add(e.cfg.ClientSecretTTL - 2*time.Minute))
		switch {
		case pay.Status == kassa.StatusRequiresPaymentMethod && !fresh:
			pay.Status, pay.CanceledReason, pay.Updated = kassa.StatusCanceled, "abandoned", now
			if err := tx.UpdatePayment(ctx, pay); err != nil {
				return err
			}
			if err := e.event(ctx, tx, kassa.EventPaymentCanceled, pay, nil); err != nil {
				return err
			}
			fallthrough
		case pay.Status == kassa.StatusCanceled:
			o.PaymentID = kassa.NewID("pay")
			if pay, err = e.insertOrderPayment(ctx, tx, o, o.PaymentID, now); err != nil {
				return err
			}
		}
		o.Updated = now
		return ot.UpdateOrder(ctx, o)
	})
	if err != nil {
		return nil, nil, err
	}
	return o, pay, nil
}

// OrderAction is an operator's move of an order.
type OrderAction string

const (
	ActionHold    OrderAction = "hold"
	ActionRelease OrderAction = "release"
	ActionApprove OrderAction = "approve" // pay out a paid order (manual routes), or retry a failed payout
	ActionReturn  OrderAction = "return"  // refund the pay-in to the sender
	ActionDelete  OrderAction = "delete"  // cancel an unpaid order and its payment
)

// ActOnOrder applies an operator action. pr nil is the operator (CLI),
// who may act on any order; otherwise the order must be pr's. ref is the
// order's ID or UID. Illegal moves are refused with order_transition_invalid.
func (e *Engine) ActOnOrder(ctx context.Context, pr *kassa.Principal, ref string, action OrderAction, reason string) (*kassa.Order, error) {
	var o *kassa.Order
	var err error
	if pr == nil {
		o, err = e.OperatorOrder(ctx, ref)
	} else {
		o, err = e.Order(ctx, *pr, ref)
	}
	if err != nil {
		return nil, err
	}
	if err := checkText("reason", reason, maxText); err != nil {
		return nil, err
	}
	if reason == "" {
		reason = "operator: " + string(action)
	}
	switch action {
	case ActionHold, ActionRelease, ActionApprove:
		return e.updateOrder(ctx, o.ID, func(ot kassa.OrderTx, o *kassa.Order) error {
			switch action {
			case ActionHold:
				if o.Status == kassa.OrderInProgressPayout && o.PayoutStatus == kassa.PayoutPending {
					return kassa.Errorf(kassa.ECONFLICT, "payout_in_progress", "order %d has a payout in flight; hold it when the payout has an outcome", o.UID)
				}
				if o.PayoutStatus == "returning" {
					return kassa.Errorf(kassa.ECONFLICT, "order_returning", "order %d is being returned", o.UID)
				}
				return e.moveOrder(ctx, ot, o, kassa.OrderHold, reason)
			case ActionRelease:
				if o.Status != kassa.OrderHold {
					return kassa.Errorf(kassa.EINVALID, "order_transition_invalid", "order %d is %s, not on hold", o.UID, o.Status)
				}
				to := o.ReleaseTo()
				if err := e.moveOrder(ctx, ot, o, to, reason); err != nil {
					return err
				}
				if to == kassa.OrderInProgressPayout {
					o.PayoutRef, o.PayoutStatus, o.PayoutMessage = "", kassa.PayoutNone, ""
					wakePayouts(e)
				}
				return e.afterPaid(ctx, ot, o)
			default: // approve
				if o.Status != kassa.OrderInProgress && o.Status != kassa.OrderErrorPayout {
					return kassa.Errorf(kassa.EINVALID, "order_transition_invalid", "order %d cannot be paid out in status %s", o.UID, o.Status)
				}
				if o.PayoutStatus == "returning" {
					return kassa.Errorf(kassa.ECONFLICT, "order_returning", "order %d is being returned", o.UID)
				}
				o.PayoutRef, o.PayoutStatus, o.PayoutMessage = "", kassa.PayoutNone, ""
				if err := e.moveOrder(ctx, ot, o, kassa.OrderInProgressPayout, reason); err != nil {
					return err
				}
				wakePayouts(e)
				return nil
			}
		})
	case ActionReturn:
		return e.returnOrder(ctx, o, reason)
	case ActionDelete:
		return e.deleteOrder(ctx, o, reason)
	}
	return nil, kassa.Invalid("action", "parameter_invalid", "action must be hold, release, approve, return or delete")
}

// updateOrder runs fn on the locked order and stores it.
func (e *Engine) updateOrder(ctx context.Context, id string, fn func(kassa.OrderTx, *kassa.Order) error) (*kassa.Order, error) {
	var o *kassa.Order
	err := e.store.Write(ctx, func(tx kassa.Tx) error {
		ot, err := orderTx(tx)
		if err != nil {
			return err
		}
		if o, err = ot.LockOrder(ctx, id); err != nil {
			return err
		}
		if err := fn(ot, o); err != nil {
			return err
		}
		o.Updated = e.now()
		return ot.UpdateOrder(ctx, o)
	})
	if err != nil {
		return nil, err
	}
	return o, nil
}

// returnOrder refunds the pay-in and marks the order returned. The order is
// marked "returning" first, under its lock, so no payout can be approved
// while the refund runs; a refused refund clears the mark.
func (e *Engine) returnOrder(ctx context.Context, o *kassa.Order, reason string) (*kassa.Order, error) {
	if _, err := e.updateOrder(ctx, o.ID, func(ot kassa.OrderTx, o *kassa.Order) error {
		if err := o.CheckTransition(kassa.OrderReturned); err != nil {
			return err
		}
		if o.PayoutStatus == kassa.PayoutSucceeded || o.PayoutStatus == kassa.PayoutPending {
			return kassa.Errorf(kassa.ECONFLICT, "payout_in_progress", "order %d has a payout that may have been sent", o.UID)
		}
		o.PayoutStatus = "returning"
		return nil
	}); err != nil {
		return nil, err
	}
	pr := kassa.Principal{MerchantID: o.MerchantID, Livemode: o.Livemode}
	_, rerr := e.CreateRefund(ctx, pr, RefundParams{PaymentID: o.PaymentID, Reason: "requested_by_customer"})
	if rerr != nil && kassa.ErrorCode(rerr) != "charge_already_refunded" {
		e.updateOrder(ctx, o.ID, func(_ kassa.OrderTx, o *kassa.Order) error {
			o.PayoutStatus = kassa.PayoutNone
			return nil
		})
		return nil, rerr
	}
	return e.updateOrder(ctx, o.ID, func(ot kassa.OrderTx, o *kassa.Order) error {
		o.PayoutStatus = kassa.PayoutNone
		return e.moveOrder(ctx, ot, o, kassa.OrderReturned, reason)
	})
}

// deleteOrder cancels an unpaid order: its payment is canceled first (a
// payment in flight makes the delete fail with a conflict), so it cannot
// be paid afterwards.
func (e *Engine) deleteOrder(ctx context.Context, o *kassa.Order, reason string) (*kassa.Order, error) {
	if err := o.CheckTransition(kassa.OrderDeleted); err != nil {
		return nil, err
	}
	pr := kassa.Principal{MerchantID: o.MerchantID, Livemode: o.Livemode}
	p, err := e.store.Payment(ctx, pr, o.PaymentID)
	if err != nil {
		return nil, err
	}
	if p.Status != kassa.StatusCanceled {
		if _, err := e.CancelPayment(ctx, pr, p.ID, "abandoned"); err != nil {
			return nil, err
		}
	}
	return e.updateOrder(ctx, o.ID, func(ot kassa.OrderTx, o *kassa.Order) error {
		return e.moveOrder(ctx, ot, o, kassa.OrderDeleted, reason)
	})
}

// ---- payouts

// wakePayouts tells this engine's payout runner, if one runs, to look now.
func wakePayouts(e *Engine) {
	select {
	case e.payoutWake <- struct{}{}:
	default:
	}
}

// RunPayouts pays out due orders until ctx ends: when an order is queued
// in this process, and every interval (orders of other instances, and
// attempts whose answer was lost).
func (e *Engine) RunPayouts(ctx context.Context, pp processor.PayoutProcessor, interval time.Duration) {
	wake := e.payoutWake
	t := time.NewTicker(interval)
	defer t.Stop()
	// A wake is sent from inside the transaction that queues the payout,
	// before it commits, so the first look may not see the order yet: after
	// a wake the runner looks again a few times shortly after.
	followUps := []time.Duration{20 * time.Millisecond, 100 * time.Millisecond, 500 * time.Millisecond}
	var again <-chan time.Time
	next := len(followUps)
	for {
		found := 0
		for {
			n, err := e.ProcessPayouts(ctx, pp, 50)
			if err != nil && ctx.Err() == nil {
				e.log.Error("payouts", "err", err)
			}
			found += n
			if n < 50 {
				break
			}
		}
		if found > 0 {
			next = len(followUps)
		}
		again = nil
		if next < len(followUps) {
			again = time.After(followUps[next])
			next++
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
			next = 0
		case <-again:
		case <-t.C:
		}
	}
}

// ProcessPayouts runs the payouts due now and returns how many it tried.
func (e *Engine) ProcessPayouts(ctx context.Context, pp processor.PayoutProcessor, limit int) (int, error) {
	os, err := orderStores(e.store)
	if err != nil {
		return 0, err
	}
	due, err := os.PayoutsDue(ctx, e.now().Add(-e.cfg.ReconcileGrace), limit)
	if err != nil {
		return 0, err
	}
	var errs []error
	for _, o := range due {
		errs = append(errs, e.payout(ctx, pp, o.ID))
	}
	return len(due), errors.Join(errs...)
}

// payout makes one payout attempt of an order: commit the attempt's
// reference, call the processor, record the answer.
func (e *Engine) payout(ctx context.Context, pp processor.PayoutProcessor, id string) error {
	var req processor.PayoutRequest
	claimed := false
	_, err := e.updateOrder(ctx, id, func(_ kassa.OrderTx, o *kassa.Order) error {
		now := e.now()
		switch {
		case o.Status != kassa.OrderInProgressPayout:
			return nil
		case o.PayoutStatus == kassa.PayoutNone:
			o.PayoutRef = kassa.NewID("po")
		case o.PayoutStatus == kassa.PayoutPending && o.PayoutAt.Before(now.Add(-e.cfg.ReconcileGrace)):
			// No answer recorded: ask again with the same reference.
		default:
			return nil
		}
		o.PayoutStatus, o.PayoutAt, claimed = kassa.PayoutPending, now, true
		req = processor.PayoutRequest{Reference: o.PayoutRef, Amount: o.OutAmount, Currency: o.To, Recipient: o.ToValues, OrderUID: o.UID}
		return nil
	})
	if err != nil || !claimed {
		return err
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.ProcessorTimeout)
	resp, callErr := pp.Payout(cctx, req)
	cancel()
	if callErr != nil {
		// Unknown outcome: the row stays pending and is asked again later.
		e.log.Warn("payout outcome unknown", "order", id, "reference", req.Reference, "err", callErr)
		return nil
	}
	_, err = e.updateOrder(ctx, id, func(ot kassa.OrderTx, o *kassa.Order) error {
		if o.PayoutRef != req.Reference || o.PayoutStatus != kassa.PayoutPending || o.Status != kassa.OrderInProgressPayout {
			return nil // recorded already (a concurrent retry)
		}
		o.PayoutMessage = resp.Code
		if resp.Message != "" {
			o.PayoutMessage += ": " + resp.Message
		}
		switch resp.Outcome {
		case processor.PayoutPaid:
			o.PayoutStatus = kassa.PayoutSucceeded
			return e.moveOrder(ctx, ot, o, kassa.OrderDone, "payout "+resp.ProcessorRef+" sent")
		case processor.PayoutHeld:
			o.PayoutStatus = kassa.PayoutHeld
			return e.moveOrder(ctx, ot, o, kassa.OrderHold, "payout held: "+resp.Code)
		default:
			o.PayoutStatus = kassa.PayoutFailed
			return e.moveOrder(ctx, ot, o, kassa.OrderErrorPayout, "payout rejected: "+resp.Code)
		}
	})
	return err
}
