package engine

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kassa-pay/kassa"
)

// SettingsStore is the storage of merchant settings. internal/store's *DB
// implements it; it is kept out of kassa.Store because settings never change
// in the same transaction as money.
type SettingsStore interface {
	// MerchantSettings returns stored settings or ENOTFOUND.
	MerchantSettings(ctx context.Context, merchantID string) (*kassa.MerchantSettings, error)
	// EnsureMerchantSettings stores def unless settings exist, and returns the stored row.
	EnsureMerchantSettings(ctx context.Context, def *kassa.MerchantSettings) (*kassa.MerchantSettings, error)
	// UpdateMerchantSettings changes the stored row with fn under a write lock.
	UpdateMerchantSettings(ctx context.Context, merchantID string, fn func(*kassa.MerchantSettings) error) (*kassa.MerchantSettings, error)
}

func (e *Engine) settings() (SettingsStore, error) {
	s, ok := e.store.(SettingsStore)
	if !ok {
		return nil, fmt.Errorf("engine: store %T does not keep merchant settings", e.store)
	}
	return s, nil
}

// NewResultSigningSecret returns a fresh secret for signing checkout results.
func NewResultSigningSecret() string { return "rss_" + kassa.RandomToken(32) }

// MerchantSettings returns a merchant's settings, creating them with a new
// result-signing secret on first use.
func (e *Engine) MerchantSettings(ctx context.Context, merchantID string) (*kassa.MerchantSettings, error) {
	st, err := e.settings()
	if err != nil {
		return nil, err
	}
	s, err := st.MerchantSettings(ctx, merchantID)
	if kassa.ErrorKind(err) != kassa.ENOTFOUND {
		return s, err
	}
	if _, err := e.store.Merchant(ctx, merchantID); err != nil {
		return nil, err
	}
	now := e.now()
	return st.EnsureMerchantSettings(ctx, &kassa.MerchantSettings{MerchantID: merchantID, AllowedOrigins: []string{},
		ResultSigningSecret: NewResultSigningSecret(), Created: now, Updated: now})
}

// SettingsUpdate changes some merchant settings; nil fields stay as they are.
type SettingsUpdate struct {
	AllowedOrigins *[]string
	DisplayName    *string
	LogoURL        *string
	AccentColor    *string
	// RollResultSigningSecret replaces the signing secret: results signed
	// with the old one stop verifying at once.
	RollResultSigningSecret bool
}

func (u *SettingsUpdate) validate() error {
	if u.AllowedOrigins != nil {
		in := *u.AllowedOrigins
		if len(in) > kassa.MaxAllowedOrigins {
			return kassa.Invalid("allowed_origins", "parameter_invalid", "at most %d allowed origins", kassa.MaxAllowedOrigins)
		}
		out := make([]string, 0, len(in))
		for i, o := range in {
			n, err := kassa.NormalizeOrigin(fmt.Sprintf("allowed_origins[%d]", i), o)
			if err != nil {
				return err
			}
			dup := false
			for _, x := range out {
				dup = dup || x == n
			}
			if !dup {
				out = append(out, n)
			}
		}
		*u.AllowedOrigins = out
	}
	if u.DisplayName != nil {
		*u.DisplayName = strings.TrimSpace(*u.DisplayName)
		if err := checkText("display_name", *u.DisplayName, 100); err != nil {
			return err
		}
		if strings.ContainsAny(*u.DisplayName, "\r\n\t") || !utf8.ValidString(*u.DisplayName) {
			return kassa.Invalid("display_name", "parameter_invalid", "display_name must be one line of text")
		}
	}
	if u.LogoURL != nil && *u.LogoURL != "" {
		l, err := url.Parse(*u.LogoURL)
		ok := err == nil && l.Host != "" && l.User == nil && len(*u.LogoURL) <= maxURL &&
			(l.Scheme == "https" || l.Scheme == "http" && loopback(l.Hostname()))
		if !ok {
			return kassa.Invalid("logo_url", "url_invalid", "logo_url must be an absolute https URL (http only for localhost) of at most %d characters", maxURL)
		}
	}
	if u.AccentColor != nil && *u.AccentColor != "" {
		if !kassa.ValidAccentColor(*u.AccentColor) {
			return kassa.Invalid("accent_color", "parameter_invalid", "accent_color must be a hex color like #0a7c2f")
		}
		*u.AccentColor = strings.ToLower(*u.AccentColor)
	}
	return nil
}

func loopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1" || strings.HasSuffix(host, ".localhost")
}

