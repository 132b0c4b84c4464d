package api

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
)

type paymentMethodRequest struct {
	Card *kassa.Card `json:"card"`
}

type createPaymentRequest struct {
	Amount        *int64                `json:"amount"`
	Currency      string                `json:"currency"`
	OrderID       string                `json:"order_id"`
	CaptureMethod string                `json:"capture_method"`
	Description   string                `json:"description"`
	Customer      *kassa.Customer       `json:"customer"`
	Billing       *kassa.Address        `json:"billing"`
	Shipping      *kassa.Address        `json:"shipping"`
	Items         []kassa.Item          `json:"items"`
	ReturnURL     string                `json:"return_url"`
	CancelURL     string                `json:"cancel_url"`
	NotifyURL     string                `json:"notify_url"`
	Metadata      map[string]string     `json:"metadata"`
	PaymentMethod *paymentMethodRequest `json:"payment_method"`
	Confirm       bool                  `json:"confirm"`
}

// paymentResult answers a payment operation: the payment, or the error with
// the payment attached when the card was declined (as Stripe does), so the
// client sees last_error and can retry.
func (s *Server) paymentResult(w http.ResponseWriter, r *http.Request, code int, d *engine.PaymentDetail, err error) {
	if err != nil {
		var obj *kassa.PaymentObject
		if d != nil {
			o := s.engine.Object(d)
			obj = &o
		}
		s.writeError(w, r, err, obj)
		return
	}
	writeJSON(w, code, s.engine.Object(d))
}

func (s *Server) createPayment(w http.ResponseWriter, r *http.Request) {
	var req createPaymentRequest
	b, err := body(w, r)
	if err == nil {
		err = decode(r, b, &req, false)
	}
	if err == nil && req.Amount == nil {
		err = kassa.Invalid("amount", "parameter_missing", "amount is required (an integer in the currency's minor unit, e.g. 1050 for 10.50 USD)")
	}
	var card *kassa.Card
	if err == nil && req.PaymentMethod != nil {
		if req.PaymentMethod.Card == nil {
			err = kassa.Invalid("payment_method[card]", "parameter_missing", "payment_method needs a card")
		}
		card = req.PaymentMethod.Card
	}
	if err == nil && req.Confirm && card == nil {
		err = kassa.Invalid("payment_method", "parameter_missing", "confirm: true needs a payment_method with card details")
	}
	if err == nil && card != nil && !req.Confirm {
		err = kassa.Invalid("confirm", "parameter_invalid", "card details are only accepted with confirm: true (card data is never stored)")
	}
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	params := engine.PaymentParams{
		Amount: *req.Amount, Currency: req.Currency, OrderID: req.OrderID, CaptureMethod: kassa.CaptureMethod(req.CaptureMethod),
		Description: req.Description, Customer: req.Customer, Billing: req.Billing, Shipping: req.Shipping, Items: req.Items,
		ReturnURL: req.ReturnURL, CancelURL: req.CancelURL, NotifyURL: req.NotifyURL, Metadata: req.Metadata,
	}
	d, err := s.engine.CreatePayment(r.Context(), principal(r.Context()), params, card)
	s.paymentResult(w, r, http.StatusCreated, d, err)
}

func (s *Server) getPayment(w http.ResponseWriter, r *http.Request) {
	d, err := s.engine.Payment(r.Context(), principal(r.Context()), r.PathValue("id"))
	s.paymentResult(w, r, http.StatusOK, d, err)
}

func (s *Server) confirmPayment(w http.ResponseWriter, r *http.Request) {
	var req struct {
		PaymentMethod *paymentMethodRequest `json:"payment_method"`
	}
	if !s.decodeBody(w, r, &req, true) {
		return
	}
	var card *kassa.Card
	if req.PaymentMethod != nil {
		card = req.PaymentMethod.Card
	}
	d, err := s.engine.ConfirmPayment(r.Context(), principal(r.Context()), r.PathValue("id"), card)
	s.paymentResult(w, r, http.StatusOK, d, err)
}

func (s *Server) capturePayment(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Amount *int64 `json:"amount"`
	}
	if !s.decodeBody(w, r, &req, true) {
		return
	}
	d, err := s.engine.CapturePayment(r.Context(), principal(r.Context()), r.PathValue("id"), req.Amount)
	s.paymentResult(w, r, http.StatusOK, d, err)
}

func (s *Server) cancelPayment(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Reason string `json:"cancellation_reason"`
	}
	if !s.decodeBody(w, r, &req, true) {
		return
	}
	d, err := s.engine.CancelPayment(r.Context(), principal(r.Context()), r.PathValue("id"), req.Reason)
	s.paymentResult(w, r, http.StatusOK, d, err)
}

type listBody struct {
	Object  string `json:"object"`
	Data    any    `json:"data"`
	HasMore bool   `json:"has_more"`
	URL     string `json:"url"`
}

// query reads list parameters strictly: unknown parameters are refused so a
// typo never silently widens a query.
type query struct {
	v    url.Values
	err  error
	seen map[string]bool
}

func newQuery(r *http.Request) *query {
	return &query{v: r.URL.Query(), seen: map[string]bool{}}
}

func (q *query) str(name string) string {
	q.seen[name] = true
	return q.v.Get(name)
}

