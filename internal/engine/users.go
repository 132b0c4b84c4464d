package engine

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/kassa-pay/kassa"
)

// Dashboard users and sessions: the merchant's staff who log in to the
// dashboard ("personal account"). The rules live here so that the CLI, the
// first-start bootstrap and the web UI apply the same ones:
//
//   - Passwords are hashed with argon2id (RFC 9106's second recommended
//     setting scaled to OWASP's minimum: 19 MiB, 2 passes). At most
//     maxHashing hashes run at once, so a flood of logins cannot take the
//     gateway's memory.
//   - Lockout: after MaxLoginFailures consecutive wrong passwords an account
//     refuses every login, right or wrong, for LockoutDuration. The count is
//     kept in the database, so it holds across instances and restarts.
//   - Unknown emails cost a hash too and get the same answer as a wrong
//     password, so response time and text do not tell which emails exist.
//   - Sessions are random 256-bit tokens; only their SHA-256 is stored. A
//     session ends SessionTTL after login or SessionIdle after its last use,
//     whichever comes first, and carries its own CSRF token for forms.
//   - A session acts for exactly one merchant (its user's) in one mode:
//     every read and action of the dashboard uses Session.Principal, the same
//     principal type as an API key, so a user can never reach another
//     merchant's data.

// Role is what a dashboard user may do.
type Role string

const (
	RoleAdmin  Role = "admin"  // everything: money actions, keys, webhooks, settings, team
	RoleViewer Role = "viewer" // read only; never sees secrets
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleViewer }

// Policy constants.
const (
	MaxLoginFailures = 5
	LockoutDuration  = 15 * time.Minute
	SessionTTL       = 12 * time.Hour
	SessionIdle      = 2 * time.Hour
	InviteTTL        = 7 * 24 * time.Hour
	MinPasswordLen   = 10
	maxPasswordLen   = 256
	// sessionTouchEvery bounds writes for last-seen: a session's last use is
	// stored at most this often.
	sessionTouchEvery = time.Minute
	maxHashing        = 4
)

// User is a dashboard user of one merchant.
type User struct {
	ID            string
	MerchantID    string
	Email         string // lower-case
	PasswordHash  string // argon2id PHC string; "" while the invitation is open
	Role          Role
	InviteHash    string // SHA-256 of the open invitation's token, or ""
	InviteExpires time.Time
	InvitedBy     string
	FailedLogins  int
	LockedUntil   time.Time
	LastLogin     time.Time
	Created       time.Time
	Updated       time.Time
}

// CanWrite reports whether the user may change anything (admins only).
func (u *User) CanWrite() bool { return u.Role == RoleAdmin }

// Pending reports whether the user was invited and has not set a password.
func (u *User) Pending() bool { return u.PasswordHash == "" }

// Session is a logged-in user's session.
type Session struct {
	IDHash     string // SHA-256 of the cookie token
	UserID     string
	MerchantID string
	CSRFToken  string
	Livemode   bool // the dashboard's test/live switch
	Created    time.Time
	LastSeen   time.Time
	Expires    time.Time
	User       *User // loaded with the session
}

// Principal is the merchant and mode the session acts for.
func (s *Session) Principal() kassa.Principal {
	return kassa.Principal{MerchantID: s.MerchantID, Livemode: s.Livemode, KeyKind: kassa.KeySecret}
}

// CheckCSRF compares a submitted form token with the session's in constant time.
func (s *Session) CheckCSRF(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.CSRFToken)) == 1
}

