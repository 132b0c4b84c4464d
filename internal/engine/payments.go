package engine

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/processor"
)

// PaymentParams are the merchant's inputs for a new payment.
type PaymentParams struct {
	Amount        int64
	Currency      string
	OrderID       string
	CaptureMethod kassa.CaptureMethod
	Description   string
	Customer      *kassa.Customer
	Billing       *kassa.Address
	Shipping      *kassa.Address
	Items         []kassa.Item
	ReturnURL     string
	CancelURL     string
	NotifyURL     string
	Metadata      map[string]string
}

// PaymentDetail is a payment with its ledger-derived totals.
type PaymentDetail struct {
	Payment *kassa.Payment
	Totals  kassa.Totals
}

// Object renders the payment for its owner (with client secret and checkout URL).
func (e *Engine) Object(d *PaymentDetail) kassa.PaymentObject {
	return d.Payment.Object(d.Totals, e.CheckoutURL(d.Payment), true)
}

// CheckoutURL is the hosted payment page of p. The client secret in the path
// is what lets a browser pay without the merchant's secret key.
func (e *Engine) CheckoutURL(p *kassa.Payment) string {
	if p.Status.Terminal() {
		return ""
	}
	return e.cfg.BaseURL + "/pay/" + p.ClientSecret
}

// Limits on payment fields; each violation names its param.
const (
	maxOrderID     = 255
	maxDescription = 1000
	maxURL         = 2048
	maxItems       = 100
	maxMetaKeys    = 50
	maxMetaKey     = 40
	maxMetaValue   = 500
	maxText        = 255
)

func (p *PaymentParams) validate() error {
	var err error
	if p.Amount <= 0 {
		return kassa.Invalid("amount", "amount_invalid", "amount must be a positive integer in the currency's minor unit")
	}
	if p.Amount > kassa.MaxAmount {
		return kassa.Invalid("amount", "amount_too_large", "amount must be at most %d", kassa.MaxAmount)
	}
	if p.Currency, err = kassa.NormalizeCurrency("currency", p.Currency); err != nil {
		return err
	}
	switch p.CaptureMethod {
	case "":
		p.CaptureMethod = kassa.CaptureAutomatic
	case kassa.CaptureAutomatic, kassa.CaptureManual:
	default:
		return kassa.Invalid("capture_method", "parameter_invalid", "capture_method must be automatic or manual")
	}
	if err := checkText("order_id", p.OrderID, maxOrderID); err != nil {
		return err
	}
	if err := checkText("description", p.Description, maxDescription); err != nil {
		return err
	}
	for name, u := range map[string]string{"return_url": p.ReturnURL, "cancel_url": p.CancelURL, "notify_url": p.NotifyURL} {
		if err := checkURL(name, u); err != nil {
			return err
		}
	}
	if c := p.Customer; c != nil {
		if c.Email != "" && !validEmail(c.Email) {
			return kassa.Invalid("customer[email]", "email_invalid", "customer email %q is not an email address", c.Email)
		}
		if err := errors.Join(checkText("customer[name]", c.Name, maxText), checkText("customer[phone]", c.Phone, 40)); err != nil {
			return firstError(err)
		}
	}
	for prefix, a := range map[string]*kassa.Address{"billing": p.Billing, "shipping": p.Shipping} {
		if err := checkAddress(prefix, a); err != nil {
			return err
		}
	}
	if len(p.Items) > maxItems {
		return kassa.Invalid("items", "parameter_invalid", "at most %d items", maxItems)
	}
	for i, it := range p.Items {
		param := fmt.Sprintf("items[%d]", i)
		if strings.TrimSpace(it.Name) == "" {
			return kassa.Invalid(param+"[name]", "parameter_missing", "item name is required")
		}
		if err := checkText(param+"[name]", it.Name, maxText); err != nil {
			return err
		}
		if it.Quantity <= 0 || it.Quantity > 1_000_000 {
			return kassa.Invalid(param+"[quantity]", "parameter_invalid", "quantity must be between 1 and 1000000")
		}
		if it.UnitPrice < 0 || it.UnitPrice > kassa.MaxAmount {
			return kassa.Invalid(param+"[unit_price]", "parameter_invalid", "unit_price must be a non-negative amount in minor units")
		}
		if err := checkText(param+"[sku]", it.SKU, 100); err != nil {
			return err
		}
	}
	return checkMetadata(p.Metadata)
}

