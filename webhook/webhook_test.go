package webhook_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/kassa-pay/kassa/webhook"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func signed(t *testing.T, id string, ts time.Time, body []byte, secrets ...string) *http.Request {
	t.Helper()
	sig, err := webhook.Sign(id, ts, body, secrets...)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("POST", "/hooks", bytes.NewReader(body))
	r.Header.Set(webhook.HeaderID, id)
	r.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	r.Header.Set(webhook.HeaderSignature, sig)
	return r
}

// The signature is the reference library's, both ways.
func TestAgreesWithReferenceLibrary(t *testing.T) {
	ref, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"id":"evt_1","type":"payment.succeeded"}`)
	ts := time.Now()
	want, err := ref.Sign("evt_1", ts, body)
	if err != nil {
		t.Fatal(err)
	}
	got, err := webhook.Sign("evt_1", ts, body, secret)
	if err != nil || got != want {
		t.Fatalf("Sign = %q, %v; reference %q", got, err, want)
	}
	r := signed(t, "evt_1", ts, body, secret)
	if err := ref.Verify(body, r.Header); err != nil {
		t.Fatalf("reference rejects: %v", err)
	}
}

func TestReceive(t *testing.T) {
	other := "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"
	body := []byte(`{"id":"evt_1","object":"event","type":"payment.succeeded","data":{"object":{"id":"pay_1"}},"livemode":false,"created":1}`)
	now := time.Now()
	v, err := webhook.NewVerifier(secret)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := v.Receive(signed(t, "evt_1", now, body, other, secret)) // a roll: two signatures
	if err != nil || ev.Type != "payment.succeeded" || ev.ID != "evt_1" {
		t.Fatalf("Receive = %+v, %v", ev, err)
	}
	for name, c := range map[string]struct {
		r    *http.Request
		want error
	}{
		"other secret":  {signed(t, "evt_1", now, body, other), webhook.ErrSignature},
		"old timestamp": {signed(t, "evt_1", now.Add(-6*time.Minute), body, secret), webhook.ErrTimestamp},
		"future":        {signed(t, "evt_1", now.Add(6*time.Minute), body, secret), webhook.ErrTimestamp},
	} {
		if _, err := v.Receive(c.r); err != c.want {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	r := signed(t, "evt_1", now, body, secret)
	r.Header.Set(webhook.HeaderID, "evt_2") // the id is signed too
	if _, err := v.Receive(r); err != webhook.ErrSignature {
		t.Errorf("changed id: %v", err)
	}
	r = signed(t, "evt_1", now, body, secret)
	r.Header.Del(webhook.HeaderSignature)
	if _, err := v.Receive(r); err != webhook.ErrMissingHeaders {
		t.Errorf("no signature: %v", err)
	}
	if _, err := webhook.NewVerifier("whsec_%%%"); err == nil {
		t.Error("a secret that is not base64 was accepted")
	}
}