// UserStore keeps dashboard users and sessions; internal/store's *DB implements it.
type UserStore interface {
	// InsertUser stores a new user; a taken email is ECONFLICT email_taken.
	InsertUser(ctx context.Context, u *User) error
	UserByEmail(ctx context.Context, email string) (*User, error)
	UserByInvite(ctx context.Context, inviteHash string) (*User, error)
	// MerchantUser returns a user of the merchant (ENOTFOUND for others').
	MerchantUser(ctx context.Context, merchantID, id string) (*User, error)
	ListUsers(ctx context.Context, merchantID string) ([]*User, error)
	// RecordLoginFailure counts a wrong password in one statement; the
	// failure that reaches max locks the account until lockUntil and resets
	// the count. It returns the user as stored afterwards.
	RecordLoginFailure(ctx context.Context, userID string, max int, lockUntil, now time.Time) (*User, error)
	// RecordLoginSuccess resets the failure count and stamps the login.
	RecordLoginSuccess(ctx context.Context, userID string, now time.Time) error
	// SetPassword stores a password hash and closes any invitation.
	SetPassword(ctx context.Context, userID, hash string, now time.Time) error
	// DeleteUser removes a user of the merchant and its sessions.
	DeleteUser(ctx context.Context, merchantID, id string) error
	InsertSession(ctx context.Context, s *Session) error
	// SessionByHash returns a session with its user loaded.
	SessionByHash(ctx context.Context, hash string) (*Session, error)
	TouchSession(ctx context.Context, hash string, now time.Time) error
	SetSessionMode(ctx context.Context, hash string, live bool) error
	DeleteSession(ctx context.Context, hash string) error
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error)
}

func (e *Engine) users() (UserStore, error) {
	s, ok := e.store.(UserStore)
	if !ok {
		return nil, fmt.Errorf("engine: store %T does not keep dashboard users", e.store)
	}
	return s, nil
}

// hashing bounds concurrent argon2id computations (19 MiB each).
var hashing = make(chan struct{}, maxHashing)

const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
)

