package processor

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/kassa-pay/kassa"
)

// PayoutRequest asks to send Amount to a recipient. Reference is Kassa's
// reference for the attempt (unique per attempt): a payout processor must
// be idempotent on it, so asking again after a lost answer never pays twice.
type PayoutRequest struct {
	Reference string
	Amount    int64 // minor units of Currency
	Currency  string
	Recipient []kassa.OrderValue // the order's toValues
	OrderUID  int64
}

// PayoutOutcome is what a payout processor decided.
type PayoutOutcome string

const (
	PayoutPaid     PayoutOutcome = "paid"     // sent to the recipient
	PayoutRejected PayoutOutcome = "rejected" // refused; nothing sent
	PayoutHeld     PayoutOutcome = "held"     // held for review; nothing sent yet
)

// PayoutResponse is a payout processor's answer.
type PayoutResponse struct {
	Outcome      PayoutOutcome
	ProcessorRef string
	Code         string // e.g. "recipient_invalid", "review_required"
	Message      string
}

// PayoutProcessor sends payouts. Payout returns a response for every
// definite answer and an error only when the outcome is unknown (timeout);
// the engine then asks again with the same Reference later. Implementations
// must be safe for concurrent use and idempotent on Reference.
type PayoutProcessor interface {
	Name() string
	Payout(ctx context.Context, req PayoutRequest) (PayoutResponse, error)
}

// Recipient test values understood by PayoutSimulator: a toValues value
// ending in PayoutFailSuffix is rejected, one ending in PayoutHoldSuffix is
// held for review; anything else is paid.
const (
	PayoutFailSuffix = "0002"
	PayoutHoldSuffix = "0003"
)

// PayoutSimulator is the built-in test payout processor. Like the card
// simulator it keeps its own ledger (simulator_payouts) so that a repeated
// reference answers what it answered the first time.
type PayoutSimulator struct {
	db *sql.DB
}

// NewPayoutSimulator returns a payout simulator keeping its ledger in db.
func NewPayoutSimulator(db *sql.DB) *PayoutSimulator { return &PayoutSimulator{db: db} }

// Name implements PayoutProcessor.
func (s *PayoutSimulator) Name() string { return "payout_simulator" }

// Payout implements PayoutProcessor.
func (s *PayoutSimulator) Payout(ctx context.Context, req PayoutRequest) (PayoutResponse, error) {
	if req.Reference == "" || req.Amount <= 0 {
		return PayoutResponse{}, errors.New("payout simulator: reference and a positive amount are required")
	}
	out := PayoutResponse{Outcome: PayoutPaid, ProcessorRef: "po_" + kassa.RandomToken(10), Code: "paid", Message: "paid to the recipient"}
	for _, v := range req.Recipient {
		switch {
		case strings.HasSuffix(v.Value, PayoutFailSuffix):
			out.Outcome, out.Code, out.Message = PayoutRejected, "recipient_invalid", "the recipient account does not accept payouts"
		case strings.HasSuffix(v.Value, PayoutHoldSuffix) && out.Outcome == PayoutPaid:
			out.Outcome, out.Code, out.Message = PayoutHeld, "review_required", "the payout is held for compliance review"
		}
	}
	// The first answer for a reference is the answer for good.
	if _, err := s.db.ExecContext(ctx, `INSERT INTO simulator_payouts (reference, outcome, payout_ref, code, amount, currency, created_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT (reference) DO NOTHING`,
		req.Reference, string(out.Outcome), out.ProcessorRef, out.Code, req.Amount, req.Currency, time.Now().UnixMicro()); err != nil {
		return PayoutResponse{}, err
	}
	var outcome string
	if err := s.db.QueryRowContext(ctx, `SELECT outcome, payout_ref, code FROM simulator_payouts WHERE reference = $1`,
		req.Reference).Scan(&outcome, &out.ProcessorRef, &out.Code); err != nil {
		return PayoutResponse{}, err
	}
	if PayoutOutcome(outcome) != out.Outcome {
		out.Outcome, out.Message = PayoutOutcome(outcome), "as first answered"
	}
	return out, nil
}
