package shoplazza

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/notify"
)

// notice is the body of the Notify API (and of a direct card payment's
// answer, which has the same format), fields in the documented order.
type notice struct {
	AppID         string          `json:"app_id"`
	PaymentID     string          `json:"payment_id"`
	Amount        json.RawMessage `json:"amount"`
	Currency      string          `json:"currency"`
	Status        string          `json:"status"`
	TransactionNo string          `json:"transaction_no"`
	Type          string          `json:"type"`
	Message       string          `json:"message,omitempty"`
	ErrorCode     string          `json:"error_code,omitempty"`
	Test          bool            `json:"test"`
	Extension     map[string]any  `json:"extension,omitempty"`
	Timestamp     string          `json:"timestamp"`
	// RedirectURL is set only in a direct card answer that needs 3-D Secure.
	RedirectURL string `json:"redirect_url,omitempty"`
}

// amountJSON renders minor units exactly, as a JSON number (default) or string.
func (h *Handler) amountJSON(amount int64, currency string) json.RawMessage {
	s := kassa.FormatAmount(amount, currency)
	if h.cfg.AmountAsString {
		return mustJSON(s)
	}
	return json.RawMessage(s)
}

func (h *Handler) timestamp() string { return h.s.Now().UTC().Format(time.RFC3339) }

// paymentNotice describes a Shoplazza payment's Kassa payment p. status
// forces "paid" or "failed" (a notification decided by its event); "" takes
// it from p. transaction_no is the Kassa payment id.
func (h *Handler) paymentNotice(b *engine.ShoplazzaBinding, sess *engine.ShoplazzaPayment, p *kassa.Payment, status string) *notice {
	n := &notice{AppID: b.AppID, PaymentID: sess.RequestID, Amount: h.amountJSON(p.Amount, p.Currency), Currency: p.Currency,
		TransactionNo: p.ID, Type: "sale", Test: sess.Test, Timestamp: h.timestamp()}
	if status == "" {
		switch p.Status {
		case kassa.StatusSucceeded, kassa.StatusRequiresCapture:
			status = "paid"
		case kassa.StatusProcessing, kassa.StatusRequiresAction:
			status = "paying"
		default:
			status = "failed"
		}
	}
	n.Status = status
	if status == "failed" {
		n.ErrorCode, n.Message = "payment_canceled", "the payment was canceled before it was completed"
		switch {
		case p.LastError != nil:
			n.ErrorCode, n.Message = p.LastError.Code, p.LastError.Message
			if p.LastError.DeclineCode != "" && p.LastError.Code == "card_declined" {
				n.ErrorCode = p.LastError.DeclineCode
			}
		case p.CanceledReason == "expired":
			n.ErrorCode, n.Message = "payment_expired", "the shopper did not complete the payment in time"
		case p.CanceledReason == "duplicate":
			n.ErrorCode, n.Message = "order_already_paid", "the order is paid by another payment"
		}
	}
	return n
}

// complete makes the Complete Payment call for a payment that went
// through and returns Shoplazza's redirect_url for the shopper.
func (h *Handler) complete(ctx context.Context, b *engine.ShoplazzaBinding, sess *engine.ShoplazzaPayment, p *kassa.Payment) (string, error) {
	body := mustJSON(struct {
		AppID         string          `json:"app_id"`
		PaymentID     string          `json:"payment_id"`
		Amount        json.RawMessage `json:"amount"`
		Currency      string          `json:"currency"`
		TransactionNo string          `json:"transaction_no"`
		Type          string          `json:"type"`
		Test          bool            `json:"test"`
		Status        string          `json:"status"`
		Timestamp     string          `json:"timestamp"`
	}{b.AppID, sess.RequestID, h.amountJSON(p.Amount, p.Currency), p.Currency, p.ID, "sale", sess.Test, h.cfg.CompleteStatus, h.timestamp()})
	req, err := h.signedRequest(ctx, b, sess.CompleteURL, body)
	if err != nil {
		return "", err
	}
	res, err := h.cfg.Client.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("complete_url answered %d: %.200s", res.StatusCode, rb)
	}
	var ans struct {
		RedirectURL string `json:"redirect_url"`
	}
	if err := json.Unmarshal(rb, &ans); err != nil {
		return "", fmt.Errorf("complete_url answered no JSON: %.200s", rb)
	}
	u, err := url.Parse(ans.RedirectURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("complete_url answered no usable redirect_url: %.200s", rb)
	}
	return ans.RedirectURL, nil
}

