package kassa

import (
	"net/url"
	"strings"
	"time"
)

// MerchantSettings are what the hosted checkout needs to know about a
// merchant: where its form may be embedded and whom it may talk to, how it
// looks, and the secret that signs the results it hands back in the browser.
type MerchantSettings struct {
	MerchantID string
	// AllowedOrigins are the exact web origins ("https://shop.example",
	// scheme://host[:port], no path) whose pages may embed the checkout form
	// (CSP frame-ancestors) and receive its result by postMessage. A form
	// asked to talk to any other origin refuses to render.
	AllowedOrigins []string
	DisplayName    string // shown on the form; the merchant's name when empty
	LogoURL        string // an https (or loopback http) image URL; none when empty
	AccentColor    string // "#rrggbb"; the form's default when empty
	// ResultSigningSecret keys the HMAC-SHA256 signature of checkout results
	// (see package resultsig). It is created on first use and shown only to
	// holders of the merchant's secret key.
	ResultSigningSecret string
	Created             time.Time
	Updated             time.Time
}

// MaxAllowedOrigins bounds the allowed origins of one merchant (each is sent
// in a CSP header).
const MaxAllowedOrigins = 20

// NormalizeOrigin checks that s is a web origin and returns it in the form
// browsers serialize it (lower-case scheme and host, default port dropped),
// which is the form postMessage and CSP compare. param names the field for
// the error.
func NormalizeOrigin(param, s string) (string, error) {
	bad := Invalid(param, "origin_invalid", "%q is not an origin: use scheme://host[:port] with http or https and no path, e.g. https://shop.example", s)
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" ||
		strings.ContainsAny(u.Host, "*, ;'\"") {
		return "", bad
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if host == "" {
		return "", bad
	}
	if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") { // IPv6 literal
		host = "[" + host + "]"
	}
	out := u.Scheme + "://" + host
	if port != "" {
		out += ":" + port
	}
	return out, nil
}

// ValidAccentColor reports whether c is a CSS hex color "#rgb" or "#rrggbb".
func ValidAccentColor(c string) bool {
	if len(c) != 4 && len(c) != 7 || c[0] != '#' {
		return false
	}
	for _, r := range c[1:] {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F') {
			return false
		}
	}
	return true
}

// OriginAllowed reports whether origin (as a browser serializes it) is one of
// s's allowed origins.
func (s *MerchantSettings) OriginAllowed(origin string) bool {
	for _, o := range s.AllowedOrigins {
		if o == origin {
			return true
		}
	}
	return false
}
