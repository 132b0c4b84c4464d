// Package kassa holds Kassa's core model: merchants, payments, ledger
// transactions, refunds and events, the payment state machine, money in minor
// units and card checks. It imports nothing of Kassa's and knows no HTTP and
// no SQL; the engine (internal/engine) drives it, storage persists it and the
// protocol adapters translate to and from it.
package kassa

import (
	"errors"
	"fmt"
)

// Error kinds. Each kind maps to exactly one HTTP status, in internal/api;
// nothing else in the tree decides status codes.
const (
	EINVALID      = "invalid"      // the request is malformed or breaks a rule: 400
	ENOTFOUND     = "not_found"    // the object does not exist for this merchant and mode: 404
	ECONFLICT     = "conflict"     // the request races another or the object moved on: 409
	ECARD         = "card"         // the card was declined or is unusable: 402
	EUNAUTHORIZED = "unauthorized" // missing or wrong credentials: 401
	EIDEMPOTENCY  = "idempotency"  // an Idempotency-Key was reused with other parameters: 400
	EINTERNAL     = "internal"     // a bug or an unavailable dependency: 500
)

// Error is a failure with a machine-readable code that is safe to show to API
// callers. Internal errors (database down, a bug) are not *Error values; the
// API reports them as api_error without their text.
type Error struct {
	Kind        string // one of the E* constants
	Code        string // machine-readable, e.g. "amount_too_large", "card_declined"
	Message     string // for a developer, in English
	Param       string // the offending request field, dotted or bracketed, if any
	DeclineCode string // for card errors: the processor's reason, e.g. "insufficient_funds"
}

func (e *Error) Error() string {
	if e.Param != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.Param)
	}
	return e.Code + ": " + e.Message
}

// Errorf returns an *Error of the given kind and code.
func Errorf(kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID error about one request field.
func Invalid(param, code, format string, args ...any) *Error {
	return &Error{Kind: EINVALID, Code: code, Param: param, Message: fmt.Sprintf(format, args...)}
}

// ErrorKind returns the kind of err, or EINTERNAL for errors that are not *Error.
func ErrorKind(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return EINTERNAL
}

// ErrorCode returns the code of err, or "" for errors that are not *Error.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
