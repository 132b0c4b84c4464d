package api

import (
	"net/http"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
)

// Routes and orders with payout (see docs/orders.md). Routes created with a
// merchant's key are that merchant's own; the operator's shared routes
// (kassa route add) are listed too. Orders are created through the
// izi.exchange-compatible endpoint (internal/izi); here the merchant reads
// them and acts on them.

// RouteObject is a route as the API shows it. Amounts are decimal strings
// in the pay-in currency, rate and fee exact decimals.
type RouteObject struct {
	ID         string             `json:"id"`
	Object     string             `json:"object"`
	From       string             `json:"from"`
	To         string             `json:"to"`
	XMLFrom    string             `json:"xml_from"`
	XMLTo      string             `json:"xml_to"`
	Rate       string             `json:"rate"`
	FeePercent string             `json:"fee_percent"`
	Min        string             `json:"min"`
	Max        string             `json:"max"`
	PayoutMode kassa.PayoutMode   `json:"payout_mode"`
	ToFields   []kassa.RouteField `json:"to_fields"`
	Shared     bool               `json:"shared"`
	Created    int64              `json:"created"`
}

func routeObject(r *kassa.Route) RouteObject {
	return RouteObject{ID: r.ID, Object: "route", From: r.From, To: r.To, XMLFrom: r.XMLFrom, XMLTo: r.XMLTo, Rate: r.Rate,
		FeePercent: r.FeePercent, Min: kassa.FormatAmount(r.Min, r.From), Max: kassa.FormatAmount(r.Max, r.From),
		PayoutMode: r.PayoutMode, ToFields: r.ToFields, Shared: r.MerchantID == "", Created: r.Created.Unix()}
}

type routeRequest struct {
	From       string             `json:"from"`
	To         string             `json:"to"`
	XMLFrom    string             `json:"xml_from"`
	XMLTo      string             `json:"xml_to"`
	Rate       string             `json:"rate"`
	FeePercent string             `json:"fee_percent"`
	Min        string             `json:"min"`
	Max        string             `json:"max"`
	PayoutMode kassa.PayoutMode   `json:"payout_mode"`
	ToFields   []kassa.RouteField `json:"to_fields"`
}

// RouteFromStrings builds a route from decimal-string limits (shared with
// the CLI so both parse amounts the same way).
func RouteFromStrings(from, to, min, max string) (kassa.Route, error) {
	r := kassa.Route{From: from, To: to}
	var err error
	if r.From, err = kassa.NormalizeCurrency("from", from); err != nil {
		return r, err
	}
	if min != "" {
		if r.Min, err = kassa.ParseAmount("min", min, r.From); err != nil {
			return r, err
		}
	}
	if max != "" {
		if r.Max, err = kassa.ParseAmount("max", max, r.From); err != nil {
			return r, err
		}
	}
	return r, nil
}

func (s *Server) createRoute(w http.ResponseWriter, r *http.Request) {
	b, err := body(w, r)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	var req routeRequest
	if err := decode(r, b, &req, false); err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	rt, err := RouteFromStrings(req.From, req.To, req.Min, req.Max)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	rt.XMLFrom, rt.XMLTo, rt.Rate, rt.FeePercent, rt.PayoutMode, rt.ToFields = req.XMLFrom, req.XMLTo, req.Rate, req.FeePercent, req.PayoutMode, req.ToFields
	created, err := s.engine.CreateRoute(r.Context(), principal(r.Context()).MerchantID, rt)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, routeObject(created))
}

func (s *Server) listRoutes(w http.ResponseWriter, r *http.Request) {
	rs, err := s.engine.Routes(r.Context(), principal(r.Context()).MerchantID)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	objs := make([]RouteObject, len(rs))
	for i, x := range rs {
		objs[i] = routeObject(x)
	}
	writeJSON(w, http.StatusOK, listBody{Object: "list", Data: objs, URL: "/v1/routes"})
}

func (s *Server) getOrder(w http.ResponseWriter, r *http.Request) {
	o, err := s.engine.Order(r.Context(), principal(r.Context()), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, o.Object(true))
}

func (s *Server) listOrders(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r)
	f := kassa.OrderFilter{Page: q.page(), Status: kassa.OrderStatus(q.str("status"))}
	if err := q.done(); err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	if f.Status != "" && !f.Status.Valid() {
		s.writeError(w, r, kassa.Invalid("status", "parameter_invalid", "unknown order status %q", f.Status), nil)
		return
	}
	os, more, err := s.engine.ListOrders(r.Context(), principal(r.Context()), f)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	objs := make([]kassa.OrderObject, len(os))
	for i, o := range os {
		objs[i] = o.Object(true)
	}
	writeJSON(w, http.StatusOK, listBody{Object: "list", Data: objs, HasMore: more, URL: "/v1/orders"})
}

type orderActionRequest struct {
	Reason string `json:"reason"`
}

// orderAction serves POST /v1/orders/{id}/{hold|release|approve|return|delete}.
func (s *Server) orderAction(action engine.OrderAction) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := body(w, r)
		if err != nil {
			s.writeError(w, r, err, nil)
			return
		}
		var req orderActionRequest
		if err := decode(r, b, &req, true); err != nil {
			s.writeError(w, r, err, nil)
			return
		}
		pr := principal(r.Context())
		o, err := s.engine.ActOnOrder(r.Context(), &pr, r.PathValue("id"), action, req.Reason)
		if err != nil {
			s.writeError(w, r, err, nil)
			return
		}
		writeJSON(w, http.StatusOK, o.Object(true))
	}
}