func firstError(err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()[0]
	}
	return err
}

func checkText(param, s string, max int) error {
	if !utf8.ValidString(s) {
		return kassa.Invalid(param, "parameter_invalid", "%s is not valid UTF-8", param)
	}
	if utf8.RuneCountInString(s) > max {
		return kassa.Invalid(param, "parameter_too_long", "%s is longer than %d characters", param, max)
	}
	return nil
}

func checkURL(param, s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(s) > maxURL {
		return kassa.Invalid(param, "url_invalid", "%s must be an absolute http or https URL of at most %d characters", param, maxURL)
	}
	return nil
}

func checkAddress(prefix string, a *kassa.Address) error {
	if a == nil {
		return nil
	}
	for f, v := range map[string]string{"line1": a.Line1, "line2": a.Line2, "city": a.City, "state": a.State,
		"postal_code": a.PostalCode, "name": a.Name, "phone": a.Phone} {
		if err := checkText(prefix+"["+f+"]", v, maxText); err != nil {
			return err
		}
	}
	if a.Country != "" && (len(a.Country) != 2 || strings.ToUpper(a.Country) != a.Country) {
		return kassa.Invalid(prefix+"[country]", "country_invalid", "country must be a two-letter upper-case ISO 3166-1 code")
	}
	return nil
}

func checkMetadata(m map[string]string) error {
	if len(m) > maxMetaKeys {
		return kassa.Invalid("metadata", "parameter_invalid", "metadata can have at most %d keys", maxMetaKeys)
	}
	for k, v := range m {
		if k == "" || utf8.RuneCountInString(k) > maxMetaKey {
			return kassa.Invalid("metadata["+k+"]", "parameter_invalid", "metadata keys must be 1 to %d characters", maxMetaKey)
		}
		if err := checkText("metadata["+k+"]", v, maxMetaValue); err != nil {
			return err
		}
	}
	return nil
}

