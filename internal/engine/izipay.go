package engine

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/notify"
)

// Izipay Web Core compatibility: the credentials an Izipay merchant server
// holds (merchant code, public key, hash key) and the session tokens it
// asks for before showing the payment form. internal/izipay translates the
// wire protocol; the rules live here.

// IzipayTokenTTL is how long a session token opens the form: Izipay's
// tokens expire 15 minutes after issue (exp - iat = 900 s in observed JWTs).
const IzipayTokenTTL = 15 * time.Minute

// IzipayCredentials are a merchant's Izipay credentials in clear.
type IzipayCredentials struct {
	MerchantID   string
	Livemode     bool
	MerchantCode string // public, looked up by
	PublicKey    string // authenticates Token/Generate (sent server to server)
	HashKey      string // keys HMAC-SHA256 of payloadHttp; never logged
	Created      time.Time
	Updated      time.Time
}

// IzipayCredentialRecord is how credentials are stored: both keys sealed
// with AES-256-GCM (see SecretBox).
type IzipayCredentialRecord struct {
	MerchantID      string
	Livemode        bool
	MerchantCode    string
	PublicKeySealed string
	HashKeySealed   string
	Created         time.Time
	Updated         time.Time
}

// IzipaySession is one session token and, once LoadForm used it, the Kassa
// payment it opened and where that payment's results go.
type IzipaySession struct {
	TokenHash     string // hex SHA-256 of the token; the token itself is not stored
	MerchantID    string
	Livemode      bool
	MerchantCode  string
	TransactionID string
	OrderNumber   string
	Amount        string // the decimal string the merchant sent, e.g. "10.00"
	Created       time.Time
	ExpiresAt     time.Time

	PaymentID string // "" until LoadForm
	Currency  string
	TypeForm  string // embedded | pop-up | redirect
	Origin    string // the page that loaded the form (embedded, pop-up)
	IPNURL    string
	OnSuccess string
	OnError   string
	OnCancel  string
	Extra     string // JSON: Izipay fields echoed back in results
}

// IzipayStore keeps Izipay credentials and sessions; internal/store's *DB
// implements it. It is kept out of kassa.Store: nothing here changes in the
// same transaction as money.
type IzipayStore interface {
	IzipayCredentials(ctx context.Context, merchantID string, livemode bool) (*IzipayCredentialRecord, error)
	IzipayCredentialsByCode(ctx context.Context, merchantCode string) (*IzipayCredentialRecord, error)
	// InsertIzipayCredentials stores r unless the merchant has credentials
	// in that mode and returns what is stored. A merchant code already used
	// by another merchant is ECONFLICT.
	InsertIzipayCredentials(ctx context.Context, r *IzipayCredentialRecord) (*IzipayCredentialRecord, error)
	// UpdateIzipayKeys replaces the sealed keys of stored credentials.
	UpdateIzipayKeys(ctx context.Context, r *IzipayCredentialRecord) error
	InsertIzipaySession(ctx context.Context, s *IzipaySession) error
	IzipaySession(ctx context.Context, tokenHash string) (*IzipaySession, error)
	IzipaySessionByPayment(ctx context.Context, paymentID string) (*IzipaySession, error)
}

// IzipayTx is what a write transaction offers for Izipay sessions;
// internal/store's transactions implement it.
type IzipayTx interface {
	// BindIzipaySession stores s's payment and LoadForm fields if its row
	// has no payment yet, and reports whether it did: false when a
	// concurrent LoadForm bound another payment first.
	BindIzipaySession(ctx context.Context, s *IzipaySession) (bool, error)
}

// FormatIzipayIPN is the notification format of Izipay IPNs (registered by
// internal/izipay with the notify engine).
const FormatIzipayIPN = "izipay"

// izipayIPN is the subscription that sends the IPN of a session's payment
// to its urlIPN when the payment reaches a final state. Its ID
// "izipay:<payment>" keeps a 410 Gone from one IPN URL from touching any
// other delivery.
func izipayIPN(s *IzipaySession, now time.Time) *notify.Subscription {
	return &notify.Subscription{ID: "izipay:" + s.PaymentID, Subject: s.PaymentID, MerchantID: s.MerchantID, Livemode: s.Livemode,
		URL: s.IPNURL, Format: FormatIzipayIPN, Created: now,
		EventTypes: []string{kassa.EventPaymentSucceeded, kassa.EventPaymentAuthorized, kassa.EventPaymentCanceled}}
}