// signedRequest is a POST of JSON body to target with the shop's headers:
// Access-Token, Shoplazza-Shop-Domain and Shoplazza-Hmac-Sha256 over the
// exact bytes sent.
func (h *Handler) signedRequest(ctx context.Context, b *engine.ShoplazzaBinding, target string, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	key := b.ClientSecret
	if h.cfg.Signature.KeySource == KeyMerchantKey {
		key = b.SignKey
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Kassa-Shoplazza/1.0")
	req.Header.Set("Access-Token", b.AccessToken)
	req.Header.Set("Shoplazza-Shop-Domain", b.ShopDomain)
	req.Header.Set("Shoplazza-Hmac-Sha256", h.cfg.Signature.Sign(key, http.MethodPost, req.URL.RequestURI(), body))
	return req, nil
}

// FormatName is the notification format of the Notify API (migration 00006
// queues deliveries under it).
const FormatName = "shoplazza"

// Schedule is Shoplazza's retry rule for the Notify API: 18 attempts
// within 24 hours — the first at once, then retries 0s, 5s, 10s, 30s, 45s,
// 1m, 2m, 5m, 12m, 38m, 1h, 2h and 4h five times after each failure
// (23h59m30s from first to last).
var Schedule = notify.Schedule{0, 5 * time.Second, 10 * time.Second, 30 * time.Second, 45 * time.Second, time.Minute,
	2 * time.Minute, 5 * time.Minute, 12 * time.Minute, 38 * time.Minute, time.Hour, 2 * time.Hour,
	4 * time.Hour, 4 * time.Hour, 4 * time.Hour, 4 * time.Hour, 4 * time.Hour}

// Format is the Notify API as a notify.Format: the body is built when the
// attempt is made, from the event (paid for payment.succeeded, failed for
// payment.canceled, refund_success/refund_failed for refund events) and the
// payment or refund as it is, signed like a complete call; only HTTP 200
// acknowledges it.
type Format struct{ h *Handler }

var _ notify.Format = (*Format)(nil)

// Format returns the Notify format; register it in notify.Config.Formats
// under FormatName.
func (h *Handler) Format() *Format { return &Format{h: h} }

// Schedule implements notify.Format: Config.NotifySchedule.
func (f *Format) Schedule() notify.Schedule {
	if f.h == nil || f.h.cfg.NotifySchedule == nil {
		return Schedule
	}
	return f.h.cfg.NotifySchedule
}

// Delivered implements notify.Format: exactly 200, as Shoplazza acknowledges.
func (f *Format) Delivered(status int, _ http.Header, _ []byte) bool { return status == http.StatusOK }

// Request implements notify.Format.
func (f *Format) Request(ctx context.Context, d *notify.Delivery, now time.Time) (*http.Request, error) {
	h := f.h
	if d.Event == nil || d.Event.PaymentID == "" {
		return nil, errors.New("shoplazza: notify delivery without a payment event")
	}
	sess, b, err := h.s.SessionByPayment(ctx, d.Event.PaymentID)
	if err != nil {
		return nil, err
	}
	var n *notice
	switch d.Event.Type {
	case kassa.EventPaymentSucceeded, kassa.EventPaymentCanceled:
		pd, err := h.s.Payment(ctx, sess)
		if err != nil {
			return nil, err
		}
		status := "paid"
		if d.Event.Type == kassa.EventPaymentCanceled {
			status = "failed"
		}
		n = h.paymentNotice(b, sess, pd.Payment, status)
	case kassa.EventRefundSucceeded, kassa.EventRefundFailed:
		var data struct {
			Object struct {
				ID       string            `json:"id"`
				Metadata map[string]string `json:"metadata"`
			} `json:"object"`
		}
		if err := json.Unmarshal(d.Event.Data, &data); err != nil {
			return nil, err
		}
		ro := data.Object
		rq, err := h.s.RefundRequest(ctx, sess.ShopDomain, ro.Metadata["shoplazza_refund"])
		if err != nil {
			return nil, err
		}
		// By the event's refund id: the request record learns it only
		// after the engine returns, and this attempt may come first.
		rq.RefundID = ro.ID
		ref, err := h.s.Refund(ctx, rq)
		if err != nil {
			return nil, err
		}
		n = &notice{AppID: b.AppID, PaymentID: rq.PaymentRequestID, Amount: h.amountJSON(ref.Amount, ref.Currency),
			Currency: ref.Currency, Status: "refund_success", TransactionNo: ref.ID, Type: "refund", Test: sess.Test,
			Extension: map[string]any{"refund_id": rq.RequestID}, Timestamp: h.timestamp()}
		if d.Event.Type == kassa.EventRefundFailed {
			n.Status, n.ErrorCode, n.Message = "refund_failed", "refund_failed", "the processor refused the refund"
			if ref.FailureCode != "" {
				n.ErrorCode = ref.FailureCode
			}
		}
	default:
		return nil, fmt.Errorf("shoplazza: no notification for event type %s", d.Event.Type)
	}
	return h.signedRequest(ctx, b, d.URL, mustJSON(n))
}
