// Package engine is Kassa's payment transaction service: every change to
// money goes through it. Its rules:
//
//   - Pending first. Before any processor call, a ledger transaction is
//     written as pending and committed; the call's result is written after.
//     A crash in between leaves a pending row that the reconciler resolves by
//     asking the processor (Reconcile), so no money moves without a record.
//   - One order, one success. Confirming a payment claims its (merchant,
//     order_id) in the same database transaction as the pending row; a second
//     payment of the same order is refused before it reaches the processor.
//   - Totals are derived from the ledger (kassa.ComputeTotals), inside the
//     write transaction that checks them, so concurrent refunds cannot exceed
//     what was captured.
//   - Every state change writes its event in the same transaction.
//
// The engine calls storage through kassa.Store and processors through
// processor.Processor; it knows no HTTP.
package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/processor"
)

// Config tunes the engine. Zero values take the defaults shown.
type Config struct {
	// BaseURL is the gateway's public URL, used for checkout and 3-D Secure links.
	BaseURL string
	// PaymentTTL is how long a payment awaits the shopper before it expires (24h).
	PaymentTTL time.Duration
	// ProcessorTimeout bounds one processor call (30s); past it the outcome is unknown.
	ProcessorTimeout time.Duration
	// ReconcileGrace is how old a pending transaction must be before the
	// reconciler asks the processor about it (1m): younger ones may still be
	// in flight in this or another instance. It must exceed ProcessorTimeout
	// in a multi-instance deployment; a single SQLite instance may set it
	// lower, since at start nothing else can be in flight.
	ReconcileGrace time.Duration
	// IdempotencyTTL is how long Idempotency-Key responses are kept (24h).
	IdempotencyTTL time.Duration
	// IdempotencyLease is how long a key stays locked by a request that
	// never finished (the process died) before a retry may run it (1m).
	IdempotencyLease time.Duration
	// KeyCacheTTL is how long a verified API key is remembered (30s), so
	// that authentication is not a database read on every request.
	KeyCacheTTL time.Duration
	// MaxChargeAttempts is how many declined charges a payment accepts
	// before it refuses further confirms (10): a payment is one purchase,
	// and an unbounded retry loop on it is how stolen card numbers get
	// tested. The merchant creates a new payment to start over.
	MaxChargeAttempts int
	// ClientSecretTTL is how long after a payment's creation its client
	// secret opens the checkout form (DefaultClientSecretTTL, 15 minutes).
	// Order payment pages renew their payment on the same schedule.
	ClientSecretTTL time.Duration
	// Now returns the current time (time.Now); tests move the clock.
	Now func() time.Time
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.PaymentTTL, 24*time.Hour)
	def(&c.ProcessorTimeout, 30*time.Second)
	def(&c.ReconcileGrace, time.Minute)
	def(&c.IdempotencyTTL, 24*time.Hour)
	def(&c.IdempotencyLease, time.Minute)
	def(&c.KeyCacheTTL, 30*time.Second)
	def(&c.ClientSecretTTL, DefaultClientSecretTTL)
	if c.MaxChargeAttempts == 0 {
		c.MaxChargeAttempts = 10
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
}

// Engine is the payment transaction service. It is safe for concurrent use.
type Engine struct {
	store kassa.Store
	proc  processor.Processor
	cfg   Config
	log   *slog.Logger

	keyMu    sync.Mutex
	keyCache map[string]cachedKey

	// shoplazza is the Shoplazza service built over this engine by
	// NewShoplazza (it needs the secret key, which New does not take).
	shoplazza atomic.Pointer[Shoplazza]
	// payoutWake wakes RunPayouts when an order is queued for payout here.
	payoutWake chan struct{}
}

type cachedKey struct {
	principal kassa.Principal
	until     time.Time
}

// New returns an engine over store and proc.
func New(store kassa.Store, proc processor.Processor, cfg Config, log *slog.Logger) *Engine {
	cfg.defaults()
	if log == nil {
		log = slog.Default()
	}
	return &Engine{store: store, proc: proc, cfg: cfg, log: log, keyCache: map[string]cachedKey{},
		payoutWake: make(chan struct{}, 1)}
}