// UpdateMerchantSettings applies u to the settings of pr's merchant.
func (e *Engine) UpdateMerchantSettings(ctx context.Context, pr kassa.Principal, u SettingsUpdate) (*kassa.MerchantSettings, error) {
	if err := u.validate(); err != nil {
		return nil, err
	}
	if _, err := e.MerchantSettings(ctx, pr.MerchantID); err != nil {
		return nil, err
	}
	st, err := e.settings()
	if err != nil {
		return nil, err
	}
	return st.UpdateMerchantSettings(ctx, pr.MerchantID, func(s *kassa.MerchantSettings) error {
		if u.AllowedOrigins != nil {
			s.AllowedOrigins = *u.AllowedOrigins
		}
		if u.DisplayName != nil {
			s.DisplayName = *u.DisplayName
		}
		if u.LogoURL != nil {
			s.LogoURL = *u.LogoURL
		}
		if u.AccentColor != nil {
			s.AccentColor = *u.AccentColor
		}
		if u.RollResultSigningSecret {
			s.ResultSigningSecret = NewResultSigningSecret()
		}
		s.Updated = e.now()
		return nil
	})
}

// DefaultClientSecretTTL is how long a client secret opens the checkout form
// after its payment was created. It is much shorter than the payment's own
// expiry: a client secret travels through the shopper's browser and the
// merchant's page, so its window of use is kept to one checkout.
const DefaultClientSecretTTL = 15 * time.Minute

// CheckoutSession is what the checkout form shows and acts on: a payment
// found by its client secret, with its merchant and settings.
type CheckoutSession struct {
	Payment  *kassa.Payment
	Totals   kassa.Totals
	Merchant *kassa.Merchant
	Settings *kassa.MerchantSettings
	// ExpiresAt is when the client secret stops working: the payment's
	// creation plus the client-secret TTL, or the payment's own expiry if
	// that comes first.
	ExpiresAt time.Time
	Expired   bool
}

// Principal is the merchant and mode the session acts for.
func (s *CheckoutSession) Principal() kassa.Principal {
	return kassa.Principal{MerchantID: s.Payment.MerchantID, Livemode: s.Payment.Livemode}
}

// CheckoutSession finds the payment of a client secret ("pay_…_secret_…").
// An unknown or mismatched secret is ENOTFOUND, the same answer for both so
// that secrets cannot be probed; the secret is compared in constant time.
// An expired session is returned with Expired set (the form still needs the
// merchant's name to say so), never as an error. ttl ≤ 0 means
// DefaultClientSecretTTL.
func (e *Engine) CheckoutSession(ctx context.Context, clientSecret string, ttl time.Duration) (*CheckoutSession, error) {
	notFound := kassa.Errorf(kassa.ENOTFOUND, "client_secret_invalid", "No payment matches this client secret.")
	id, _, ok := strings.Cut(clientSecret, "_secret_")
	if !ok || !strings.HasPrefix(id, "pay_") || len(clientSecret) > 200 {
		return nil, notFound
	}
	p, err := e.store.PaymentByID(ctx, id)
	if kassa.ErrorKind(err) == kassa.ENOTFOUND {
		return nil, notFound
	} else if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(p.ClientSecret), []byte(clientSecret)) != 1 {
		return nil, notFound
	}
	m, err := e.store.Merchant(ctx, p.MerchantID)
	if err != nil {
		return nil, err
	}
	st, err := e.MerchantSettings(ctx, p.MerchantID)
	if err != nil {
		return nil, err
	}
	txns, err := e.store.Transactions(ctx, []string{p.ID}, false)
	if err != nil {
		return nil, err
	}
	if ttl <= 0 {
		ttl = e.cfg.ClientSecretTTL
	}
	exp := p.Created.Add(ttl)
	if !p.ExpiresAt.IsZero() && p.ExpiresAt.Before(exp) {
		exp = p.ExpiresAt
	}
	return &CheckoutSession{Payment: p, Totals: kassa.ComputeTotals(txns[p.ID]), Merchant: m, Settings: st,
		ExpiresAt: exp, Expired: !e.now().Before(exp)}, nil
}

// ErrCheckoutExpired is the answer to a form submitted after its client
// secret expired.
func ErrCheckoutExpired() error {
	return kassa.Errorf(kassa.EINVALID, "checkout_expired", "This payment page has expired.")
}

// ConfirmCheckout charges card for the payment of a checkout session through
// the same path as the API's confirm (pending row first, order claim, 3-D
// Secure), after checking that the client secret has not expired.
func (e *Engine) ConfirmCheckout(ctx context.Context, s *CheckoutSession, card *kassa.Card) (*PaymentDetail, error) {
	if !e.now().Before(s.ExpiresAt) {
		return nil, ErrCheckoutExpired()
	}
	return e.ConfirmPayment(ctx, s.Principal(), s.Payment.ID, card)
}

// CancelCheckout cancels the payment of a checkout the shopper abandoned
// (closed the pop-up, chose to go back to the shop). A 3-D Secure challenge
// passed meanwhile wins: the payment is then completed, not canceled, and
// the detail shows it.
func (e *Engine) CancelCheckout(ctx context.Context, s *CheckoutSession) (*PaymentDetail, error) {
	return e.CancelPayment(ctx, s.Principal(), s.Payment.ID, "abandoned")
}
