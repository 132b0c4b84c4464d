package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/notify"
)

// Shoplazza payments app: Kassa is the "payments app server" a Shoplazza
// shop sends its payment and refund requests to (specs/shoplazza-payments-app.md).
// internal/shoplazza translates the wire protocol; the rules live here:
// which shop belongs to which merchant, the map from Shoplazza's payment
// and refund ids to Kassa's payments and refunds, and idempotency on
// Shoplazza's request id.
//
// One Shoplazza order is paid at most once because its shoplazza_order_id
// is the Kassa payment's order_id: the core's order claim (taken with the
// pending ledger row, before the processor is called) lets only one
// payment of the order hold it, whatever number of tabs race.

// Shoplazza payment models, as a payments app is registered for one of them.
const (
	ShoplazzaModelRedirect = "redirect" // type=sale, the shopper is redirected to Kassa's hosted page
	ShoplazzaModelIframe   = "iframe"   // type=sale, the hosted page is loaded in the shop's iframe pop-up
)

// ShoplazzaLease is how long a request id stays locked by a request that
// never answered (the process died) before a retry may run it again.
const ShoplazzaLease = time.Minute

// ShoplazzaBinding maps a Shoplazza shop to a Kassa merchant, with the
// app's secrets in clear.
type ShoplazzaBinding struct {
	ShopDomain   string // Shoplazza's system domain, e.g. "acme.myshoplaza.com" (lower case)
	MerchantID   string
	Livemode     bool
	AppID        string
	AccountID    string // the merchant's account at the provider, sent as account_id
	Model        string // ShoplazzaModelRedirect or ShoplazzaModelIframe
	IframeWidth  int    // wanted iframe size in pixels (iframe model); 0 for the default
	IframeHeight int
	ClientSecret string // the app's client secret: keys HMAC-SHA256 by default; never logged
	AccessToken  string // the shop's OAuth token, sent as Access-Token on complete and notify calls
	SignKey      string // an optional per-shop signing key (key source "merchant_key")
	Created      time.Time
	Updated      time.Time
}

// ShoplazzaBindingRecord is a binding as stored: the secrets sealed with
// AES-256-GCM (SecretBox), each bound to the shop domain and its purpose.
type ShoplazzaBindingRecord struct {
	ShopDomain         string
	MerchantID         string
	Livemode           bool
	AppID              string
	AccountID          string
	Model              string
	IframeWidth        int
	IframeHeight       int
	ClientSecretSealed string
	AccessTokenSealed  string
	SignKeySealed      string // "" when none
	Created            time.Time
	Updated            time.Time
}

// ShoplazzaPayment is one payment request of a shop: its idempotency record
// and the Kassa payment that collects it.
type ShoplazzaPayment struct {
	ShopDomain       string
	RequestID        string // the request's "id": Shoplazza's payment id
	MerchantID       string
	Livemode         bool
	AppID            string
	ShoplazzaOrderID string
	Type             string // sale | card
	Amount           string // as sent, e.g. "254.20"
	Currency         string
	Test             bool
	CancelURL        string
	CompleteURL      string
	CallbackURL      string
	// Origins are the shop's web origins (system and custom domain) that
	// may frame the hosted page in the iframe model.
	Origins     []string
	Fingerprint string // the request's parameters, hashed without timestamp and signature
	Extra       string // JSON: headers and unknown fields, kept with the payment
	PaymentID   string // the Kassa payment; "" until created
	// ResponseStatus and Response are the answer given to the request,
	// replayed for a repeated id; 0 while the first request runs.
	ResponseStatus   int
	Response         []byte
	CompleteRedirect string // Shoplazza's redirect_url from the complete call, once made
	LockedUntil      time.Time
	Created          time.Time
}

