// Package processor defines the connector interface between Kassa's engine
// and card processors (acquirers), modelled on Active Merchant's gateway
// interface: authorize, sale, capture, void, refund, and status. Each
// processor lives in its own file or package and translates these calls to its
// wire format; the engine never sees a processor's protocol.
package processor

import (
	"context"
	"errors"

	"github.com/kassa-pay/kassa"
)

// Request is one operation. Reference is Kassa's transaction ID: processors
// must store it with the operation and answer Status(Reference) later, which
// is how the reconciler learns the outcome of a call whose answer was lost.
type Request struct {
	Reference   string
	Amount      int64 // minor units of Currency
	Currency    string
	Card        *kassa.Card // Authorize and Sale only
	ParentRef   string      // the processor reference of the operation this one applies to (capture, void, refund)
	ReturnURL   string      // where a 3-D Secure challenge sends the shopper back to
	OrderID     string
	Description string
}

// Outcome is what the processor said about an operation.
type Outcome string

const (
	Approved Outcome = "approved"
	Declined Outcome = "declined"
	// ActionRequired: the issuer wants the shopper authenticated (3-D Secure)
	// at Response.RedirectURL before it decides; Status tells the decision.
	ActionRequired Outcome = "action_required"
	// NotFound (from Status only): the processor has no operation with that
	// reference, so the call never reached it and no money moved.
	NotFound Outcome = "not_found"
)

// Response is a processor's answer.
type Response struct {
	Outcome           Outcome
	ProcessorRef      string // the processor's id of the operation
	AuthorizationCode string
	ResponseCode      string // raw code, e.g. "00", "05", "51"
	DeclineCode       string // normalized: generic_decline, insufficient_funds, expired_card, incorrect_cvc, processing_error …
	Message           string
	RedirectURL       string // with ActionRequired
	Raw               map[string]string
}

// ErrUnknownOutcome marks an error after which the processor may or may not
// have acted (timeout, connection reset). Any error returned by a Processor
// method is treated that way; wrapping this one just says so explicitly.
var ErrUnknownOutcome = errors.New("processor outcome unknown")

// Processor is a card processor. A method returns a Response for every
// definite answer, approved or declined; it returns an error only when the
// outcome is unknown, and then the engine records the transaction as unknown
// and asks Status later. Implementations must be safe for concurrent use and
// idempotent on Request.Reference.
type Processor interface {
	Name() string
	Authorize(ctx context.Context, req Request) (Response, error)
	Sale(ctx context.Context, req Request) (Response, error)
	Capture(ctx context.Context, req Request) (Response, error)
	Void(ctx context.Context, req Request) (Response, error)
	Refund(ctx context.Context, req Request) (Response, error)
	// Status returns the current outcome of the operation made with this
	// reference: Approved, Declined, ActionRequired (authentication not yet
	// finished) or NotFound.
	Status(ctx context.Context, reference string) (Response, error)
}