// SecretBox seals secrets stored at rest with AES-256-GCM. Each sealed
// value is "v1." and base64url(nonce ‖ ciphertext), authenticated together
// with a label naming its owner and purpose, so a sealed value copied into
// another row does not open.
type SecretBox struct{ aead cipher.AEAD }

// NewSecretBox returns a box keyed by a 32-byte key.
func NewSecretBox(key []byte) (*SecretBox, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("engine: secret key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &SecretBox{aead: aead}, nil
}

// Seal encrypts plain for label.
func (b *SecretBox) Seal(label, plain string) string {
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	out := b.aead.Seal(nonce, nonce, []byte(plain), []byte(label))
	return "v1." + base64.RawURLEncoding.EncodeToString(out)
}

// Open decrypts a value sealed for label.
func (b *SecretBox) Open(label, sealed string) (string, error) {
	raw, ok := strings.CutPrefix(sealed, "v1.")
	if !ok {
		return "", errors.New("engine: sealed secret has an unknown format")
	}
	data, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil || len(data) < b.aead.NonceSize() {
		return "", errors.New("engine: sealed secret is damaged")
	}
	n := b.aead.NonceSize()
	plain, err := b.aead.Open(nil, data[:n], data[n:], []byte(label))
	if err != nil {
		return "", errors.New("engine: sealed secret does not open with this key (was KASSA_SECRET_KEY or the key file changed?)")
	}
	return string(plain), nil
}

// Izipay is the engine's Izipay Web Core service.
type Izipay struct {
	e   *Engine
	st  IzipayStore
	box *SecretBox
}

// NewIzipay returns the Izipay service of e; secretKey (32 bytes) seals
// the stored keys.
func NewIzipay(e *Engine, secretKey []byte) (*Izipay, error) {
	st, ok := e.store.(IzipayStore)
	if !ok {
		return nil, fmt.Errorf("engine: store %T does not keep Izipay credentials", e.store)
	}
	box, err := NewSecretBox(secretKey)
	if err != nil {
		return nil, err
	}
	return &Izipay{e: e, st: st, box: box}, nil
}

// Engine returns the payment engine behind the service.
func (z *Izipay) Engine() *Engine { return z.e }

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randomString(alphabet string, n int) string {
	b := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range b {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(err)
		}
		b[i] = alphabet[v.Int64()]
	}
	return string(b)
}

func (z *Izipay) labels(merchantID string) (pub, hash string) {
	return "izipay-public-key/" + merchantID, "izipay-hash-key/" + merchantID
}

func (z *Izipay) open(r *IzipayCredentialRecord) (*IzipayCredentials, error) {
	lp, lh := z.labels(r.MerchantID)
	pub, err := z.box.Open(lp, r.PublicKeySealed)
	if err != nil {
		return nil, err
	}
	hash, err := z.box.Open(lh, r.HashKeySealed)
	if err != nil {
		return nil, err
	}
	return &IzipayCredentials{MerchantID: r.MerchantID, Livemode: r.Livemode, MerchantCode: r.MerchantCode,
		PublicKey: pub, HashKey: hash, Created: r.Created, Updated: r.Updated}, nil
}

func (z *Izipay) sealKeys(r *IzipayCredentialRecord) {
	lp, lh := z.labels(r.MerchantID)
	// Izipay's public keys are 32 letters and digits; hash keys are longer
	// random strings. Both are 190+ bits of entropy.
	r.PublicKeySealed = z.box.Seal(lp, randomString(alnum, 32))
	r.HashKeySealed = z.box.Seal(lh, randomString(alnum, 44))
}