// ShoplazzaRefund is one refund request of a shop.
type ShoplazzaRefund struct {
	ShopDomain       string
	RequestID        string // the refund request's "id"
	MerchantID       string
	Livemode         bool
	AppID            string
	PaymentRequestID string // Shoplazza's payment id (payment_id)
	PaymentID        string // the Kassa payment
	Amount           string
	Currency         string
	CallbackURL      string
	Fingerprint      string
	Extra            string
	RefundID         string // the Kassa refund; "" until created
	ResponseStatus   int
	Response         []byte
	LockedUntil      time.Time
	Created          time.Time
}

// ShoplazzaStore keeps bindings and request records; internal/store's *DB
// implements it. The Notify calls are notification subscriptions
// (notify.Subscription) made by this service: see shoplazzaNotify.
type ShoplazzaStore interface {
	ShoplazzaShop(ctx context.Context, shopDomain string) (*ShoplazzaBindingRecord, error)
	ShoplazzaShopsOf(ctx context.Context, merchantID string) ([]*ShoplazzaBindingRecord, error)
	// PutShoplazzaShop inserts or replaces the binding of r.ShopDomain. A
	// binding of another merchant is replaced only with reassign; without
	// it the store answers ECONFLICT shop_bound_elsewhere, deciding in the
	// same statement so that two merchants racing for a new shop cannot
	// both win.
	PutShoplazzaShop(ctx context.Context, r *ShoplazzaBindingRecord, reassign bool) error

	ShoplazzaPayment(ctx context.Context, shopDomain, requestID string) (*ShoplazzaPayment, error)
	ShoplazzaPaymentByPayment(ctx context.Context, paymentID string) (*ShoplazzaPayment, error)
	// ReserveShoplazzaPayment inserts s unless its (shop, request id)
	// exists, or takes over a row whose first request never answered and
	// whose lease ended before now. It returns the stored row and whether
	// the caller now holds it.
	ReserveShoplazzaPayment(ctx context.Context, s *ShoplazzaPayment, now time.Time) (*ShoplazzaPayment, bool, error)
	// UpdateShoplazzaPayment stores payment_id, the answer and the complete redirect.
	UpdateShoplazzaPayment(ctx context.Context, s *ShoplazzaPayment) error
	DeleteShoplazzaPayment(ctx context.Context, shopDomain, requestID string) error

	ShoplazzaRefund(ctx context.Context, shopDomain, requestID string) (*ShoplazzaRefund, error)
	ReserveShoplazzaRefund(ctx context.Context, r *ShoplazzaRefund, now time.Time) (*ShoplazzaRefund, bool, error)
	UpdateShoplazzaRefund(ctx context.Context, r *ShoplazzaRefund) error
	DeleteShoplazzaRefund(ctx context.Context, shopDomain, requestID string) error
}

// ShoplazzaTx is what a write transaction offers for Shoplazza request
// records; internal/store's transactions implement it.
type ShoplazzaTx interface {
	// UpdateShoplazzaPayment is ShoplazzaStore.UpdateShoplazzaPayment
	// inside the transaction.
	UpdateShoplazzaPayment(ctx context.Context, s *ShoplazzaPayment) error
}

// FormatShoplazzaNotify is the notification format of Shoplazza's Notify
// API (registered by internal/shoplazza with the notify engine).
const FormatShoplazzaNotify = "shoplazza"

// shoplazzaNotify is the subscription that calls a payment request's
// callback_url when its Kassa payment is paid or canceled (the shopper
// gave up, a direct card was declined, it expired). Its ID
// "shoplazza:<payment>" keeps deliveries to one callback URL apart from
// every other.
func shoplazzaNotify(sess *ShoplazzaPayment, now time.Time) *notify.Subscription {
	return &notify.Subscription{ID: "shoplazza:" + sess.PaymentID, Subject: sess.PaymentID, MerchantID: sess.MerchantID,
		Livemode: sess.Livemode, URL: sess.CallbackURL, Format: FormatShoplazzaNotify, Created: now,
		EventTypes: []string{kassa.EventPaymentSucceeded, kassa.EventPaymentCanceled}}
}

