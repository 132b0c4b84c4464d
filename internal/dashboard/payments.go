package dashboard

import (
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/notify"
)

func (h *Handler) overview(w http.ResponseWriter, r *http.Request, s *engine.Session) {
	o, err := h.eng.Overview(r.Context(), s.Principal())
	if err != nil {
		h.userError(w, r, err)
		return
	}
	type cur struct {
		*engine.CurrencyOverview
		VolumeChart  template.HTML
		SuccessChart template.HTML
	}
	var curs []cur
	for _, c := range o.Currencies {
		curs = append(curs, cur{c, volumeChart(c), successChart(c)})
	}
	h.render(w, r, http.StatusOK, "overview", &view{Title: "Overview", Nav: "overview",
		Data: map[string]any{"Since": o.Since, "Currencies": curs}})
}

// listForm is the payment list's search and filters, as in the URL.
type listForm struct {
	Q, Status, Currency, Min, Max, From, To string
}

func (f listForm) query(after string) string {
	v := url.Values{}
	for k, x := range map[string]string{"q": f.Q, "status": f.Status, "currency": f.Currency, "min": f.Min, "max": f.Max,
		"from": f.From, "to": f.To, "after": after} {
		if x != "" {
			v.Set(k, x)
		}
	}
	return v.Encode()
}

// Statuses lists the payment statuses for the filter.
var statuses = []kassa.PaymentStatus{kassa.StatusRequiresPaymentMethod, kassa.StatusRequiresAction, kassa.StatusProcessing,
	kassa.StatusRequiresCapture, kassa.StatusSucceeded, kassa.StatusCanceled}

func (h *Handler) paymentList(w http.ResponseWriter, r *http.Request, s *engine.Session) {
	q := r.URL.Query()
	f := listForm{Q: q.Get("q"), Status: q.Get("status"), Currency: strings.ToUpper(strings.TrimSpace(q.Get("currency"))),
		Min: q.Get("min"), Max: q.Get("max"), From: q.Get("from"), To: q.Get("to")}
	search := engine.PaymentSearch{Page: kassa.Page{Limit: 50, StartingAfter: q.Get("after")}, Query: f.Q,
		Status: kassa.PaymentStatus(f.Status)}
	var formErr error
	if f.Currency != "" {
		search.Currency, formErr = kassa.NormalizeCurrency("currency", f.Currency)
	}
	parseAmt := func(param, v string, dst *int64) {
		if formErr != nil || v == "" {
			return
		}
		if search.Currency == "" {
			formErr = kassa.Invalid(param, "parameter_missing", "choose a currency to filter by amount")
			return
		}
		*dst, formErr = kassa.ParseAmount(param, v, search.Currency)
	}
	parseAmt("min", f.Min, &search.AmountMin)
	parseAmt("max", f.Max, &search.AmountMax)
	parseDate := func(param, v string, add int) *time.Time {
		if formErr != nil || v == "" {
			return nil
		}
		d, err := time.Parse("2006-01-02", v)
		if err != nil {
			formErr = kassa.Invalid(param, "parameter_invalid", "%s must be a date like 2026-01-31", param)
			return nil
		}
		d = d.AddDate(0, 0, add)
		return &d
	}
	search.CreatedGTE = parseDate("from", f.From, 0)
	search.CreatedLT = parseDate("to", f.To, 1) // the whole "to" day
	var rows []*engine.PaymentDetail
	var more bool
	if formErr == nil {
		rows, more, formErr = h.eng.SearchPayments(r.Context(), s.Principal(), search)
	}
	v := &view{Title: "Payments", Nav: "payments"}
	status := http.StatusOK
	if formErr != nil {
		var ke *kassa.Error
		if k, ok := formErr.(*kassa.Error); ok {
			ke = k
		}
		if ke == nil {
			h.serverError(w, r, formErr)
			return
		}
		v.Error, status = ke.Message, statusOf(formErr)
	}
	next := ""
	if more && len(rows) > 0 {
		next = Prefix + "payments?" + f.query(rows[len(rows)-1].Payment.ID)
	}
	v.Data = map[string]any{"Form": f, "Rows": rows, "Next": next, "Statuses": statuses, "Paged": q.Get("after") != "",
		"First": Prefix + "payments?" + f.query("")}
	h.render(w, r, status, "payments", v)
}

// timelineEntry is one line of a payment's history.
type timelineEntry struct {
	At     time.Time
	Kind   string // transaction, event, delivery
	Title  string
	Status string
	Detail string
	Ref    string
	Txn    *kassa.Transaction
	Try    *notify.Attempt
	Event  string // event ID, for the replay button
}

