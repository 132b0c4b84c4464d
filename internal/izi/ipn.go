package izi

import (
	"context"
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
	"github.com/kassa-pay/kassa/webhook"
)

// IPNHash is izi.exchange's IPN checksum: lower-case hex
// SHA-256 of orderId:newStatus:inAmount:outAmount:xml_from:xml_to:timestamp:ipnSecret,
// over the field values exactly as they travel in the IPN (strings, no
// re-formatting of amounts). Merchants' Go servers use the same code from
// the public package: webhook.IziIPNHash.
func IPNHash(orderID, newStatus, inAmount, outAmount, xmlFrom, xmlTo, timestamp, ipnSecret string) string {
	return webhook.IziIPNHash(orderID, newStatus, inAmount, outAmount, xmlFrom, xmlTo, timestamp, ipnSecret)
}

// VerifyIPN checks the hash field of a received IPN form against secret,
// in constant time (webhook.VerifyIziIPN).
func VerifyIPN(form url.Values, secret string) bool { return webhook.VerifyIziIPN(form, secret) }

// Number writes an amount of currency as izi.exchange writes its numbers:
// the shortest decimal text of the value, as JavaScript's String(number)
// gives it ("2", "317.42", "100.1"; never "100.00"). The seed's IPN fields
// are String(number), and a receiver that re-computes the hash from its
// own copy of the amount gets the same text. It is exact: it trims the
// exact minor-unit decimal, never goes through float64.
func Number(amount int64, currency string) string {
	return trimNumber(kassa.FormatAmount(amount, currency))
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
// timestamp is Unix milliseconds, like the seed document's worked example
// (1571328406072); amounts are izi numbers (see Number); toValues travel
// as toValues[i][key], toValues[i][name], toValues[i][value].
func Form(o *kassa.OrderObject, now time.Time, ipnSecret string) url.Values {
	f := url.Values{}
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	f.Set("orderUID", strconv.FormatInt(o.UID, 10))
	f.Set("orderId", o.ID)
	f.Set("newStatus", string(o.Status))
	in, out := trimNumber(o.InAmount), trimNumber(o.OutAmount)
	f.Set("inAmount", in)
	f.Set("outAmount", out)
	f.Set("xml_from", o.XMLFrom)
	f.Set("xml_to", o.XMLTo)
	f.Set("timestamp", ts)
	for i, v := range o.ToValues {
		p := "toValues[" + strconv.Itoa(i) + "]"
		f.Set(p+"[key]", v.Key)
		f.Set(p+"[name]", v.Name)
		f.Set(p+"[value]", v.Value)
	}
	f.Set("hash", IPNHash(o.ID, string(o.Status), in, out, o.XMLFrom, o.XMLTo, ts, ipnSecret))
	return f
}

// trimNumber turns an event's exact decimal ("100.00") into an izi number
// ("100"), as Number does for minor units.
func trimNumber(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
	}
	return s
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
