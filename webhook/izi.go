package webhook

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/url"
	"strings"
)

// Orders created through Kassa's izi.exchange-compatible API
// (/public/exchanger/order/create with ipnUrl and ipnSecret) are notified
// with izi.exchange's IPN instead of a Standard Webhook: a form-encoded
// POST whose hash field is
//
//	hex(sha256(orderId:newStatus:inAmount:outAmount:xml_from:xml_to:timestamp:ipnSecret))
//
//	http.HandleFunc("/ipn", func(w http.ResponseWriter, r *http.Request) {
//		if err := r.ParseForm(); err != nil || !webhook.VerifyIziIPN(r.PostForm, ipnSecret) {
//			http.Error(w, "bad hash", http.StatusBadRequest)
//			return
//		}
//		// r.PostForm.Get("orderUID"), r.PostForm.Get("newStatus") …
//	})

// IziIPNHash is izi.exchange's IPN checksum: lower-case hex SHA-256 of the
// fields joined by ":" with the order's ipnSecret last. The values are
// used exactly as they travel in the IPN (strings; amounts are not
// re-formatted: "2" and "2.00" give different hashes).
func IziIPNHash(orderID, newStatus, inAmount, outAmount, xmlFrom, xmlTo, timestamp, ipnSecret string) string {
	s := orderID + ":" + newStatus + ":" + inAmount + ":" + outAmount + ":" + xmlFrom + ":" + xmlTo + ":" + timestamp + ":" + ipnSecret
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// VerifyIziIPN reports whether the hash field of a received IPN form
// matches ipnSecret, comparing in constant time. The hash does not cover
// orderUID or toValues. timestamp (Unix milliseconds of the attempt) is
// covered: refuse old ones to stop replays, and for money decisions read
// the order back with order/get.
func VerifyIziIPN(form url.Values, ipnSecret string) bool {
	want := IziIPNHash(form.Get("orderId"), form.Get("newStatus"), form.Get("inAmount"), form.Get("outAmount"),
		form.Get("xml_from"), form.Get("xml_to"), form.Get("timestamp"), ipnSecret)
	return subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(form.Get("hash")))) == 1
}
