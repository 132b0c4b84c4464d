package izipay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/notify"
)

// FormatName is the notification format of Izipay IPNs (migration 00007
// queues deliveries under it).
const FormatName = "izipay"

// Format is the IPN as Izipay sends it: POST to config.urlIPN, header
// transactionId, JSON body in the shape of the browser result (code,
// messages, transactionId, response, payloadHttp, signature). The result
// is built from the payment as it is when the attempt is made and signed
// with the merchant's current hash key; any 2xx acknowledges it.
type Format struct {
	z *engine.Izipay
	// Retries is the schedule (notify.DefaultSchedule when nil): Izipay
	// does not publish its own.
	Retries notify.Schedule
	// Only200 acknowledges an IPN by HTTP 200 alone instead of any 2xx:
	// Izipay does not publish what acknowledges its IPN.
	Only200 bool
}

var _ notify.Format = (*Format)(nil)

// NewFormat returns the IPN format over z; register it in
// notify.Config.Formats under FormatName.
func NewFormat(z *engine.Izipay) *Format { return &Format{z: z} }

// Schedule implements notify.Format.
func (f *Format) Schedule() notify.Schedule {
	if f.Retries == nil {
		return notify.DefaultSchedule
	}
	return f.Retries
}

// Request implements notify.Format.
func (f *Format) Request(ctx context.Context, d *notify.Delivery, now time.Time) (*http.Request, error) {
	if d.Event == nil || d.Event.PaymentID == "" {
		return nil, errors.New("izipay: IPN delivery without a payment event")
	}
	s, err := f.z.IzipaySessionByPayment(ctx, d.Event.PaymentID)
	if err != nil {
		return nil, err
	}
	o, err := f.z.IzipayOutcome(ctx, s)
	if err != nil {
		return nil, err
	}
	res, err := buildResult(o)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(res)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header["transactionId"] = []string{s.TransactionID} // Izipay's header name, as written
	req.Header.Set("User-Agent", "Kassa-Izipay-IPN/1.0")
	return req, nil
}

// Delivered implements notify.Format: any 2xx (200 only with Only200).
func (f *Format) Delivered(status int, _ http.Header, _ []byte) bool {
	if f.Only200 {
		return status == http.StatusOK
	}
	return status >= 200 && status < 300
}

// IPNOptions are the IPN choices Izipay's public material leaves open.
type IPNOptions struct {
	Retries notify.Schedule // nil: notify.DefaultSchedule
	Only200 bool            // false: any 2xx acknowledges
}

// SetIPNOptions sets what Format returns; call it before Format.
func (h *Handler) SetIPNOptions(o IPNOptions) { h.ipn = o }

// Format returns the IPN format of the handler's service.
func (h *Handler) Format() *Format {
	f := NewFormat(h.z)
	f.Retries, f.Only200 = h.ipn.Retries, h.ipn.Only200
	return f
}
