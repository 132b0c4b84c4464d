package izi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/notify"
)

// IPNHash is izi.exchange's IPN checksum: lower-case hex
// SHA-256 of orderId:newStatus:inAmount:outAmount:xml_from:xml_to:timestamp:ipnSecret,
// over the field values exactly as they travel in the IPN (strings, no
// re-formatting of amounts).
func IPNHash(orderID, newStatus, inAmount, outAmount, xmlFrom, xmlTo, timestamp, ipnSecret string) string {
	s := orderID + ":" + newStatus + ":" + inAmount + ":" + outAmount + ":" + xmlFrom + ":" + xmlTo + ":" + timestamp + ":" + ipnSecret
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// VerifyIPN checks the hash field of a received IPN form against secret,
// in constant time. It is what a merchant's receiver does (and what the
// tests' receiver does).
func VerifyIPN(form url.Values, secret string) bool {
	want := IPNHash(form.Get("orderId"), form.Get("newStatus"), form.Get("inAmount"), form.Get("outAmount"),
		form.Get("xml_from"), form.Get("xml_to"), form.Get("timestamp"), secret)
	return subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(form.Get("hash")))) == 1
}

// OrderSource finds an order's IPN secret at send time; the engine is one.
// The secret is not in the event (events are listed through the API and
// sent to webhook endpoints), so the format looks it up.
type OrderSource interface {
	OperatorOrder(ctx context.Context, ref string) (*kassa.Order, error)
}

// IPN is the izi.exchange IPN as a notify.Format: a form-encoded POST of
// the order's new status with the hash field, for one order.updated event.
// The status, amounts and details are the event's snapshot, so a retry
// sends what happened then, with a fresh timestamp and hash.
type IPN struct {
	Orders OrderSource
	// SingleTry sends once, as izi.exchange does; otherwise the retry
	// schedule is notify.DefaultSchedule.
	SingleTry bool
	// Retries overrides the schedule of the retrying format (tests).
	Retries notify.Schedule
}

// Formats returns the IPN formats to register with the notification engine.
func Formats(orders OrderSource, retries notify.Schedule) map[string]notify.Format {
	return map[string]notify.Format{
		engine.FormatIziIPN:     IPN{Orders: orders, Retries: retries},
		engine.FormatIziIPNOnce: IPN{Orders: orders, SingleTry: true},
	}
}

// Schedule implements notify.Format.
func (f IPN) Schedule() notify.Schedule {
	if f.SingleTry {
		return notify.Schedule{}
	}
	if f.Retries != nil {
		return f.Retries
	}
	return notify.DefaultSchedule
}

// Delivered implements notify.Format: any 2xx.
func (IPN) Delivered(status int, _ http.Header, _ []byte) bool { return status >= 200 && status < 300 }

// Form builds the IPN fields of order snapshot o at now, hash included.
// timestamp is Unix milliseconds, like the seed document's worked example.
func Form(o *kassa.OrderObject, now time.Time, ipnSecret string) url.Values {
	f := url.Values{}
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	f.Set("orderUID", strconv.FormatInt(o.UID, 10))
	f.Set("orderId", o.ID)
	f.Set("newStatus", string(o.Status))
	f.Set("inAmount", o.InAmount)
	f.Set("outAmount", o.OutAmount)
	f.Set("xml_from", o.XMLFrom)
	f.Set("xml_to", o.XMLTo)
	f.Set("timestamp", ts)
	for i, v := range o.ToValues {
		p := "toValues[" + strconv.Itoa(i) + "]"
		f.Set(p+"[key]", v.Key)
		f.Set(p+"[name]", v.Name)
		f.Set(p+"[value]", v.Value)
	}
	f.Set("hash", IPNHash(o.ID, string(o.Status), o.InAmount, o.OutAmount, o.XMLFrom, o.XMLTo, ts, ipnSecret))
	return f
}

// Request implements notify.Format.
func (f IPN) Request(ctx context.Context, d *notify.Delivery, now time.Time) (*http.Request, error) {
	if d.Event == nil {
		return nil, errors.New("izi: IPN without its event")
	}
	var ev struct {
		Object kassa.OrderObject `json:"object"`
	}
	if err := json.Unmarshal(d.Event.Data, &ev); err != nil {
		return nil, err
	}
	o, err := f.Orders.OperatorOrder(ctx, ev.Object.ID)
	if err != nil {
		return nil, err
	}
	body := Form(&ev.Object, now, o.IPNSecret).Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", notify.UserAgent)
	return req, nil
}
