package resultsig_test

import (
	"net/url"
	"testing"

	"github.com/kassa-pay/kassa/resultsig"
)

func TestSignVerify(t *testing.T) {
	const secret = "rss_test_secret"
	// Fixed vector, also used in docs/checkout.md for the JavaScript and PHP examples:
	// printf 'pay_123.succeeded' | openssl dgst -sha256 -hmac rss_test_secret
	const want = "2a0b1050e350afb1af12668667b94cb65a75697c8c32ea62284e24b9fce484b9"
	sig := resultsig.Sign(secret, "pay_123", "succeeded")
	if sig != want {
		t.Fatalf("Sign = %s, want %s", sig, want)
	}
	if !resultsig.Verify(secret, "pay_123", "succeeded", sig) {
		t.Fatal("own signature does not verify")
	}
	for _, c := range []struct{ secret, id, status, sig string }{
		{"other", "pay_123", "succeeded", sig},
		{secret, "pay_124", "succeeded", sig},
		{secret, "pay_123", "canceled", sig},
		{secret, "pay_123", "succeeded", sig[:62]},
		{secret, "pay_123", "succeeded", "zz" + sig[2:]},
		{secret, "pay_123", "succeeded", ""},
		{"", "pay_123", "succeeded", resultsig.Sign("", "pay_123", "succeeded")},
	} {
		if resultsig.Verify(c.secret, c.id, c.status, c.sig) {
			t.Errorf("Verify(%q, %q, %q, %q) = true", c.secret, c.id, c.status, c.sig)
		}
	}
	q := url.Values{"payment_id": {"pay_123"}, "status": {"succeeded"}, "signature": {sig}}
	if id, st, err := resultsig.VerifyQuery(secret, q); err != nil || id != "pay_123" || st != "succeeded" {
		t.Fatalf("VerifyQuery = %q, %q, %v", id, st, err)
	}
	q.Set("status", "requires_capture")
	if _, _, err := resultsig.VerifyQuery(secret, q); err != resultsig.ErrInvalid {
		t.Fatalf("tampered status: err = %v", err)
	}
}