// HashPassword returns the argon2id PHC string of password with a fresh salt.
func HashPassword(password string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	hashing <- struct{}{}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	<-hashing
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// CheckPassword reports whether password matches the PHC string, using the
// parameters stored in it (so they can be raised later without breaking
// existing hashes), compared in constant time.
func CheckPassword(phc, password string) bool {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m > 1<<20 || t > 10 || p == 0 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	hashing <- struct{}{}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	<-hashing
	return subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is checked against for unknown emails, so they cost the same time.
var dummyHash = HashPassword("kassa-no-such-user")

func checkNewPassword(pw string) error {
	if utf8.RuneCountInString(pw) < MinPasswordLen {
		return kassa.Invalid("password", "password_too_short", "the password must have at least %d characters", MinPasswordLen)
	}
	if len(pw) > maxPasswordLen || !utf8.ValidString(pw) {
		return kassa.Invalid("password", "password_invalid", "the password must be valid text of at most %d bytes", maxPasswordLen)
	}
	return nil
}

func normalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if !validEmail(s) {
		return "", kassa.Invalid("email", "email_invalid", "%q is not an email address", s)
	}
	return s, nil
}

// CreateUser creates a dashboard user of a merchant with a password (the
// CLI and the first-start bootstrap; colleagues are invited instead).
func (e *Engine) CreateUser(ctx context.Context, merchantID, email, password string, role Role) (*User, error) {
	st, err := e.users()
	if err != nil {
		return nil, err
	}
	if email, err = normalizeEmail(email); err != nil {
		return nil, err
	}
	if !role.Valid() {
		return nil, kassa.Invalid("role", "parameter_invalid", "role must be admin or viewer")
	}
	if err := checkNewPassword(password); err != nil {
		return nil, err
	}
	if _, err := e.store.Merchant(ctx, merchantID); err != nil {
		return nil, err
	}
	now := e.now()
	u := &User{ID: kassa.NewID("usr"), MerchantID: merchantID, Email: email, PasswordHash: HashPassword(password),
		Role: role, Created: now, Updated: now}
	if err := st.InsertUser(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}

// InviteUser lets an admin invite a colleague to the admin's merchant. The
// returned token (shown once, as a link) lets the colleague choose a
// password within InviteTTL.
func (e *Engine) InviteUser(ctx context.Context, by *User, email string, role Role) (*User, string, error) {
	if by == nil || !by.CanWrite() {
		return nil, "", errForbidden()
	}
	st, err := e.users()
	if err != nil {
		return nil, "", err
	}
	if email, err = normalizeEmail(email); err != nil {
		return nil, "", err
	}
	if !role.Valid() {
		return nil, "", kassa.Invalid("role", "parameter_invalid", "role must be admin or viewer")
	}
	token := "inv_" + kassa.RandomToken(32)
	now := e.now()
	u := &User{ID: kassa.NewID("usr"), MerchantID: by.MerchantID, Email: email, Role: role, InviteHash: HashKey(token),
		InviteExpires: now.Add(InviteTTL), InvitedBy: by.ID, Created: now, Updated: now}
	if err := st.InsertUser(ctx, u); err != nil {
		return nil, "", err
	}
	return u, token, nil
}

// Invitation returns the open invitation of token, or ENOTFOUND (also when expired).
func (e *Engine) Invitation(ctx context.Context, token string) (*User, error) {
	st, err := e.users()
	if err != nil {
		return nil, err
	}
	notFound := kassa.Errorf(kassa.ENOTFOUND, "invitation_invalid", "This invitation is invalid or has expired.")
	if !strings.HasPrefix(token, "inv_") || len(token) > 100 {
		return nil, notFound
	}
	u, err := st.UserByInvite(ctx, HashKey(token))
	if kassa.ErrorKind(err) == kassa.ENOTFOUND || err == nil && (!u.Pending() || !e.now().Before(u.InviteExpires)) {
		return nil, notFound
	}
	return u, err
}

// AcceptInvitation sets the invited user's password; the invitation closes.
func (e *Engine) AcceptInvitation(ctx context.Context, token, password string) (*User, error) {
	u, err := e.Invitation(ctx, token)
	if err != nil {
		return nil, err
	}
	if err := checkNewPassword(password); err != nil {
		return nil, err
	}
	st, _ := e.users()
	if err := st.SetPassword(ctx, u.ID, HashPassword(password), e.now()); err != nil {
		return nil, err
	}
	u.InviteHash = ""
	return u, nil
}

// ErrLoginFailed is the one answer to a wrong email or password.
func ErrLoginFailed() error {
	return kassa.Errorf(kassa.EUNAUTHORIZED, "login_failed", "Wrong email or password.")
}

// ErrLockedOut is the answer while an account is locked after failures.
func ErrLockedOut() error {
	return kassa.Errorf(kassa.EUNAUTHORIZED, "account_locked",
		"Too many failed attempts. This account is locked for %d minutes; try again later.", int(LockoutDuration.Minutes()))
}

func errForbidden() error {
	return kassa.Errorf(kassa.EUNAUTHORIZED, "forbidden", "Your role does not allow this action.")
}

// Login checks email and password and opens a session. It returns the
// session and the cookie token (shown to the browser only).
func (e *Engine) Login(ctx context.Context, email, password string) (*Session, string, error) {
	st, err := e.users()
	if err != nil {
		return nil, "", err
	}
	email = strings.ToLower(strings.TrimSpace(email))
	if len(email) > 254 || len(password) > maxPasswordLen {
		return nil, "", ErrLoginFailed()
	}
	u, err := st.UserByEmail(ctx, email)
	if kassa.ErrorKind(err) == kassa.ENOTFOUND {
		CheckPassword(dummyHash, password)
		return nil, "", ErrLoginFailed()
	} else if err != nil {
		return nil, "", err
	}
	now := e.now()
	if now.Before(u.LockedUntil) {
		return nil, "", ErrLockedOut()
	}
	if u.Pending() {
		CheckPassword(dummyHash, password)
		return nil, "", ErrLoginFailed()
	}
	if !CheckPassword(u.PasswordHash, password) {
		u, err := st.RecordLoginFailure(ctx, u.ID, MaxLoginFailures, now.Add(LockoutDuration), now)
		if err != nil {
			return nil, "", err
		}
		if now.Before(u.LockedUntil) {
			e.log.Warn("dashboard account locked after failed logins", "user", u.ID, "merchant", u.MerchantID)
			return nil, "", ErrLockedOut()
		}
		return nil, "", ErrLoginFailed()
	}
	if err := st.RecordLoginSuccess(ctx, u.ID, now); err != nil {
		return nil, "", err
	}
	token := "ses_" + kassa.RandomToken(32)
	s := &Session{IDHash: HashKey(token), UserID: u.ID, MerchantID: u.MerchantID, CSRFToken: kassa.RandomToken(32),
		Created: now, LastSeen: now, Expires: now.Add(SessionTTL), User: u}
	if err := st.InsertSession(ctx, s); err != nil {
		return nil, "", err
	}
	return s, token, nil
}

// ErrNoSession is the answer to a missing, expired or unknown session.
func ErrNoSession() error {
	return kassa.Errorf(kassa.EUNAUTHORIZED, "session_invalid", "Please log in.")
}

// SessionByToken resolves a session cookie. Expired and idle sessions are
// deleted and refused; a used session's last-seen time is refreshed.
func (e *Engine) SessionByToken(ctx context.Context, token string) (*Session, error) {
	st, err := e.users()
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(token, "ses_") || len(token) > 100 {
		return nil, ErrNoSession()
	}
	h := HashKey(token)
	s, err := st.SessionByHash(ctx, h)
	if kassa.ErrorKind(err) == kassa.ENOTFOUND {
		return nil, ErrNoSession()
	} else if err != nil {
		return nil, err
	}
	now := e.now()
	if !now.Before(s.Expires) || now.Sub(s.LastSeen) >= SessionIdle || s.User.Pending() {
		st.DeleteSession(ctx, h)
		return nil, ErrNoSession()
	}
	if now.Sub(s.LastSeen) >= sessionTouchEvery {
		if err := st.TouchSession(ctx, h, now); err != nil {
			return nil, err
		}
		s.LastSeen = now
	}
	return s, nil
}

// Logout ends a session.
func (e *Engine) Logout(ctx context.Context, s *Session) error {
	st, err := e.users()
	if err != nil {
		return err
	}
	return st.DeleteSession(ctx, s.IDHash)
}

// SetSessionMode switches a session between test and live data.
func (e *Engine) SetSessionMode(ctx context.Context, s *Session, live bool) error {
	st, err := e.users()
	if err != nil {
		return err
	}
	if err := st.SetSessionMode(ctx, s.IDHash, live); err != nil {
		return err
	}
	s.Livemode = live
	return nil
}

// ListUsers returns the users of the session's merchant.
func (e *Engine) ListUsers(ctx context.Context, merchantID string) ([]*User, error) {
	st, err := e.users()
	if err != nil {
		return nil, err
	}
	return st.ListUsers(ctx, merchantID)
}

// RemoveUser lets an admin remove a colleague of the same merchant (not
// themselves, so a merchant keeps at least the admin acting).
func (e *Engine) RemoveUser(ctx context.Context, by *User, id string) error {
	if by == nil || !by.CanWrite() {
		return errForbidden()
	}
	if id == by.ID {
		return kassa.Invalid("user", "parameter_invalid", "you cannot remove yourself")
	}
	st, err := e.users()
	if err != nil {
		return err
	}
	return st.DeleteUser(ctx, by.MerchantID, id)
}

// PruneSessions deletes expired sessions.
func (e *Engine) PruneSessions(ctx context.Context) (int64, error) {
	st, err := e.users()
	if err != nil {
		return 0, err
	}
	return st.DeleteExpiredSessions(ctx, e.now())
}
