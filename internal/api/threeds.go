package api

import (
	"html/template"
	"net/http"
	"net/url"

	"github.com/kassa-pay/kassa"
)

// threeDSReturn is where the issuer's 3-D Secure page sends the shopper
// back: the engine asks the processor for the outcome, then the shopper goes
// to the payment's return_url (or cancel_url if it failed) with payment_id
// and status, or sees a plain result page when the merchant gave no URL.
func (s *Server) threeDSReturn(w http.ResponseWriter, r *http.Request) {
	d, err := s.engine.CompleteAuthentication(r.Context(), r.PathValue("id"))
	if d == nil {
		if kassa.ErrorKind(err) == kassa.ENOTFOUND {
			http.Error(w, "unknown payment", http.StatusNotFound)
			return
		}
		s.log.Error("3-D Secure return", "payment", r.PathValue("id"), "err", err)
		http.Error(w, "the payment could not be completed; it will be reconciled", http.StatusInternalServerError)
		return
	}
	p := d.Payment
	target := p.ReturnURL
	if p.Status == kassa.StatusRequiresPaymentMethod && p.CancelURL != "" {
		target = p.CancelURL
	}
	if target != "" {
		u, perr := url.Parse(target)
		if perr == nil {
			q := u.Query()
			q.Set("payment_id", p.ID)
			q.Set("status", string(p.Status))
			u.RawQuery = q.Encode()
			http.Redirect(w, r, u.String(), http.StatusSeeOther)
			return
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	resultPage.Execute(w, map[string]string{"ID": p.ID, "Status": string(p.Status)})
}

var resultPage = template.Must(template.New("result").Parse(`<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Payment {{.Status}}</title></head><body><h1>Payment {{.Status}}</h1><p id="payment" data-status="{{.Status}}">{{.ID}}</p></body></html>`))
