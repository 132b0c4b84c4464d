// Package resultsig signs and verifies the checkout results that Kassa hands
// back through the shopper's browser: the postMessage {type: "kassa.result",
// payment_id, status, signature} of embedded and popup checkouts, and the
// payment_id, status and signature query parameters of a redirect to
// return_url or cancel_url.
//
// A browser is not a trusted channel: a shopper can forge a redirect to the
// merchant's success page. The signature lets the merchant's server tell a
// result Kassa produced from one it did not:
//
//	signature = hex(HMAC-SHA256(key = result signing secret, message = payment_id + "." + status))
//
// The secret is the merchant's result_signing_secret from
// GET /v1/merchant/settings; the key is the secret string's bytes as shown.
// A valid signature proves that Kassa reported that status for that payment;
// the payment may move on later (an authorization is captured, a payment is
// refunded), so fulfil against GET /v1/payments/{id} or webhooks when it matters.
//
// This package imports only the standard library so that a merchant's server
// can use it on its own.
package resultsig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
)

// Sign returns the signature of a result: lower-case hex HMAC-SHA256 of
// paymentID + "." + status keyed with secret.
func Sign(secret, paymentID, status string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(paymentID + "." + status))
	return hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether signature is Kassa's signature of (paymentID,
// status) under secret. The comparison takes constant time.
func Verify(secret, paymentID, status, signature string) bool {
	got, err := hex.DecodeString(signature)
	if err != nil || secret == "" || paymentID == "" {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(paymentID + "." + status))
	return hmac.Equal(got, m.Sum(nil))
}

// ErrInvalid is returned for a result whose signature does not verify.
var ErrInvalid = errors.New("resultsig: missing or invalid signature")

// VerifyQuery checks the payment_id, status and signature query parameters
// of a redirect to return_url or cancel_url and returns the verified payment
// ID and status.
func VerifyQuery(secret string, q url.Values) (paymentID, status string, err error) {
	paymentID, status = q.Get("payment_id"), q.Get("status")
	if !Verify(secret, paymentID, status, q.Get("signature")) {
		return "", "", ErrInvalid
	}
	return paymentID, status, nil
}