// Config returns the engine's effective configuration.
func (e *Engine) Config() Config { return e.cfg }

func (e *Engine) now() time.Time { return e.cfg.Now().UTC() }

// MerchantCredentials are a new merchant's keys, shown once.
type MerchantCredentials struct {
	Merchant       *kassa.Merchant
	SecretKey      string
	PublishableKey string
}

// CreateMerchant creates a merchant with a test-mode key pair.
func (e *Engine) CreateMerchant(ctx context.Context, name, email string) (*MerchantCredentials, error) {
	name, email = strings.TrimSpace(name), strings.TrimSpace(email)
	if name == "" {
		return nil, kassa.Invalid("name", "parameter_missing", "merchant name is required")
	}
	if len(name) > 200 {
		return nil, kassa.Invalid("name", "parameter_too_long", "merchant name is longer than 200 characters")
	}
	if email != "" && !validEmail(email) {
		return nil, kassa.Invalid("email", "email_invalid", "email %q is not an email address", email)
	}
	now := e.now()
	m := &kassa.Merchant{ID: kassa.NewID("mer"), Name: name, Email: email, Created: now}
	sk := "sk_test_" + kassa.RandomToken(24)
	pk := "pk_test_" + kassa.RandomToken(24)
	err := e.store.Write(ctx, func(tx kassa.Tx) error {
		if err := tx.InsertMerchant(ctx, m); err != nil {
			return err
		}
		if err := tx.InsertAPIKey(ctx, &kassa.APIKey{ID: kassa.NewID("key"), MerchantID: m.ID, Kind: kassa.KeySecret,
			Hash: HashKey(sk), Prefix: sk[:12], Created: now}); err != nil {
			return err
		}
		return tx.InsertAPIKey(ctx, &kassa.APIKey{ID: kassa.NewID("key"), MerchantID: m.ID, Kind: kassa.KeyPublishable,
			Hash: HashKey(pk), Prefix: pk[:12], Plain: pk, Created: now})
	})
	if err != nil {
		return nil, err
	}
	return &MerchantCredentials{Merchant: m, SecretKey: sk, PublishableKey: pk}, nil
}

// HasMerchants reports whether any merchant exists.
func (e *Engine) HasMerchants(ctx context.Context) (bool, error) { return e.store.HasMerchants(ctx) }

// Merchant returns a merchant.
func (e *Engine) Merchant(ctx context.Context, id string) (*kassa.Merchant, error) {
	return e.store.Merchant(ctx, id)
}

// HashKey is how API keys are stored: hex SHA-256.
func HashKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

// Authenticate resolves a secret or publishable API key to its principal.
// The key is looked up by its hash, so no stored secret is ever compared
// byte by byte with the caller's input.
func (e *Engine) Authenticate(ctx context.Context, key string) (kassa.Principal, error) {
	unauth := kassa.Errorf(kassa.EUNAUTHORIZED, "invalid_api_key", "Invalid API key provided.")
	if !strings.HasPrefix(key, "sk_") && !strings.HasPrefix(key, "pk_") || len(key) > 200 {
		return kassa.Principal{}, unauth
	}
	h := HashKey(key)
	now := e.now()
	e.keyMu.Lock()
	c, ok := e.keyCache[h]
	e.keyMu.Unlock()
	if ok && now.Before(c.until) {
		return c.principal, nil
	}
	k, err := e.store.APIKeyByHash(ctx, h)
	if kassa.ErrorKind(err) == kassa.ENOTFOUND {
		return kassa.Principal{}, unauth
	} else if err != nil {
		return kassa.Principal{}, err
	}
	p := kassa.Principal{MerchantID: k.MerchantID, Livemode: k.Livemode, KeyKind: k.Kind}
	e.keyMu.Lock()
	if len(e.keyCache) > 10000 {
		clear(e.keyCache)
	}
	e.keyCache[h] = cachedKey{principal: p, until: now.Add(e.cfg.KeyCacheTTL)}
	e.keyMu.Unlock()
	return p, nil
}

func validEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	return at > 0 && at < len(s)-3 && strings.Contains(s[at:], ".") && !strings.ContainsAny(s, " \t\r\n<>") && len(s) <= 254
}