// CreatePayment creates a payment. With card non-nil it is confirmed at once:
// the payment, its order claim and the pending ledger row are committed in
// one transaction before the processor is called. A declined card returns the
// payment (back in requires_payment_method) together with an ECARD error.
func (e *Engine) CreatePayment(ctx context.Context, pr kassa.Principal, params PaymentParams, card *kassa.Card) (*PaymentDetail, error) {
	if err := params.validate(); err != nil {
		return nil, err
	}
	now := e.now()
	if card != nil {
		if err := card.Validate("payment_method[card]", now); err != nil {
			return nil, err
		}
	}
	id := kassa.NewID("pay")
	p := &kassa.Payment{
		ID: id, MerchantID: pr.MerchantID, Livemode: pr.Livemode, Amount: params.Amount, Currency: params.Currency,
		OrderID: params.OrderID, CaptureMethod: params.CaptureMethod, Description: params.Description,
		Customer: params.Customer, Billing: params.Billing, Shipping: params.Shipping, Items: params.Items,
		ReturnURL: params.ReturnURL, CancelURL: params.CancelURL, NotifyURL: params.NotifyURL, Metadata: params.Metadata,
		Status: kassa.StatusRequiresPaymentMethod, ClientSecret: id + "_secret_" + kassa.RandomToken(16),
		Created: now, Updated: now, ExpiresAt: now.Add(e.cfg.PaymentTTL),
	}
	// payment.created shows the payment as created; one confirmed at once is
	// stored directly in its charging state (one write fewer on the hot path).
	created := *p
	if card != nil {
		chargeStarts(p, card, now)
	}
	var txn *kassa.Transaction
	err := e.store.Write(ctx, func(tx kassa.Tx) error {
		if err := tx.InsertPayment(ctx, p); err != nil {
			return err
		}
		if err := e.event(ctx, tx, kassa.EventPaymentCreated, &created, nil); err != nil {
			return err
		}
		if card == nil {
			return nil
		}
		var err error
		txn, err = e.writePendingCharge(ctx, tx, p, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	if txn == nil {
		return &PaymentDetail{Payment: p}, nil
	}
	return e.charge(ctx, p, txn, card)
}

// ConfirmPayment charges card for an existing payment.
func (e *Engine) ConfirmPayment(ctx context.Context, pr kassa.Principal, id string, card *kassa.Card) (*PaymentDetail, error) {
	if card == nil {
		return nil, kassa.Invalid("payment_method", "parameter_missing", "a payment_method with card details is required to confirm")
	}
	now := e.now()
	if err := card.Validate("payment_method[card]", now); err != nil {
		return nil, err
	}
	var p *kassa.Payment
	var txn *kassa.Transaction
	err := e.store.Write(ctx, func(tx kassa.Tx) error {
		var err error
		if p, err = tx.LockPayment(ctx, pr, id); err != nil {
			return err
		}
		if err := p.CheckConfirm(now); err != nil {
			return err
		}
		txns, err := tx.PaymentTransactions(ctx, p.ID)
		if err != nil {
			return err
		}
		declined := 0
		for _, x := range txns {
			if (x.Type == kassa.TxnSale || x.Type == kassa.TxnAuthorize) && x.Status == kassa.TxnFailed {
				declined++
			}
		}
		if declined >= e.cfg.MaxChargeAttempts {
			return kassa.Errorf(kassa.EINVALID, "payment_attempts_exceeded",
				"payment %s was declined %d times and takes no more attempts; create a new payment", p.ID, declined)
		}
		if txn, err = e.writePendingCharge(ctx, tx, p, now); err != nil {
			return err
		}
		chargeStarts(p, card, now)
		return tx.UpdatePayment(ctx, p)
	})
	if err != nil {
		return nil, err
	}
	return e.charge(ctx, p, txn, card)
}

// writePendingCharge claims the payment's order and writes the pending
// authorize or sale row, inside the caller's write transaction.
func (e *Engine) writePendingCharge(ctx context.Context, tx kassa.Tx, p *kassa.Payment, t time.Time) (*kassa.Transaction, error) {
	if p.OrderID != "" {
		holder, err := tx.ClaimOrder(ctx, p.MerchantID, p.Livemode, p.OrderID, p.ID)
		if err != nil {
			return nil, err
		}
		if holder != p.ID {
			return nil, &kassa.Error{Kind: kassa.ECONFLICT, Code: "order_already_paid", Param: "order_id",
				Message: fmt.Sprintf("order %q is already paid or being paid by payment %s", p.OrderID, holder)}
		}
	}
	typ := kassa.TxnSale
	if p.CaptureMethod == kassa.CaptureManual {
		typ = kassa.TxnAuthorize
	}
	txn := &kassa.Transaction{ID: kassa.NewID("txn"), PaymentID: p.ID, MerchantID: p.MerchantID, Livemode: p.Livemode,
		Type: typ, Status: kassa.TxnPending, Amount: p.Amount, Currency: p.Currency, Processor: e.proc.Name(),
		Created: t, Updated: t}
	return txn, tx.InsertTransaction(ctx, txn)
}

// chargeStarts moves p to processing with the card being charged.
func chargeStarts(p *kassa.Payment, card *kassa.Card, t time.Time) {
	sum := card.Summary()
	p.Status, p.Card, p.LastError, p.NextAction, p.Updated = kassa.StatusProcessing, &sum, nil, nil, t
}

// charge calls the processor for a committed pending authorize/sale row and
// records the result.
func (e *Engine) charge(ctx context.Context, p *kassa.Payment, txn *kassa.Transaction, card *kassa.Card) (*PaymentDetail, error) {
	req := processor.Request{Reference: txn.ID, Amount: txn.Amount, Currency: txn.Currency, Card: card,
		ReturnURL: e.cfg.BaseURL + "/pay/3ds/" + p.ID, OrderID: p.OrderID, Description: p.Description}
	resp, callErr := e.call(ctx, txn.Type, req)
	return e.record(ctx, txn, resp, callErr)
}

// call runs one processor operation. It is detached from the caller's
// cancellation: once a pending row is committed the call and its recording
// run to the end even if the client hangs up, so the ledger learns the result.
func (e *Engine) call(ctx context.Context, typ kassa.TxnType, req processor.Request) (processor.Response, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.ProcessorTimeout)
	defer cancel()
	switch typ {
	case kassa.TxnAuthorize:
		return e.proc.Authorize(ctx, req)
	case kassa.TxnSale:
		return e.proc.Sale(ctx, req)
	case kassa.TxnCapture:
		return e.proc.Capture(ctx, req)
	case kassa.TxnVoid:
		return e.proc.Void(ctx, req)
	case kassa.TxnRefund:
		return e.proc.Refund(ctx, req)
	}
	return processor.Response{}, fmt.Errorf("engine: unknown transaction type %q", typ)
}

// record writes a processor result to the ledger and moves the payment.
// It is the one place results are applied, for live calls, 3-D Secure
// returns and the reconciler alike, and it is idempotent: a transaction
// already settled is left alone (the reconciler and a live call may race).
// With callErr non-nil the outcome is unknown.
func (e *Engine) record(ctx context.Context, txn *kassa.Transaction, resp processor.Response, callErr error) (*PaymentDetail, error) {
	ctx = context.WithoutCancel(ctx)
	pr := kassa.Principal{MerchantID: txn.MerchantID, Livemode: txn.Livemode}
	var detail *PaymentDetail
	var result error
	err := e.store.Write(ctx, func(tx kassa.Tx) error {
		result = nil
		p, err := tx.LockPayment(ctx, pr, txn.PaymentID)
		if err != nil {
			return err
		}
		txns, err := tx.PaymentTransactions(ctx, p.ID)
		if err != nil {
			return err
		}
		x := findTxn(txns, txn.ID)
		if x == nil {
			return fmt.Errorf("engine: transaction %s missing from payment %s", txn.ID, p.ID)
		}
		if x.Status.Settled() {
			detail = &PaymentDetail{Payment: p, Totals: kassa.ComputeTotals(txns)}
			return nil
		}
		now := e.now()
		changed := applyOutcome(x, resp, callErr, now)
		if changed {
			if err := tx.UpdateTransaction(ctx, x); err != nil {
				return err
			}
		}
		totals := kassa.ComputeTotals(txns)
		result, err = e.movePayment(ctx, tx, p, x, txns, resp, totals, now)
		detail = &PaymentDetail{Payment: p, Totals: totals}
		return err
	})
	if err != nil {
		return nil, err
	}
	return detail, result
}

func findTxn(txns []kassa.Transaction, id string) *kassa.Transaction {
	for i := range txns {
		if txns[i].ID == id {
			return &txns[i]
		}
	}
	return nil
}

// applyOutcome sets x's status from the processor's answer and reports
// whether anything changed.
func applyOutcome(x *kassa.Transaction, resp processor.Response, callErr error, now time.Time) bool {
	old := *x
	x.Updated = now
	switch {
	case callErr != nil:
		x.Status, x.Message = kassa.TxnUnknown, "outcome unknown: "+callErr.Error()
	case resp.Outcome == processor.ActionRequired:
		x.Status, x.Message = kassa.TxnPending, resp.Message // awaiting the cardholder
	case resp.Outcome == processor.Approved:
		x.Status = kassa.TxnSucceeded
	case resp.Outcome == processor.NotFound:
		// The processor never received the call: no money moved.
		x.Status, x.DeclineCode, x.Message = kassa.TxnFailed, "processor_no_record", "the processor has no record of this operation"
	default:
		x.Status = kassa.TxnFailed
	}
	if callErr == nil && resp.Outcome != processor.NotFound {
		x.ProcessorRef, x.AuthorizationCode, x.ResponseCode = resp.ProcessorRef, resp.AuthorizationCode, resp.ResponseCode
		x.DeclineCode, x.Message = resp.DeclineCode, resp.Message
	}
	return x.Status != old.Status || x.ProcessorRef != old.ProcessorRef || x.Message != old.Message
}

// cardErrorCodes are decline reasons reported under their own error code;
// the rest are reported as card_declined with the reason as decline_code.
var cardErrorCodes = map[string]bool{"expired_card": true, "incorrect_cvc": true, "processing_error": true}

func declineError(x *kassa.Transaction) *kassa.Error {
	code := "card_declined"
	if cardErrorCodes[x.DeclineCode] {
		code = x.DeclineCode
	}
	if x.DeclineCode == "authentication_failed" {
		code = "payment_authentication_failed"
	}
	msg := x.Message
	if msg == "" {
		msg = "Your card was declined."
	}
	return &kassa.Error{Kind: kassa.ECARD, Code: code, DeclineCode: x.DeclineCode, Message: msg}
}

// movePayment applies the consequence of a ledger row's new status to its
// payment, releases the order when no money moved, and writes the event.
// It returns the error to report to the caller (a decline), if any.
func (e *Engine) movePayment(ctx context.Context, tx kassa.Tx, p *kassa.Payment, x *kassa.Transaction,
	txns []kassa.Transaction, resp processor.Response, totals kassa.Totals, t time.Time) (error, error) {
	p.Updated = t
	save := func(event string) error {
		if err := tx.UpdatePayment(ctx, p); err != nil {
			return err
		}
		if event == "" {
			return nil
		}
		if err := e.event(ctx, tx, event, p, &totals); err != nil {
			return err
		}
		// An order with payout (orders.go) moves with its payment, in this
		// same transaction: a paid payment and its paid order commit together.
		return e.orderPaymentMoved(ctx, tx, p, event)
	}
	release := func() error {
		if p.OrderID == "" {
			return nil
		}
		return tx.ReleaseOrder(ctx, p.MerchantID, p.Livemode, p.OrderID, p.ID)
	}
	switch x.Type {
	case kassa.TxnAuthorize, kassa.TxnSale:
		if p.Status.Terminal() {
			// A late answer about a charge of a payment that is already
			// over (canceled after its 3-D Secure challenge was voided).
			// The ledger row records it; the payment does not move. An
			// approval here would be money taken for a canceled payment:
			// the void protocol in abandon() exists so that it cannot
			// happen, and if it ever does, the operator must know.
			if x.Status == kassa.TxnSucceeded && p.Status == kassa.StatusCanceled {
				e.log.Error("charge approved for a canceled payment: reverse it at the processor",
					"payment", p.ID, "transaction", x.ID, "amount", x.Amount, "currency", x.Currency)
			}
			return nil, nil
		}
		switch x.Status {
		case kassa.TxnUnknown:
			p.Status = kassa.StatusProcessing
			return nil, save("")
		case kassa.TxnPending: // 3-D Secure
			if p.Status == kassa.StatusRequiresAction {
				return nil, nil
			}
			p.Status, p.NextAction = kassa.StatusRequiresAction, &kassa.NextAction{Type: "redirect_to_url", RedirectURL: resp.RedirectURL}
			return nil, save(kassa.EventPaymentRequiresAction)
		case kassa.TxnSucceeded:
			p.Status, p.NextAction, p.LastError = kassa.StatusSucceeded, nil, nil
			ev := kassa.EventPaymentSucceeded
			if x.Type == kassa.TxnAuthorize {
				p.Status, ev = kassa.StatusRequiresCapture, kassa.EventPaymentAuthorized
			}
			return nil, save(ev)
		default:
			de := declineError(x)
			p.Status, p.NextAction = kassa.StatusRequiresPaymentMethod, nil
			p.LastError = &kassa.PaymentError{Type: "card_error", Code: de.Code, DeclineCode: de.DeclineCode, Message: de.Message}
			if err := release(); err != nil {
				return nil, err
			}
			return de, save(kassa.EventPaymentFailed)
		}
	case kassa.TxnCapture:
		switch x.Status {
		case kassa.TxnSucceeded:
			p.Status = kassa.StatusSucceeded
			return nil, save(kassa.EventPaymentSucceeded)
		case kassa.TxnFailed:
			return &kassa.Error{Kind: kassa.ECARD, Code: "capture_failed", DeclineCode: x.DeclineCode,
				Message: "the processor refused the capture: " + x.Message}, save("")
		}
		return nil, nil // unknown: the reconciler finishes it
	case kassa.TxnVoid:
		switch x.Status {
		case kassa.TxnSucceeded:
			// A void of an open 3-D Secure challenge ends its charge: the
			// processor will no longer approve it, so the row is final.
			for i := range txns {
				if a := &txns[i]; a.ID == x.ParentID && a.Status == kassa.TxnPending {
					a.Status, a.DeclineCode, a.Message, a.Updated = kassa.TxnFailed, "authentication_abandoned",
						"authentication canceled before the cardholder finished", t
					if err := tx.UpdateTransaction(ctx, a); err != nil {
						return nil, err
					}
				}
			}
			p.Status, p.NextAction = kassa.StatusCanceled, nil
			if p.CanceledReason == "" {
				p.CanceledReason = "requested_by_customer"
			}
			if err := release(); err != nil {
				return nil, err
			}
			return nil, save(kassa.EventPaymentCanceled)
		case kassa.TxnFailed:
			return &kassa.Error{Kind: kassa.ECARD, Code: "void_failed", DeclineCode: x.DeclineCode,
				Message: "the processor refused to void the authorization: " + x.Message}, nil
		}
		return nil, nil
	case kassa.TxnRefund:
		if !x.Status.Settled() {
			return nil, nil
		}
		r, err := tx.RefundByTransaction(ctx, x.ID)
		if err != nil {
			return nil, err
		}
		r.Status, r.FailureCode = x.Status, x.DeclineCode
		ev := kassa.EventRefundSucceeded
		if x.Status == kassa.TxnFailed {
			ev = kassa.EventRefundFailed
		}
		if err := tx.InsertEvent(ctx, kassa.NewEvent(ev, p.MerchantID, p.Livemode, p.ID, r.Object(), t)); err != nil {
			return nil, err
		}
		if x.Status == kassa.TxnFailed {
			return &kassa.Error{Kind: kassa.ECARD, Code: "refund_failed", DeclineCode: x.DeclineCode,
				Message: "the processor refused the refund: " + x.Message}, nil
		}
		return nil, nil
	}
	return nil, fmt.Errorf("engine: unknown transaction type %q", x.Type)
}

// event writes a payment event with the payment as it is now. totals nil
// means the payment has no ledger rows yet.
func (e *Engine) event(ctx context.Context, tx kassa.Tx, typ string, p *kassa.Payment, totals *kassa.Totals) error {
	var t kassa.Totals
	if totals != nil {
		t = *totals
	}
	return tx.InsertEvent(ctx, kassa.NewEvent(typ, p.MerchantID, p.Livemode, p.ID, p.Object(t, "", false), e.now()))
}
