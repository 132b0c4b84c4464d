package dashboard

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
)

// Orders with payout (izi-style, see docs/orders.md): the list, an order's
// page with its lifecycle, and the operator actions. The actions call
// engine.ActOnOrder with the session's principal, exactly as
// POST /v1/orders/{id}/{action} does, so the lifecycle rules (which move is
// legal from which status, paid orders are returned and never deleted, no
// hold while a payout is in flight) are the engine's, not the page's.

// orderActions are the buttons in the order they appear.
var orderActions = []engine.OrderAction{engine.ActionHold, engine.ActionRelease, engine.ActionApprove, engine.ActionReturn, engine.ActionDelete}

func (h *Handler) orderList(w http.ResponseWriter, r *http.Request, s *engine.Session) {
	q := r.URL.Query()
	status := kassa.OrderStatus(q.Get("status"))
	after := q.Get("after")
	v := &view{Title: "Orders", Nav: "orders"}
	code := http.StatusOK
	var rows []*kassa.Order
	var more bool
	if status != "" && !status.Valid() {
		v.Error, code = "Unknown order status "+string(status)+".", http.StatusUnprocessableEntity
	} else {
		// One indexed query (orders_merchant: merchant, mode, id) for the
		// page: amounts, route, recipient and history are columns of the
		// order row, so nothing is loaded per row.
		var err error
		rows, more, err = h.eng.ListOrders(r.Context(), s.Principal(), kassa.OrderFilter{
			Page: kassa.Page{Limit: 50, StartingAfter: after}, Status: status})
		if err != nil {
			h.userError(w, r, err)
			return
		}
	}
	link := func(after string) string {
		v := url.Values{}
		if status != "" {
			v.Set("status", string(status))
		}
		if after != "" {
			v.Set("after", after)
		}
		if len(v) == 0 {
			return Prefix + "orders"
		}
		return Prefix + "orders?" + v.Encode()
	}
	next := ""
	if more && len(rows) > 0 {
		next = link(rows[len(rows)-1].ID)
	}
	v.Data = map[string]any{"Rows": rows, "Status": string(status), "Statuses": kassa.OrderStatuses, "Next": next,
		"Paged": after != "", "First": link("")}
	h.render(w, r, code, "orders", v)
}

// orderButton is one action the order's status allows.
type orderButton struct {
	Action engine.OrderAction
	Label  string
	Danger bool
	Help   string
}

// orderButtons lists the actions the lifecycle allows now. It mirrors
// ActOnOrder's preconditions to hide buttons that could only fail; the
// engine still decides when one is pressed (the order may have moved).
func orderButtons(o *kassa.Order) []orderButton {
	var out []orderButton
	for _, a := range orderActions {
		var ok bool
		b := orderButton{Action: a}
		switch a {
		case engine.ActionHold:
			ok = o.CheckTransition(kassa.OrderHold) == nil &&
				!(o.Status == kassa.OrderInProgressPayout && o.PayoutStatus == kassa.PayoutPending)
			b.Label, b.Help = "Hold", "freeze the order: no payment or payout moves it until it is released"
		case engine.ActionRelease:
			ok = o.Status == kassa.OrderHold
			b.Label, b.Help = "Release", "back to "+string(o.ReleaseTo())
		case engine.ActionApprove:
			ok = (o.Status == kassa.OrderInProgress || o.Status == kassa.OrderErrorPayout) && o.Paid
			b.Label, b.Help = "Approve payout", "pay "+kassa.FormatAmount(o.OutAmount, o.To)+" "+o.To+" out to the recipient"
		case engine.ActionReturn:
			ok = o.CheckTransition(kassa.OrderReturned) == nil
			b.Label, b.Danger, b.Help = "Return", true, "refund "+kassa.FormatAmount(o.InAmount, o.From)+" "+o.From+" to the sender's card"
		case engine.ActionDelete:
			ok = o.CheckTransition(kassa.OrderDeleted) == nil
			b.Label, b.Danger, b.Help = "Delete", true, "cancel the unpaid order and its payment"
		}
		if ok {
			out = append(out, b)
		}
	}
	return out
}

var orderNotices = map[string]string{
	"hold": "The order is on hold.", "release": "The order was released.", "approve": "The payout was approved.",
	"return": "The order was returned to the sender.", "delete": "The order was deleted.",
}

func (h *Handler) orderPage(w http.ResponseWriter, r *http.Request, s *engine.Session) {
	h.showOrder(w, r, s, http.StatusOK, orderNotices[r.URL.Query().Get("done")], "")
}

func (h *Handler) showOrder(w http.ResponseWriter, r *http.Request, s *engine.Session, status int, notice, errMsg string) {
	o, err := h.eng.Order(r.Context(), s.Principal(), r.PathValue("id"))
	if err != nil {
		h.userError(w, r, err)
		return
	}
	data := map[string]any{"O": o, "Buttons": orderButtons(o)}
	// The page links carry the order's secret: they are for admins, who
	// send them to shoppers (viewers never see secrets).
	if s.User.CanWrite() && !o.Status.Final() {
		data["PaymentURL"] = h.eng.PaymentPageURL(o)
		data["OrderURL"] = h.eng.OrderPageURL(o)
	}
	h.render(w, r, status, "order", &view{Title: "Order " + o.ID, Nav: "orders", Notice: notice, Error: errMsg, Data: data})
}

// orderAct serves POST /dashboard/orders/{id}/{action} (admins only).
func (h *Handler) orderAct(w http.ResponseWriter, r *http.Request, s *engine.Session) {
	action := engine.OrderAction(r.PathValue("action"))
	known := false
	for _, a := range orderActions {
		known = known || a == action
	}
	if !known {
		h.fail(w, r, http.StatusNotFound, "There is no such page.")
		return
	}
	pr := s.Principal()
	o, err := h.eng.ActOnOrder(r.Context(), &pr, r.PathValue("id"), action, r.PostForm.Get("reason"))
	if err != nil {
		var ke *kassa.Error
		if !errors.As(err, &ke) {
			h.serverError(w, r, err)
			return
		}
		if ke.Kind == kassa.ENOTFOUND {
			h.fail(w, r, http.StatusNotFound, ke.Message)
			return
		}
		h.showOrder(w, r, s, statusOf(err), "", ke.Message)
		return
	}
	http.Redirect(w, r, Prefix+"orders/"+url.PathEscape(o.ID)+"?done="+string(action), http.StatusSeeOther)
}
