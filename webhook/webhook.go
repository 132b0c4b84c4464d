// Package webhook verifies the notifications a Kassa gateway sends, for
// merchants' Go servers. It follows Standard Webhooks (standardwebhooks.com):
// every request carries
//
//	webhook-id:        the event ID, the same on every retry (use it to drop duplicates)
//	webhook-timestamp: Unix seconds of this attempt
//	webhook-signature: "v1,<base64 HMAC-SHA256 of id.timestamp.body>", space separated
//
// with the endpoint's secret ("whsec_" + base64). While a secret is being
// rolled the request carries one signature per valid secret, so a receiver
// that knows either secret accepts it.
//
//	v, err := webhook.NewVerifier(os.Getenv("KASSA_WEBHOOK_SECRET"))
//	…
//	http.HandleFunc("/kassa", func(w http.ResponseWriter, r *http.Request) {
//		ev, err := v.Receive(r)
//		if err != nil {
//			http.Error(w, "bad signature", http.StatusBadRequest)
//			return
//		}
//		// handle ev.Type, ev.Data; answer 2xx quickly
//	})
//
// The package imports only the standard library.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names of Standard Webhooks.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every signing secret.
const SecretPrefix = "whsec_"

// DefaultTolerance is how far a timestamp may be from the receiver's clock.
// It bounds replays of a captured request.
const DefaultTolerance = 5 * time.Minute

// MaxBody is the largest body Receive reads.
const MaxBody = 1 << 20

// Errors returned by Verify.
var (
	ErrMissingHeaders = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature header")
	ErrTimestamp      = errors.New("webhook: timestamp outside the tolerance")
	ErrSignature      = errors.New("webhook: no matching signature")
)

// DecodeSecret returns the key bytes of a "whsec_…" secret (the prefix is
// optional).
func DecodeSecret(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || len(key) == 0 {
		return nil, fmt.Errorf("webhook: secret is not whsec_ followed by base64")
	}
	return key, nil
}

// Signature returns "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>".
func Signature(key []byte, id string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Sign returns the webhook-signature header value for body under each
// secret, space separated: what a sender puts on the request.
func Sign(id string, ts time.Time, body []byte, secrets ...string) (string, error) {
	if len(secrets) == 0 {
		return "", errors.New("webhook: no secret")
	}
	sigs := make([]string, len(secrets))
	for i, s := range secrets {
		key, err := DecodeSecret(s)
		if err != nil {
			return "", err
		}
		sigs[i] = Signature(key, id, ts.Unix(), body)
	}
	return strings.Join(sigs, " "), nil
}

// Verifier checks requests against one or more secrets (several while the
// merchant rolls a secret).
type Verifier struct {
	keys [][]byte
	// Tolerance is how far webhook-timestamp may be from Now (DefaultTolerance).
	Tolerance time.Duration
	// Now returns the current time (time.Now).
	Now func() time.Time
}

// NewVerifier returns a verifier that accepts a signature by any of secrets.
func NewVerifier(secrets ...string) (*Verifier, error) {
	if len(secrets) == 0 {
		return nil, errors.New("webhook: no secret")
	}
	v := &Verifier{Tolerance: DefaultTolerance, Now: time.Now}
	for _, s := range secrets {
		key, err := DecodeSecret(s)
		if err != nil {
			return nil, err
		}
		v.keys = append(v.keys, key)
	}
	return v, nil
}

// Verify checks that body was signed by one of the verifier's secrets with
// the id and timestamp in h, and that the timestamp is recent. Signatures
// are compared in constant time.
func (v *Verifier) Verify(h http.Header, body []byte) error {
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return ErrMissingHeaders
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return ErrTimestamp
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	tol := v.Tolerance
	if tol <= 0 {
		tol = DefaultTolerance
	}
	if d := now().Sub(time.Unix(ts, 0)); d > tol || d < -tol {
		return ErrTimestamp
	}
	for _, key := range v.keys {
		want := []byte(Signature(key, id, ts, body))
		for _, got := range strings.Fields(sigs) {
			if hmac.Equal([]byte(got), want) {
				return nil
			}
		}
	}
	return ErrSignature
}

// Event is the JSON body Kassa sends in its standard format: the same
// object as GET /v1/events/{id}. Data is {"object": …}, the payment or
// refund after the change.
type Event struct {
	ID       string          `json:"id"`
	Object   string          `json:"object"`
	Type     string          `json:"type"`
	Data     json.RawMessage `json:"data"`
	Livemode bool            `json:"livemode"`
	Created  int64           `json:"created"`
}

// Receive reads r's body (at most MaxBody bytes), verifies it and decodes
// the event.
func (v *Verifier) Receive(r *http.Request) (*Event, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > MaxBody {
		return nil, errors.New("webhook: body too large")
	}
	if err := v.Verify(r.Header, body); err != nil {
		return nil, err
	}
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return nil, fmt.Errorf("webhook: body: %w", err)
	}
	return &ev, nil
}
