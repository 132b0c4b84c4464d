package checkout

import (
	"net/url"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/resultsig"
)

// Result is what the merchant's page receives by postMessage (and, as query
// parameters, its return_url or cancel_url): the payment, its status and
// Kassa's signature over both (see package resultsig).
type Result struct {
	Type      string       `json:"type"` // "kassa.result"
	PaymentID string       `json:"payment_id"`
	Status    string       `json:"status"`
	Signature string       `json:"signature"`
	Error     *ResultError `json:"error,omitempty"`
}

// ResultError says why a checkout ended without the payment finishing
// (today: "checkout_expired").
type ResultError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func signedResult(secret string, p *kassa.Payment) *Result {
	return &Result{Type: "kassa.result", PaymentID: p.ID, Status: string(p.Status),
		Signature: resultsig.Sign(secret, p.ID, string(p.Status))}
}

// finished reports whether the checkout is over for a payment in status s:
// the money moved (or was authorized), its outcome is awaited from the
// processor, or the payment was canceled. A declined payment is not
// finished: the shopper may try another card.
func finished(s kassa.PaymentStatus) bool {
	switch s {
	case kassa.StatusSucceeded, kassa.StatusRequiresCapture, kassa.StatusProcessing, kassa.StatusCanceled:
		return true
	}
	return false
}

// redirectTarget is where the shopper's browser goes back to the merchant:
// return_url when the payment went through (or is being processed),
// cancel_url when it was canceled or could not be completed (falling back to
// return_url), with payment_id, status and signature added to the query.
// It is "" when the merchant gave no URL for the case.
func redirectTarget(secret string, p *kassa.Payment) string {
	target := p.ReturnURL
	switch p.Status {
	case kassa.StatusCanceled, kassa.StatusRequiresPaymentMethod:
		if p.CancelURL != "" {
			target = p.CancelURL
		}
	case kassa.StatusRequiresAction:
		return ""
	}
	if target == "" {
		return ""
	}
	u, err := url.Parse(target)
	if err != nil {
		return ""
	}
	q := u.Query()
	q.Set("payment_id", p.ID)
	q.Set("status", string(p.Status))
	q.Set("signature", resultsig.Sign(secret, p.ID, string(p.Status)))
	u.RawQuery = q.Encode()
	return u.String()
}