// IzipayCredentials returns a merchant's test-mode Izipay credentials,
// creating them on first use. The merchant code is 8 digits, like
// Izipay's, unique across the gateway.
func (z *Izipay) IzipayCredentials(ctx context.Context, merchantID string) (*IzipayCredentials, error) {
	r, err := z.st.IzipayCredentials(ctx, merchantID, false)
	if kassa.ErrorKind(err) == kassa.ENOTFOUND {
		if _, err := z.e.store.Merchant(ctx, merchantID); err != nil {
			return nil, err
		}
		now := z.e.now()
		for try := 0; ; try++ {
			nr := &IzipayCredentialRecord{MerchantID: merchantID, MerchantCode: randomString("0123456789", 8),
				Created: now, Updated: now}
			if nr.MerchantCode[0] == '0' {
				continue
			}
			z.sealKeys(nr)
			r, err = z.st.InsertIzipayCredentials(ctx, nr)
			if kassa.ErrorKind(err) != kassa.ECONFLICT || try > 5 {
				break
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return z.open(r)
}

// RollIzipayCredentials gives a merchant a new public key and hash key (the
// merchant code stays). Tokens and signatures made with the old keys stop
// verifying at once.
func (z *Izipay) RollIzipayCredentials(ctx context.Context, merchantID string) (*IzipayCredentials, error) {
	if _, err := z.IzipayCredentials(ctx, merchantID); err != nil {
		return nil, err
	}
	r, err := z.st.IzipayCredentials(ctx, merchantID, false)
	if err != nil {
		return nil, err
	}
	z.sealKeys(r)
	r.Updated = z.e.now()
	if err := z.st.UpdateIzipayKeys(ctx, r); err != nil {
		return nil, err
	}
	return z.open(r)
}

// HashKeyOf returns the hash key that signs results of a merchant.
func (z *Izipay) HashKeyOf(ctx context.Context, merchantID string, livemode bool) (*IzipayCredentials, error) {
	r, err := z.st.IzipayCredentials(ctx, merchantID, livemode)
	if err != nil {
		return nil, err
	}
	return z.open(r)
}

// errIzipayCredentials is the one answer to a wrong merchant code or public
// key, so that codes cannot be probed.
func errIzipayCredentials() error {
	return kassa.Errorf(kassa.EUNAUTHORIZED, "izipay_credentials_invalid", "merchantCode or publicKey is not valid")
}

// AuthenticateIzipay checks a merchant code and public key; the key is
// compared in constant time.
func (z *Izipay) AuthenticateIzipay(ctx context.Context, merchantCode, publicKey string) (*IzipayCredentials, error) {
	if merchantCode == "" || len(merchantCode) > 40 || publicKey == "" || len(publicKey) > 200 {
		return nil, errIzipayCredentials()
	}
	r, err := z.st.IzipayCredentialsByCode(ctx, merchantCode)
	if kassa.ErrorKind(err) == kassa.ENOTFOUND {
		return nil, errIzipayCredentials()
	} else if err != nil {
		return nil, err
	}
	c, err := z.open(r)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(c.PublicKey), []byte(publicKey)) != 1 {
		return nil, errIzipayCredentials()
	}
	return c, nil
}

// IzipayTokenRequest is a Token/Generate call.
type IzipayTokenRequest struct {
	TransactionID string
	MerchantCode  string
	PublicKey     string
	OrderNumber   string
	Amount        string
	RequestSource string
}

func validTransactionID(s string) bool {
	return len(s) >= 5 && len(s) <= 40 && onlyAlnum(s)
}

func onlyAlnum(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// ValidIzipayOrderNumber: Izipay order numbers are 5 to 15 letters and digits.
func ValidIzipayOrderNumber(s string) bool { return len(s) >= 5 && len(s) <= 15 && onlyAlnum(s) }

// IssueIzipayToken authenticates the merchant and issues a session token
// bound to the transaction ID, order number and amount, valid for
// IzipayTokenTTL. Errors name the offending field as Param.
func (z *Izipay) IssueIzipayToken(ctx context.Context, r IzipayTokenRequest) (string, *IzipaySession, error) {
	if !validTransactionID(r.TransactionID) {
		return "", nil, kassa.Invalid("transactionId", "transaction_id_invalid", "the transactionId header must be 5 to 40 letters and digits")
	}
	if r.RequestSource != "" && r.RequestSource != "ECOMMERCE" {
		return "", nil, kassa.Invalid("requestSource", "request_source_invalid", "requestSource must be ECOMMERCE")
	}
	if r.MerchantCode == "" || r.PublicKey == "" {
		param := "merchantCode"
		if r.MerchantCode != "" {
			param = "publicKey"
		}
		return "", nil, kassa.Invalid(param, "parameter_missing", "%s is required", param)
	}
	if !ValidIzipayOrderNumber(r.OrderNumber) {
		return "", nil, kassa.Invalid("orderNumber", "order_number_invalid", "orderNumber must be 5 to 15 letters and digits")
	}
	// Izipay amounts have two decimals (PEN and USD); the currency comes
	// later, with the form's config, so the token keeps the string.
	if a, err := kassa.ParseAmount("amount", r.Amount, "PEN"); err != nil || a <= 0 {
		return "", nil, kassa.Invalid("amount", "amount_invalid", "amount must be a positive decimal with at most two decimals, like \"10.00\"")
	}
	c, err := z.AuthenticateIzipay(ctx, r.MerchantCode, r.PublicKey)
	if err != nil {
		return "", nil, err
	}
	now := z.e.now()
	s := &IzipaySession{MerchantID: c.MerchantID, Livemode: c.Livemode, MerchantCode: c.MerchantCode,
		TransactionID: r.TransactionID, OrderNumber: r.OrderNumber, Amount: strings.TrimSpace(r.Amount),
		Created: now, ExpiresAt: now.Add(IzipayTokenTTL), Extra: "{}"}
	token := izipayJWT(s)
	s.TokenHash = HashKey(token)
	if err := z.st.InsertIzipaySession(ctx, s); err != nil {
		return "", nil, err
	}
	return token, s, nil
}

// izipayJWT is a session token shaped as Izipay's: an HS256 JWT whose
// claims are the ones seen in Izipay's tokens (merchantCode,
// facilitatorCode, transactionId, OrderNumber, Amount, TokenId, nbf, iat,
// exp = iat + 900), so an integration that decodes its token (to read the
// expiry, say) finds what it expects. Kassa never trusts the claims: the
// token is looked up by its hash, and its 256-bit random signing key, used
// once and forgotten, together with the random TokenId make it unguessable.
func izipayJWT(s *IzipaySession) string {
	enc := base64.RawURLEncoding
	var id [16]byte
	rand.Read(id[:])
	id[6], id[8] = id[6]&0x0f|0x40, id[8]&0x3f|0x80 // a version 4 UUID, as Izipay's TokenId
	claims, _ := json.Marshal(struct {
		MerchantCode    string `json:"merchantCode"`
		FacilitatorCode string `json:"facilitatorCode"`
		TransactionID   string `json:"transactionId"`
		OrderNumber     string `json:"OrderNumber"`
		Amount          string `json:"Amount"`
		TokenID         string `json:"TokenId"`
		Nbf             int64  `json:"nbf"`
		Iat             int64  `json:"iat"`
		Exp             int64  `json:"exp"`
	}{s.MerchantCode, "", s.TransactionID, s.OrderNumber, s.Amount,
		fmt.Sprintf("%x-%x-%x-%x-%x", id[0:4], id[4:6], id[6:8], id[8:10], id[10:]),
		s.Created.Unix(), s.Created.Unix(), s.ExpiresAt.Unix()})
	signing := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(claims)
	key := make([]byte, 32)
	rand.Read(key)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(m.Sum(nil))
}

// IzipayForm is LoadForm's config as the engine checks it against the token.
type IzipayForm struct {
	TransactionID string
	MerchantCode  string
	OrderNumber   string
	Amount        string
	Currency      string
	TypeForm      string
	Origin        string
	IPNURL        string
	OnSuccess     string
	OnError       string
	OnCancel      string
	Extra         string
	// The Kassa payment to create on first use.
	Payment PaymentParams
}

func errTokenInvalid() error {
	return kassa.Errorf(kassa.ENOTFOUND, "izipay_token_invalid", "the authorization token is not valid")
}

// IzipaySession finds the session of a token (ENOTFOUND if unknown).
func (z *Izipay) IzipaySession(ctx context.Context, token string) (*IzipaySession, error) {
	if strings.Count(token, ".") != 2 || len(token) > 2000 {
		return nil, errTokenInvalid()
	}
	s, err := z.st.IzipaySession(ctx, HashKey(token))
	if kassa.ErrorKind(err) == kassa.ENOTFOUND {
		return nil, errTokenInvalid()
	}
	return s, err
}

// IzipaySessionByPayment finds the session that opened a payment.
func (z *Izipay) IzipaySessionByPayment(ctx context.Context, paymentID string) (*IzipaySession, error) {
	return z.st.IzipaySessionByPayment(ctx, paymentID)
}

// OpenIzipayForm checks LoadForm's config against its token (not expired;
// same transaction ID, merchant code, order number and amount — amounts
// compared exactly in the currency's minor units) and returns the session
// with the Kassa payment it pays, creating the payment on the token's first
// use. A second LoadForm with the same token (a reload) gets the same payment.
func (z *Izipay) OpenIzipayForm(ctx context.Context, token string, f IzipayForm) (*IzipaySession, *PaymentDetail, error) {
	s, err := z.IzipaySession(ctx, token)
	if err != nil {
		return nil, nil, err
	}
	if !z.e.now().Before(s.ExpiresAt) {
		return nil, nil, kassa.Errorf(kassa.EINVALID, "izipay_token_expired", "the authorization token expired at %s; generate a new one",
			s.ExpiresAt.UTC().Format(time.RFC3339))
	}
	mismatch := func(field string) error {
		return kassa.Invalid(field, "izipay_token_mismatch", "%s differs from the one the token was generated for", field)
	}
	if f.TransactionID != s.TransactionID {
		return nil, nil, mismatch("transactionId")
	}
	if f.MerchantCode != "" && f.MerchantCode != s.MerchantCode {
		return nil, nil, mismatch("merchantCode")
	}
	if f.OrderNumber != s.OrderNumber {
		return nil, nil, mismatch("order.orderNumber")
	}
	cur, err := kassa.NormalizeCurrency("order.currency", f.Currency)
	if err != nil {
		return nil, nil, err
	}
	want, err := kassa.ParseAmount("order.amount", f.Amount, cur)
	if err != nil {
		return nil, nil, err
	}
	got, err := kassa.ParseAmount("order.amount", s.Amount, cur)
	if err != nil || got != want {
		return nil, nil, mismatch("order.amount")
	}
	pr := kassa.Principal{MerchantID: s.MerchantID, Livemode: s.Livemode, KeyKind: kassa.KeySecret}
	if s.PaymentID == "" {
		f.Payment.Amount, f.Payment.Currency, f.Payment.OrderID = want, cur, s.OrderNumber
		d, err := z.e.CreatePayment(ctx, pr, f.Payment, nil)
		if err != nil {
			return nil, nil, err
		}
		b := *s
		b.PaymentID, b.Currency, b.TypeForm, b.Origin, b.IPNURL = d.Payment.ID, cur, f.TypeForm, f.Origin, f.IPNURL
		b.OnSuccess, b.OnError, b.OnCancel, b.Extra = f.OnSuccess, f.OnError, f.OnCancel, f.Extra
		// Binding and the IPN subscription commit together, and only for
		// the LoadForm that binds: a payment without its IPN, or an IPN for
		// a payment that lost the race, cannot exist.
		err = z.e.store.Write(ctx, func(tx kassa.Tx) error {
			it, ok := tx.(IzipayTx)
			if !ok {
				return fmt.Errorf("engine: transaction %T does not keep Izipay sessions", tx)
			}
			bound, err := it.BindIzipaySession(ctx, &b)
			if err != nil || !bound || b.IPNURL == "" {
				return err
			}
			return notify.Subscribe(ctx, tx, izipayIPN(&b, z.e.now()))
		})
		if err != nil {
			return nil, nil, err
		}
		if s, err = z.st.IzipaySession(ctx, b.TokenHash); err != nil {
			return nil, nil, err
		}
		// A concurrent LoadForm may have bound another payment first; that
		// one wins and ours is canceled, so only one can be paid.
		if s.PaymentID != d.Payment.ID {
			z.e.CancelPayment(ctx, pr, d.Payment.ID, "duplicate")
		}
	}
	d, err := z.e.Payment(ctx, pr, s.PaymentID)
	if err != nil {
		return nil, nil, err
	}
	return s, d, nil
}

// IzipayOutcome is what a result is built from.
type IzipayOutcome struct {
	Session      *IzipaySession
	Payment      *kassa.Payment
	Transactions []kassa.Transaction
	Credentials  *IzipayCredentials
}

// IzipayOutcome loads the current state of a session's payment with the
// merchant's hash key, for building a signed result.
func (z *Izipay) IzipayOutcome(ctx context.Context, s *IzipaySession) (*IzipayOutcome, error) {
	if s.PaymentID == "" {
		return nil, kassa.Errorf(kassa.EINVALID, "izipay_form_not_loaded", "no form was loaded with this token")
	}
	pr := kassa.Principal{MerchantID: s.MerchantID, Livemode: s.Livemode}
	d, err := z.e.Payment(ctx, pr, s.PaymentID)
	if err != nil {
		return nil, err
	}
	txns, err := z.e.PaymentTransactions(ctx, pr, s.PaymentID)
	if err != nil {
		return nil, err
	}
	c, err := z.HashKeyOf(ctx, s.MerchantID, s.Livemode)
	if err != nil {
		return nil, err
	}
	return &IzipayOutcome{Session: s, Payment: d.Payment, Transactions: txns, Credentials: c}, nil
}

// CancelIzipayPayment cancels the payment of a session that the shopper
// abandoned before paying (a redirect-mode cancel); a finished payment is
// left as it is.
func (z *Izipay) CancelIzipayPayment(ctx context.Context, s *IzipaySession) error {
	pr := kassa.Principal{MerchantID: s.MerchantID, Livemode: s.Livemode}
	_, err := z.e.CancelPayment(ctx, pr, s.PaymentID, "abandoned")
	return err
}