// shoplazzaRefundNotify is the subscription that calls a refund request's
// callback_url when the refund it asked for settles: among the refunds of
// the payment, the one whose metadata shoplazza_refund is the request's id
// (the refund's own id is not known until the processor has answered,
// after its event may be written). ID "shoplazza:<request id>".
func shoplazzaRefundNotify(r *ShoplazzaRefund, now time.Time) *notify.Subscription {
	return &notify.Subscription{ID: "shoplazza:" + r.RequestID, Subject: r.PaymentID, MerchantID: r.MerchantID,
		Livemode: r.Livemode, URL: r.CallbackURL, Format: FormatShoplazzaNotify, Created: now,
		EventTypes:  []string{kassa.EventRefundSucceeded, kassa.EventRefundFailed},
		MetadataKey: shoplazzaRefundKey, MetadataValue: r.RequestID}
}

// shoplazzaRefundKey is the refund metadata key that names the refund
// request a Kassa refund answers.
const shoplazzaRefundKey = "shoplazza_refund"

// Shoplazza is the engine's Shoplazza payments-app service.
type Shoplazza struct {
	e   *Engine
	st  ShoplazzaStore
	box *SecretBox
}

// NewShoplazza returns the Shoplazza service of e; secretKey (32 bytes)
// seals the stored secrets. It also becomes e.Shoplazza().
func NewShoplazza(e *Engine, secretKey []byte) (*Shoplazza, error) {
	st, ok := e.store.(ShoplazzaStore)
	if !ok {
		return nil, fmt.Errorf("engine: store %T does not keep Shoplazza shops", e.store)
	}
	box, err := NewSecretBox(secretKey)
	if err != nil {
		return nil, err
	}
	s := &Shoplazza{e: e, st: st, box: box}
	e.shoplazza.Store(s)
	return s, nil
}

// Shoplazza returns the Shoplazza service made for e by NewShoplazza.
func (e *Engine) Shoplazza() (*Shoplazza, error) {
	if s := e.shoplazza.Load(); s != nil {
		return s, nil
	}
	return nil, kassa.Errorf(kassa.EINVALID, "shoplazza_disabled", "the Shoplazza payments app is not enabled on this gateway (it needs KASSA_SECRET_KEY or a key file)")
}

// Engine returns the payment engine behind the service.
func (s *Shoplazza) Engine() *Engine { return s.e }

// Now is the engine's clock.
func (s *Shoplazza) Now() time.Time { return s.e.now() }

// ShoplazzaBindParams are the inputs of Bind.
type ShoplazzaBindParams struct {
	MerchantID   string
	Livemode     bool
	AppID        string
	ClientSecret string
	ShopDomain   string
	AccessToken  string
	AccountID    string
	Model        string // "" is redirect
	IframeWidth  int
	IframeHeight int
	SignKey      string
	// Reassign lets the binding move a shop that another merchant has
	// bound: an operator's decision (kassa shoplazza bind --reassign), never
	// a merchant's, who could otherwise take over another merchant's shop.
	Reassign bool
}

// NormalizeShopDomain lower-cases a shop domain and strips a scheme and
// trailing slash an operator may paste.
func NormalizeShopDomain(d string) string {
	d = strings.ToLower(strings.TrimSpace(d))
	d = strings.TrimPrefix(strings.TrimPrefix(d, "https://"), "http://")
	return strings.TrimRight(d, "/")
}

func validShopDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for _, c := range d {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// Bind maps a shop to a merchant (replacing an earlier binding of the
// shop). The secrets are sealed before they reach storage.
func (s *Shoplazza) Bind(ctx context.Context, p ShoplazzaBindParams) (*ShoplazzaBinding, error) {
	p.ShopDomain = NormalizeShopDomain(p.ShopDomain)
	p.AppID, p.AccountID = strings.TrimSpace(p.AppID), strings.TrimSpace(p.AccountID)
	req := map[string]string{"merchant": p.MerchantID, "app_id": p.AppID, "client_secret": p.ClientSecret,
		"shop_domain": p.ShopDomain, "access_token": p.AccessToken, "account_id": p.AccountID}
	for _, f := range []string{"merchant", "app_id", "client_secret", "shop_domain", "access_token", "account_id"} {
		if strings.TrimSpace(req[f]) == "" {
			return nil, kassa.Invalid(f, "parameter_missing", "%s is required", f)
		}
		if len(req[f]) > 1000 {
			return nil, kassa.Invalid(f, "parameter_too_long", "%s is longer than 1000 characters", f)
		}
	}
	if !validShopDomain(p.ShopDomain) {
		return nil, kassa.Invalid("shop_domain", "parameter_invalid", "shop_domain must be a host name such as acme.myshoplaza.com")
	}
	switch p.Model {
	case "":
		p.Model = ShoplazzaModelRedirect
	case ShoplazzaModelRedirect, ShoplazzaModelIframe:
	default:
		return nil, kassa.Invalid("model", "parameter_invalid", "model must be redirect or iframe")
	}
	if p.IframeWidth < 0 || p.IframeHeight < 0 || p.IframeWidth > 10000 || p.IframeHeight > 10000 {
		return nil, kassa.Invalid("iframe_width", "parameter_invalid", "iframe sizes are pixels between 0 and 10000")
	}
	if _, err := s.e.store.Merchant(ctx, p.MerchantID); err != nil {
		return nil, err
	}
	now := s.e.now()
	r := &ShoplazzaBindingRecord{ShopDomain: p.ShopDomain, MerchantID: p.MerchantID, Livemode: p.Livemode, AppID: p.AppID,
		AccountID: p.AccountID, Model: p.Model, IframeWidth: p.IframeWidth, IframeHeight: p.IframeHeight,
		ClientSecretSealed: s.box.Seal(s.label("client-secret", p.ShopDomain), p.ClientSecret),
		AccessTokenSealed:  s.box.Seal(s.label("access-token", p.ShopDomain), p.AccessToken),
		Created:            now, Updated: now}
	if p.SignKey != "" {
		r.SignKeySealed = s.box.Seal(s.label("sign-key", p.ShopDomain), p.SignKey)
	}
	if old, err := s.st.ShoplazzaShop(ctx, p.ShopDomain); err == nil {
		r.Created = old.Created
	}
	if err := s.st.PutShoplazzaShop(ctx, r, p.Reassign); err != nil {
		return nil, err
	}
	return s.open(r)
}

func (s *Shoplazza) label(purpose, shop string) string { return "shoplazza-" + purpose + "/" + shop }

func (s *Shoplazza) open(r *ShoplazzaBindingRecord) (*ShoplazzaBinding, error) {
	cs, err := s.box.Open(s.label("client-secret", r.ShopDomain), r.ClientSecretSealed)
	if err != nil {
		return nil, err
	}
	at, err := s.box.Open(s.label("access-token", r.ShopDomain), r.AccessTokenSealed)
	if err != nil {
		return nil, err
	}
	sk := ""
	if r.SignKeySealed != "" {
		if sk, err = s.box.Open(s.label("sign-key", r.ShopDomain), r.SignKeySealed); err != nil {
			return nil, err
		}
	}
	return &ShoplazzaBinding{ShopDomain: r.ShopDomain, MerchantID: r.MerchantID, Livemode: r.Livemode, AppID: r.AppID,
		AccountID: r.AccountID, Model: r.Model, IframeWidth: r.IframeWidth, IframeHeight: r.IframeHeight,
		ClientSecret: cs, AccessToken: at, SignKey: sk, Created: r.Created, Updated: r.Updated}, nil
}

// Binding returns the binding of a shop domain (ENOTFOUND if none).
func (s *Shoplazza) Binding(ctx context.Context, shopDomain string) (*ShoplazzaBinding, error) {
	r, err := s.st.ShoplazzaShop(ctx, NormalizeShopDomain(shopDomain))
	if err != nil {
		return nil, err
	}
	return s.open(r)
}

// Bindings returns a merchant's bindings.
func (s *Shoplazza) Bindings(ctx context.Context, merchantID string) ([]*ShoplazzaBinding, error) {
	rs, err := s.st.ShoplazzaShopsOf(ctx, merchantID)
	if err != nil {
		return nil, err
	}
	out := make([]*ShoplazzaBinding, 0, len(rs))
	for _, r := range rs {
		b, err := s.open(r)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

func (b *ShoplazzaBinding) principal() kassa.Principal {
	return kassa.Principal{MerchantID: b.MerchantID, Livemode: b.Livemode, KeyKind: kassa.KeySecret}
}

// ShoplazzaPaymentStart is the outcome of StartPayment.
type ShoplazzaPaymentStart struct {
	Session *ShoplazzaPayment
	// Replayed: the id was answered before; Session.Response is that answer.
	Replayed bool
	Payment  *PaymentDetail // the Kassa payment (nil when Replayed)
	// ChargeErr is the card error of a direct card charge (a decline), the
	// payment being attached; other failures are StartPayment's error.
	ChargeErr error
}

func idempotencyErrors(fpStored, fp string, status int, locked time.Time, now time.Time) error {
	switch {
	case fpStored != fp:
		return &kassa.Error{Kind: kassa.EIDEMPOTENCY, Code: "idempotency_key_reused", Param: "id",
			Message: "this id was already used by a request with other parameters"}
	case status == 0 && now.Before(locked):
		return kassa.Errorf(kassa.ECONFLICT, "request_in_progress", "a request with this id is still being processed; retry after it completes")
	}
	return nil
}

// orderPaid reports the payment that holds a Shoplazza order, if any: a
// quick refusal that stores nothing. The order claim decides races.
func (s *Shoplazza) orderPaid(ctx context.Context, pr kassa.Principal, orderID string) (string, error) {
	ps, _, err := s.e.store.ListPayments(ctx, pr, kassa.PaymentFilter{Page: kassa.Page{Limit: 100}, OrderID: orderID})
	if err != nil {
		return "", err
	}
	for _, p := range ps {
		if p.Status.HoldsOrder() {
			return p.ID, nil
		}
	}
	return "", nil
}

func errOrderPaid(orderID, holder string) error {
	return &kassa.Error{Kind: kassa.ECONFLICT, Code: "order_already_paid", Param: "shoplazza_order_id",
		Message: fmt.Sprintf("order %q is already paid or being paid (payment %s)", orderID, holder)}
}

// StartPayment runs a payment request of binding b: a repeated id gets the
// stored answer back (never a second charge); a new id creates the Kassa
// payment (order_id = shoplazza_order_id) and, with card non-nil (type
// card), charges it at once. sess carries the request; params the payment.
// The session row and its Notify subscription are committed before any
// charge. Requests refused before a payment exists leave nothing stored.
// The caller stores its answer with FinishPayment.
func (s *Shoplazza) StartPayment(ctx context.Context, b *ShoplazzaBinding, sess *ShoplazzaPayment, params PaymentParams, card *kassa.Card) (*ShoplazzaPaymentStart, error) {
	now := s.e.now()
	if old, err := s.st.ShoplazzaPayment(ctx, b.ShopDomain, sess.RequestID); err == nil {
		if err := idempotencyErrors(old.Fingerprint, sess.Fingerprint, old.ResponseStatus, old.LockedUntil, now); err != nil {
			return nil, err
		}
		if old.ResponseStatus != 0 {
			return &ShoplazzaPaymentStart{Session: old, Replayed: true}, nil
		}
	} else if kassa.ErrorKind(err) != kassa.ENOTFOUND {
		return nil, err
	}
	if card != nil {
		if err := card.Validate("cards", now); err != nil {
			return nil, err
		}
	}
	if err := params.validate(); err != nil {
		return nil, err
	}
	pr := b.principal()
	if holder, err := s.orderPaid(ctx, pr, params.OrderID); err != nil {
		return nil, err
	} else if holder != "" {
		return nil, errOrderPaid(params.OrderID, holder)
	}
	sess.ShopDomain, sess.MerchantID, sess.Livemode = b.ShopDomain, b.MerchantID, b.Livemode
	sess.Created, sess.LockedUntil = now, now.Add(ShoplazzaLease)
	got, mine, err := s.st.ReserveShoplazzaPayment(ctx, sess, now)
	if err != nil {
		return nil, err
	}
	if !mine { // a concurrent request with the same id won
		if err := idempotencyErrors(got.Fingerprint, sess.Fingerprint, got.ResponseStatus, got.LockedUntil, now); err != nil {
			return nil, err
		}
		return &ShoplazzaPaymentStart{Session: got, Replayed: true}, nil
	}
	sess = got
	if sess.PaymentID != "" { // taken over after a crash: carry on with its payment
		d, err := s.e.Payment(ctx, pr, sess.PaymentID)
		if err != nil {
			return nil, err
		}
		return &ShoplazzaPaymentStart{Session: sess, Payment: d}, nil
	}
	d, err := s.e.CreatePayment(ctx, pr, params, nil)
	if err != nil {
		if kassa.ErrorKind(err) != kassa.EINTERNAL {
			s.st.DeleteShoplazzaPayment(context.WithoutCancel(ctx), sess.ShopDomain, sess.RequestID)
		}
		return nil, err
	}
	sess.PaymentID = d.Payment.ID
	// The request record learns its payment in the transaction that
	// subscribes the callback_url, before any charge: a payment of a
	// request is never paid without its Notify call queued.
	err = s.e.store.Write(ctx, func(tx kassa.Tx) error {
		st, ok := tx.(ShoplazzaTx)
		if !ok {
			return fmt.Errorf("engine: transaction %T does not keep Shoplazza requests", tx)
		}
		if err := st.UpdateShoplazzaPayment(ctx, sess); err != nil || sess.CallbackURL == "" {
			return err
		}
		return notify.Subscribe(ctx, tx, shoplazzaNotify(sess, now))
	})
	if err != nil {
		return nil, err
	}
	out := &ShoplazzaPaymentStart{Session: sess, Payment: d}
	if card == nil {
		return out, nil
	}
	cd, err := s.e.ConfirmPayment(ctx, pr, d.Payment.ID, card)
	if cd != nil {
		out.Payment = cd
	}
	switch {
	case err == nil:
		return out, nil
	case kassa.ErrorKind(err) == kassa.ECARD:
		// A direct card payment has no form to try another card in: the
		// decline is final, and canceling the payment queues the failed
		// notification (the decline stays its last_error).
		if cd, cerr := s.e.CancelPayment(context.WithoutCancel(ctx), pr, d.Payment.ID, "abandoned"); cerr == nil {
			out.Payment = cd
		}
		out.ChargeErr = err
		return out, nil
	case kassa.ErrorCode(err) == "order_already_paid":
		// Lost a race with another tab: this payment never charges.
		if cd, cerr := s.e.CancelPayment(context.WithoutCancel(ctx), pr, d.Payment.ID, "duplicate"); cerr == nil {
			out.Payment = cd
		}
		return out, err
	}
	return out, err
}

// FinishPayment stores the answer given to a payment request, to be
// replayed for its id.
func (s *Shoplazza) FinishPayment(ctx context.Context, sess *ShoplazzaPayment, status int, body []byte) error {
	sess.ResponseStatus, sess.Response = status, body
	return s.st.UpdateShoplazzaPayment(context.WithoutCancel(ctx), sess)
}

// SessionByPayment returns the payment request that a Kassa payment
// collects, with its shop's binding.
func (s *Shoplazza) SessionByPayment(ctx context.Context, paymentID string) (*ShoplazzaPayment, *ShoplazzaBinding, error) {
	sess, err := s.st.ShoplazzaPaymentByPayment(ctx, paymentID)
	if err != nil {
		return nil, nil, err
	}
	b, err := s.Binding(ctx, sess.ShopDomain)
	if err != nil {
		return nil, nil, err
	}
	return sess, b, nil
}

// SetCompleteRedirect remembers Shoplazza's answer to the complete call,
// so the shopper coming back twice is sent to the same page without a
// second call.
func (s *Shoplazza) SetCompleteRedirect(ctx context.Context, sess *ShoplazzaPayment, redirect string) error {
	sess.CompleteRedirect = redirect
	return s.st.UpdateShoplazzaPayment(context.WithoutCancel(ctx), sess)
}

// Payment returns the Kassa payment of a session as it is now.
func (s *Shoplazza) Payment(ctx context.Context, sess *ShoplazzaPayment) (*PaymentDetail, error) {
	return s.e.Payment(ctx, kassa.Principal{MerchantID: sess.MerchantID, Livemode: sess.Livemode}, sess.PaymentID)
}

// Abandon cancels the payment of a session whose shopper gave up (or
// whose 3-D Secure challenge failed); a payment that finished meanwhile is
// returned as it is. Canceling queues the failed notification.
func (s *Shoplazza) Abandon(ctx context.Context, sess *ShoplazzaPayment) (*PaymentDetail, error) {
	d, err := s.Payment(ctx, sess)
	if err != nil || d.Payment.Status.Terminal() || d.Payment.Status == kassa.StatusRequiresCapture || d.Payment.Status == kassa.StatusProcessing {
		return d, err
	}
	pr := kassa.Principal{MerchantID: sess.MerchantID, Livemode: sess.Livemode}
	cd, err := s.e.CancelPayment(context.WithoutCancel(ctx), pr, sess.PaymentID, "abandoned")
	if cd != nil {
		return cd, nil
	}
	if kassa.ErrorKind(err) == kassa.EINVALID { // moved on meanwhile
		return s.Payment(ctx, sess)
	}
	return nil, err
}

// ShoplazzaRefundStart is the outcome of StartRefund.
type ShoplazzaRefundStart struct {
	Request  *ShoplazzaRefund
	Replayed bool
	Refund   *kassa.Refund
	// RefundErr is the processor's refusal of a refund that was recorded.
	RefundErr error
}

// StartRefund runs a refund request of binding b for amount (minor units
// of the payment's currency): a repeated id gets the stored answer; a new
// one refunds through the engine, which never lets refunds exceed what was
// captured. Refusals before a refund exists leave nothing stored.
func (s *Shoplazza) StartRefund(ctx context.Context, b *ShoplazzaBinding, r *ShoplazzaRefund) (*ShoplazzaRefundStart, error) {
	now := s.e.now()
	if old, err := s.st.ShoplazzaRefund(ctx, b.ShopDomain, r.RequestID); err == nil {
		if err := idempotencyErrors(old.Fingerprint, r.Fingerprint, old.ResponseStatus, old.LockedUntil, now); err != nil {
			return nil, err
		}
		if old.ResponseStatus != 0 {
			return &ShoplazzaRefundStart{Request: old, Replayed: true}, nil
		}
	} else if kassa.ErrorKind(err) != kassa.ENOTFOUND {
		return nil, err
	}
	pay, err := s.st.ShoplazzaPayment(ctx, b.ShopDomain, r.PaymentRequestID)
	if kassa.ErrorKind(err) == kassa.ENOTFOUND || err == nil && pay.PaymentID == "" {
		return nil, &kassa.Error{Kind: kassa.ENOTFOUND, Code: "payment_not_found", Param: "payment_id",
			Message: fmt.Sprintf("no payment %q of this shop", r.PaymentRequestID)}
	} else if err != nil {
		return nil, err
	}
	cur, err := kassa.NormalizeCurrency("currency", r.Currency)
	if err != nil {
		return nil, err
	}
	if cur != pay.Currency {
		return nil, kassa.Invalid("currency", "currency_mismatch", "the refund's currency %s differs from the payment's %s", cur, pay.Currency)
	}
	amount, err := kassa.ParseAmount("amount", r.Amount, cur)
	if err != nil {
		return nil, err
	}
	if amount <= 0 {
		return nil, kassa.Invalid("amount", "amount_invalid", "amount must be positive")
	}
	r.ShopDomain, r.MerchantID, r.Livemode, r.PaymentID, r.Currency = b.ShopDomain, b.MerchantID, b.Livemode, pay.PaymentID, cur
	r.Created, r.LockedUntil = now, now.Add(ShoplazzaLease)
	got, mine, err := s.st.ReserveShoplazzaRefund(ctx, r, now)
	if err != nil {
		return nil, err
	}
	if !mine {
		if err := idempotencyErrors(got.Fingerprint, r.Fingerprint, got.ResponseStatus, got.LockedUntil, now); err != nil {
			return nil, err
		}
		return &ShoplazzaRefundStart{Request: got, Replayed: true}, nil
	}
	r = got
	pr := b.principal()
	if r.RefundID != "" { // taken over after a crash
		ref, err := s.e.Refund(ctx, pr, r.RefundID)
		if err != nil {
			return nil, err
		}
		return &ShoplazzaRefundStart{Request: r, Refund: ref}, nil
	}
	if r.CallbackURL != "" {
		// Subscribed before the refund exists, so its settling event,
		// which may be written before CreateRefund returns, finds it. A
		// refund that is then refused before it exists leaves a
		// subscription nothing matches.
		err := s.e.store.Write(ctx, func(tx kassa.Tx) error {
			return notify.Subscribe(ctx, tx, shoplazzaRefundNotify(r, now))
		})
		if err != nil {
			return nil, err
		}
	}
	ref, err := s.e.CreateRefund(ctx, pr, RefundParams{PaymentID: pay.PaymentID, Amount: &amount, Reason: "requested_by_customer",
		Metadata: map[string]string{shoplazzaRefundKey: r.RequestID, "shoplazza_payment": r.PaymentRequestID}})
	if ref == nil {
		if kassa.ErrorKind(err) != kassa.EINTERNAL {
			s.st.DeleteShoplazzaRefund(context.WithoutCancel(ctx), r.ShopDomain, r.RequestID)
		}
		return nil, err
	}
	r.RefundID = ref.ID
	if uerr := s.st.UpdateShoplazzaRefund(ctx, r); uerr != nil {
		return nil, uerr
	}
	return &ShoplazzaRefundStart{Request: r, Refund: ref, RefundErr: err}, nil
}

// FinishRefund stores the answer given to a refund request.
func (s *Shoplazza) FinishRefund(ctx context.Context, r *ShoplazzaRefund, status int, body []byte) error {
	r.ResponseStatus, r.Response = status, body
	return s.st.UpdateShoplazzaRefund(context.WithoutCancel(ctx), r)
}

// RefundRequest returns a refund request of a shop.
func (s *Shoplazza) RefundRequest(ctx context.Context, shopDomain, requestID string) (*ShoplazzaRefund, error) {
	return s.st.ShoplazzaRefund(ctx, shopDomain, requestID)
}

// PaymentRequest returns a payment request of a shop.
func (s *Shoplazza) PaymentRequest(ctx context.Context, shopDomain, requestID string) (*ShoplazzaPayment, error) {
	return s.st.ShoplazzaPayment(ctx, shopDomain, requestID)
}

// Refund returns a Kassa refund of a session's merchant.
func (s *Shoplazza) Refund(ctx context.Context, r *ShoplazzaRefund) (*kassa.Refund, error) {
	return s.e.Refund(ctx, kassa.Principal{MerchantID: r.MerchantID, Livemode: r.Livemode}, r.RefundID)
}
