package shoplazza

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// The Shoplazza-Hmac-Sha256 header. Shoplazza has not published how the
// payments-app requests are signed (specs/shoplazza-payments-app.md §7.2),
// so the scheme is configurable in its three parts, defaulting to the most
// likely reading: lower-case hex HMAC-SHA256 of the raw body keyed with the
// app's client secret.

// Key sources.
const (
	KeyClientSecret = "client_secret" // the app's client secret (default)
	KeyMerchantKey  = "merchant_key"  // a per-shop signing key given at bind time (--sign-key)
)

// Canonical forms: which bytes are signed.
const (
	CanonicalRawBody       = "raw_body"        // the body exactly as sent (default)
	CanonicalSortedParams  = "sorted_params"   // form fields sorted by key, "k=v" joined by "&", values not URL-encoded
	CanonicalMethodURLBody = "method_url_body" // METHOD "\n" path?query "\n" body "\n" (channel_proxy v2 style)
)

// Encodings of the MAC.
const (
	EncodingHex    = "hex" // lower-case hex; compared case-insensitively (default)
	EncodingBase64 = "base64"
)

// SigScheme says how Shoplazza-Hmac-Sha256 is computed. Outbound calls
// (complete, notify) are signed with the same scheme over the exact JSON
// bytes sent; sorted_params has no meaning for a JSON body, so outbound
// calls then sign the raw body.
type SigScheme struct {
	KeySource string
	Canonical string
	Encoding  string
}

// DefaultScheme is client_secret + raw_body + hex.
var DefaultScheme = SigScheme{KeySource: KeyClientSecret, Canonical: CanonicalRawBody, Encoding: EncodingHex}

func (s SigScheme) withDefaults() SigScheme {
	if s.KeySource == "" {
		s.KeySource = DefaultScheme.KeySource
	}
	if s.Canonical == "" {
		s.Canonical = DefaultScheme.Canonical
	}
	if s.Encoding == "" {
		s.Encoding = DefaultScheme.Encoding
	}
	return s
}

// Validate reports an unknown part.
func (s SigScheme) Validate() error {
	s = s.withDefaults()
	switch {
	case s.KeySource != KeyClientSecret && s.KeySource != KeyMerchantKey:
		return fmt.Errorf("shoplazza: unknown signature key source %q", s.KeySource)
	case s.Canonical != CanonicalRawBody && s.Canonical != CanonicalSortedParams && s.Canonical != CanonicalMethodURLBody:
		return fmt.Errorf("shoplazza: unknown signature canonical form %q", s.Canonical)
	case s.Encoding != EncodingHex && s.Encoding != EncodingBase64:
		return fmt.Errorf("shoplazza: unknown signature encoding %q", s.Encoding)
	}
	return nil
}

func (s SigScheme) String() string {
	s = s.withDefaults()
	return s.KeySource + "+" + s.Canonical + "+" + s.Encoding
}

// AllSchemes lists every combination over one key source, for the
// onboarding mode that accepts any and logs which matched.
func AllSchemes(keySource string) []SigScheme {
	var out []SigScheme
	for _, c := range []string{CanonicalRawBody, CanonicalSortedParams, CanonicalMethodURLBody} {
		for _, e := range []string{EncodingHex, EncodingBase64} {
			out = append(out, SigScheme{KeySource: keySource, Canonical: c, Encoding: e})
		}
	}
	return out
}

// SortedParams is the sorted_params canonical form of a form body: the
// fields sorted by key (byte order), signature-like keys dropped, each
// "key=value" with the decoded value as is, joined by "&". JSON-string
// fields (products, cards) are used verbatim.
func SortedParams(body []byte) (string, error) {
	q, err := url.ParseQuery(string(body))
	if err != nil {
		return "", err
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		switch k {
		case "hmac", "sign", "signature":
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		for _, v := range q[k] {
			parts = append(parts, k+"="+v)
		}
	}
	return strings.Join(parts, "&"), nil
}

// message returns the signed bytes of a request.
func (s SigScheme) message(method, requestURI string, body []byte, outbound bool) ([]byte, error) {
	switch s.withDefaults().Canonical {
	case CanonicalSortedParams:
		if outbound {
			return body, nil
		}
		m, err := SortedParams(body)
		return []byte(m), err
	case CanonicalMethodURLBody:
		return []byte(method + "\n" + requestURI + "\n" + string(body) + "\n"), nil
	}
	return body, nil
}

func mac(key string, msg []byte) []byte {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(msg)
	return m.Sum(nil)
}

// Sign returns the Shoplazza-Hmac-Sha256 value of an outbound call.
func (s SigScheme) Sign(key, method, requestURI string, body []byte) string {
	msg, _ := s.message(method, requestURI, body, true)
	sum := mac(key, msg)
	if s.withDefaults().Encoding == EncodingBase64 {
		return base64.StdEncoding.EncodeToString(sum)
	}
	return hex.EncodeToString(sum)
}

// SignRequest returns the signature of an inbound request as Shoplazza
// would compute it under s (tests and tools play Shoplazza with it).
func (s SigScheme) SignRequest(key, method, requestURI string, body []byte) (string, error) {
	msg, err := s.message(method, requestURI, body, false)
	if err != nil {
		return "", err
	}
	sum := mac(key, msg)
	if s.withDefaults().Encoding == EncodingBase64 {
		return base64.StdEncoding.EncodeToString(sum), nil
	}
	return hex.EncodeToString(sum), nil
}

// Verify reports whether sig is the signature of an inbound request under
// s and key. The MACs are compared in constant time; hex is decoded first,
// so its case does not matter.
func (s SigScheme) Verify(key, method, requestURI string, body []byte, sig string) bool {
	sig = strings.TrimSpace(sig)
	if key == "" || sig == "" {
		return false
	}
	var got []byte
	var err error
	if s.withDefaults().Encoding == EncodingBase64 {
		got, err = base64.StdEncoding.DecodeString(sig)
	} else {
		got, err = hex.DecodeString(sig)
	}
	if err != nil {
		return false
	}
	msg, err := s.message(method, requestURI, body, false)
	if err != nil {
		return false
	}
	return hmac.Equal(got, mac(key, msg))
}