func (q *query) page() kassa.Page {
	p := kassa.Page{Limit: 10, StartingAfter: q.str("starting_after")}
	if v := q.str("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			q.fail(kassa.Invalid("limit", "parameter_invalid", "limit must be an integer from 1 to 100"))
		}
		p.Limit = n
	}
	return p
}

func (q *query) unix(name string) *time.Time {
	v := q.str(name)
	if v == "" {
		return nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		q.fail(kassa.Invalid(name, "parameter_invalid", "%s must be a Unix timestamp in seconds", name))
		return nil
	}
	t := time.Unix(n, 0)
	return &t
}

func (q *query) fail(err error) {
	if q.err == nil {
		q.err = err
	}
}

// done reports the first error, including parameters nobody asked for.
func (q *query) done() error {
	if q.err != nil {
		return q.err
	}
	for k := range q.v {
		if !q.seen[k] {
			return kassa.Invalid(k, "parameter_unknown", "Received unknown parameter: %s", k)
		}
	}
	return nil
}

func (s *Server) listPayments(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r)
	f := kassa.PaymentFilter{Page: q.page(), Status: kassa.PaymentStatus(q.str("status")), OrderID: q.str("order_id"),
		CreatedGTE: q.unix("created[gte]"), CreatedLTE: q.unix("created[lte]")}
	if f.Status != "" && !f.Status.Valid() {
		q.fail(kassa.Invalid("status", "parameter_invalid", "unknown status %q", f.Status))
	}
	if f.CreatedLTE != nil {
		// created is shown in whole seconds: created[lte]=T includes
		// everything created during second T.
		*f.CreatedLTE = f.CreatedLTE.Add(time.Second - time.Nanosecond)
	}
	if err := q.done(); err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	ds, more, err := s.engine.ListPayments(r.Context(), principal(r.Context()), f)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	objs := make([]kassa.PaymentObject, len(ds))
	for i, d := range ds {
		objs[i] = s.engine.Object(d)
	}
	writeJSON(w, http.StatusOK, listBody{Object: "list", Data: objs, HasMore: more, URL: "/v1/payments"})
}

func (s *Server) listTransactions(w http.ResponseWriter, r *http.Request) {
	txns, err := s.engine.PaymentTransactions(r.Context(), principal(r.Context()), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	objs := make([]kassa.TransactionObject, len(txns))
	for i := range txns {
		objs[i] = txns[i].Object()
	}
	writeJSON(w, http.StatusOK, listBody{Object: "list", Data: objs, URL: "/v1/payments/" + r.PathValue("id") + "/transactions"})
}

func (s *Server) createRefund(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Payment  string            `json:"payment"`
		Amount   *int64            `json:"amount"`
		Reason   string            `json:"reason"`
		Metadata map[string]string `json:"metadata"`
	}
	if !s.decodeBody(w, r, &req, false) {
		return
	}
	ref, err := s.engine.CreateRefund(r.Context(), principal(r.Context()),
		engine.RefundParams{PaymentID: req.Payment, Amount: req.Amount, Reason: req.Reason, Metadata: req.Metadata})
	if ref == nil {
		if kassa.ErrorKind(err) == kassa.ENOTFOUND && strings.Contains(kassa.ErrorCode(err), "resource_missing") {
			var e *kassa.Error
			if errors.As(err, &e) {
				e.Param = "payment"
			}
		}
		s.writeError(w, r, err, nil)
		return
	}
	if err != nil { // the processor refused: the refund exists, failed
		var e *kassa.Error
		if errors.As(err, &e) {
			writeJSON(w, http.StatusPaymentRequired, struct {
				Error  errorObject        `json:"error"`
				Refund kassa.RefundObject `json:"refund"`
			}{errorObject{Type: "card_error", Code: e.Code, Message: e.Message, DeclineCode: e.DeclineCode}, ref.Object()})
			return
		}
		s.writeError(w, r, err, nil)
		return
	}
	writeJSON(w, http.StatusCreated, ref.Object())
}

func (s *Server) getRefund(w http.ResponseWriter, r *http.Request) {
	ref, err := s.engine.Refund(r.Context(), principal(r.Context()), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, ref.Object())
}

func (s *Server) listRefunds(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r)
	f := kassa.RefundFilter{Page: q.page(), PaymentID: q.str("payment")}
	if err := q.done(); err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	refs, more, err := s.engine.ListRefunds(r.Context(), principal(r.Context()), f)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	objs := make([]kassa.RefundObject, len(refs))
	for i, x := range refs {
		objs[i] = x.Object()
	}
	writeJSON(w, http.StatusOK, listBody{Object: "list", Data: objs, HasMore: more, URL: "/v1/refunds"})
}

func (s *Server) getEvent(w http.ResponseWriter, r *http.Request) {
	ev, err := s.engine.Event(r.Context(), principal(r.Context()), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, ev.Object())
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r)
	f := kassa.EventFilter{Page: q.page(), Type: q.str("type"), PaymentID: q.str("payment")}
	if err := q.done(); err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	evs, more, err := s.engine.ListEvents(r.Context(), principal(r.Context()), f)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	objs := make([]kassa.EventObject, len(evs))
	for i, x := range evs {
		objs[i] = x.Object()
	}
	writeJSON(w, http.StatusOK, listBody{Object: "list", Data: objs, HasMore: more, URL: "/v1/events"})
}
