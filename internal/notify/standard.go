package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/kassa-pay/kassa/webhook"
)

// UserAgent identifies Kassa's notifications.
const UserAgent = "Kassa-Webhooks/1.0"

// NewSecret returns a fresh Standard Webhooks secret: "whsec_" and 32
// random bytes in base64 (the spec asks for 24 to 64).
func NewSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return webhook.SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// StandardSigner signs as Standard Webhooks: webhook-id, webhook-timestamp
// and webhook-signature with one "v1,<base64 HMAC-SHA256>" per secret, so a
// receiver holding either the new or the old secret of a roll accepts it.
type StandardSigner struct{}

// Sign implements Signer.
func (StandardSigner) Sign(id string, ts time.Time, body []byte, secrets []string) (http.Header, error) {
	sig, err := webhook.Sign(id, ts, body, secrets...)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set(webhook.HeaderID, id)
	h.Set(webhook.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(webhook.HeaderSignature, sig)
	return h, nil
}

// Standard is Kassa's own format: the event object of GET /v1/events/{id}
// as a JSON body, Standard Webhooks headers with the event ID as
// webhook-id (stable across retries, the receiver's idempotency key), and
// any 2xx counting as delivered.
type Standard struct {
	// Retries is the schedule (DefaultSchedule when nil).
	Retries Schedule
}

// Schedule implements Format.
func (f Standard) Schedule() Schedule {
	if f.Retries == nil {
		return DefaultSchedule
	}
	return f.Retries
}

// Request implements Format.
func (f Standard) Request(ctx context.Context, d *Delivery, now time.Time) (*http.Request, error) {
	if d.Event == nil {
		return nil, errors.New("notify: delivery without its event")
	}
	body, err := json.Marshal(d.Event.Object())
	if err != nil {
		return nil, err
	}
	h, err := StandardSigner{}.Sign(d.Event.ID, now, body, d.Secrets)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	return req, nil
}

// Delivered implements Format: any 2xx. Redirects are failures (they are
// never followed: a redirect could point the signed payload elsewhere).
func (Standard) Delivered(status int, _ http.Header, _ []byte) bool {
	return status >= 200 && status < 300
}