func (h *Handler) paymentData(r *http.Request, s *engine.Session, id string) (map[string]any, error) {
	ctx := r.Context()
	pr := s.Principal()
	d, err := h.eng.Payment(ctx, pr, id)
	if err != nil {
		return nil, err
	}
	txns, err := h.eng.PaymentTransactions(ctx, pr, id)
	if err != nil {
		return nil, err
	}
	refunds, _, err := h.eng.ListRefunds(ctx, pr, kassa.RefundFilter{Page: kassa.Page{Limit: 100}, PaymentID: id})
	if err != nil {
		return nil, err
	}
	events, _, err := h.eng.ListEvents(ctx, pr, kassa.EventFilter{Page: kassa.Page{Limit: 100}, PaymentID: id})
	if err != nil {
		return nil, err
	}
	var tl []timelineEntry
	for i := range txns {
		x := &txns[i]
		tl = append(tl, timelineEntry{At: x.Created, Kind: "transaction", Title: string(x.Type) + " " + kassa.FormatAmount(x.Amount, x.Currency) + " " + x.Currency,
			Status: string(x.Status), Ref: x.ID, Txn: x})
	}
	for _, e := range events {
		tl = append(tl, timelineEntry{At: e.Created, Kind: "event", Title: e.Type, Ref: e.ID, Event: e.ID})
		if h.notify == nil {
			continue
		}
		// A payment has a handful of events; each one's delivery log is one
		// indexed query (webhook_attempts_event).
		tries, _, err := h.notify.EventAttempts(ctx, pr, e.ID, kassa.Page{Limit: 50})
		if err != nil {
			return nil, err
		}
		for _, a := range tries {
			st := "failed"
			if a.Delivered {
				st = "delivered"
			}
			tl = append(tl, timelineEntry{At: a.Created, Kind: "delivery", Title: e.Type + " → " + a.URL, Status: st,
				Ref: a.ID, Try: a, Event: e.ID})
		}
	}
	sort.SliceStable(tl, func(i, j int) bool { return tl[i].At.Before(tl[j].At) })
	p := d.Payment
	return map[string]any{
		"P": p, "T": d.Totals, "Timeline": tl, "Refunds": refunds,
		"CanCapture":   p.Status == kassa.StatusRequiresCapture,
		"CanCancel":    p.CheckCancel() == nil,
		"CanRefund":    p.Status == kassa.StatusSucceeded && d.Totals.Refundable() > 0,
		"Capturable":   kassa.FormatAmount(d.Totals.Authorized, p.Currency),
		"Refundable":   kassa.FormatAmount(d.Totals.Refundable(), p.Currency),
		"HasNotify":    h.notify != nil,
		"Webhooks":     h.notify != nil,
		"CheckoutURL":  h.eng.CheckoutURL(p),
		"RefundReason": kassa.RefundReasons,
	}, nil
}

func (h *Handler) paymentPage(w http.ResponseWriter, r *http.Request, s *engine.Session) {
	h.showPayment(w, r, s, http.StatusOK, "", "")
}

var notices = map[string]string{
	"captured": "The payment was captured.", "canceled": "The payment was canceled.", "refunded": "The refund was created.",
	"redelivered": "The event was scheduled for delivery again.",
}

func (h *Handler) showPayment(w http.ResponseWriter, r *http.Request, s *engine.Session, status int, notice, errMsg string) {
	data, err := h.paymentData(r, s, r.PathValue("id"))
	if err != nil {
		h.userError(w, r, err)
		return
	}
	if notice == "" {
		notice = notices[r.URL.Query().Get("done")]
	}
	h.render(w, r, status, "payment", &view{Title: "Payment " + r.PathValue("id"), Nav: "payments", Notice: notice, Error: errMsg, Data: data})
}

// actionResult shows the outcome of a money action: back to the payment
// page with a notice (303, so a reload does not repeat it) or with the error.
func (h *Handler) actionResult(w http.ResponseWriter, r *http.Request, s *engine.Session, done string, err error) {
	if err == nil {
		http.Redirect(w, r, Prefix+"payments/"+url.PathEscape(r.PathValue("id"))+"?done="+done, http.StatusSeeOther)
		return
	}
	ke, ok := err.(*kassa.Error)
	if !ok {
		h.serverError(w, r, err)
		return
	}
	h.showPayment(w, r, s, statusOf(err), "", ke.Message)
}

// formAmount reads an optional decimal amount in the payment's currency.
func (h *Handler) formAmount(r *http.Request, s *engine.Session) (*int64, error) {
	v := strings.TrimSpace(r.PostForm.Get("amount"))
	if v == "" {
		return nil, nil
	}
	p, err := h.eng.Payment(r.Context(), s.Principal(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	a, err := kassa.ParseAmount("amount", v, p.Payment.Currency)
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// capture, cancel and refund call the engine methods the REST API calls.
func (h *Handler) capture(w http.ResponseWriter, r *http.Request, s *engine.Session) {
	amount, err := h.formAmount(r, s)
	if err == nil {
		_, err = h.eng.CapturePayment(r.Context(), s.Principal(), r.PathValue("id"), amount)
	}
	h.actionResult(w, r, s, "captured", err)
}

func (h *Handler) cancel(w http.ResponseWriter, r *http.Request, s *engine.Session) {
	_, err := h.eng.CancelPayment(r.Context(), s.Principal(), r.PathValue("id"), r.PostForm.Get("reason"))
	h.actionResult(w, r, s, "canceled", err)
}

func (h *Handler) refund(w http.ResponseWriter, r *http.Request, s *engine.Session) {
	amount, err := h.formAmount(r, s)
	if err == nil {
		_, err = h.eng.CreateRefund(r.Context(), s.Principal(), engine.RefundParams{PaymentID: r.PathValue("id"),
			Amount: amount, Reason: r.PostForm.Get("reason")})
	}
	h.actionResult(w, r, s, "refunded", err)
}

func (h *Handler) refundList(w http.ResponseWriter, r *http.Request, s *engine.Session) {
	after := r.URL.Query().Get("after")
	rs, more, err := h.eng.ListRefunds(r.Context(), s.Principal(), kassa.RefundFilter{Page: kassa.Page{Limit: 50, StartingAfter: after}})
	if err != nil {
		h.userError(w, r, err)
		return
	}
	next := ""
	if more && len(rs) > 0 {
		next = Prefix + "refunds?after=" + url.QueryEscape(rs[len(rs)-1].ID)
	}
	h.render(w, r, http.StatusOK, "refunds", &view{Title: "Refunds", Nav: "refunds",
		Data: map[string]any{"Rows": rs, "Next": next, "Paged": after != ""}})
}
