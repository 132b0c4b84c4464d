package processor

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kassa-pay/kassa"
)

// Test card numbers understood by the Simulator. Any other valid card is approved.
const (
	CardDeclined          = "4000000000000002"
	CardInsufficientFunds = "4000000000009995"
	CardExpired           = "4000000000000069"
	CardIncorrectCVC      = "4000000000000127"
	CardProcessingError   = "4000000000000119"
	CardRequires3DS       = "4000002500003155"
	CardTimeout           = "4000000000000259"
)

// Simulator is the built-in test acquirer. It behaves like a remote processor
// that keeps its own ledger (the simulator_operations table, which it alone
// reads and writes), so Status answers truthfully after a gateway crash or
// from another gateway instance. It takes no shortcut the Processor interface
// does not offer: the engine learns 3-D Secure and timeout outcomes only
// through Status.
//
// It also plays the card issuer's 3-D Secure page (the ACS) through Handler.
type Simulator struct {
	db      SimulatorDB
	baseURL string // where Handler is mounted, for ACS links
}

// NewSimulator returns a simulator keeping its ledger in db (whose schema
// Kassa's migrations create). baseURL is the gateway's public URL; the ACS
// page is served under baseURL + "/simulator/acs/".
func NewSimulator(db SimulatorDB, baseURL string) *Simulator {
	return &Simulator{db: db, baseURL: strings.TrimRight(baseURL, "/")}
}

// SimulatorDB is where the simulator keeps its ledger: a *sql.DB, or the
// store's shared handle whose writes join the gateway's group commits. Either
// way a write is durable when ExecContext returns, so the simulator never
// answers about an operation it could forget.
type SimulatorDB interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Simulator) Name() string { return "simulator" }

type simOp struct {
	Reference, Kind, Outcome, Currency, ParentRef, ProcessorRef string
	DeclineCode, ResponseCode, AuthCode, ReturnURL              string
	Amount                                                      int64
}

func (o simOp) response(s *Simulator) Response {
	r := Response{
		Outcome: Outcome(o.Outcome), ProcessorRef: o.ProcessorRef, AuthorizationCode: o.AuthCode,
		ResponseCode: o.ResponseCode, DeclineCode: o.DeclineCode, Message: simMessages[o.DeclineCode],
		Raw: map[string]string{"response_code": o.ResponseCode, "kind": o.Kind},
	}
	if r.Outcome == Approved {
		r.Message = "Approved"
	}
	if r.Outcome == ActionRequired {
		r.RedirectURL = s.baseURL + "/simulator/acs/" + url.PathEscape(o.Reference)
		r.Message = "Cardholder authentication required"
	}
	return r
}

var simMessages = map[string]string{
	"generic_decline":       "Your card was declined.",
	"insufficient_funds":    "Your card has insufficient funds.",
	"expired_card":          "Your card has expired.",
	"incorrect_cvc":         "Your card's security code is incorrect.",
	"processing_error":      "An error occurred while processing your card. Try again in a little bit.",
	"authentication_failed": "The cardholder failed 3-D Secure authentication.",
	"invalid_amount":        "The amount is not allowed for this operation.",
	"no_such_operation":     "The original operation is unknown to the processor.",
	"operation_not_allowed": "The original operation is not in a state that allows this.",
}

var simResponseCodes = map[string]string{
	"": "00", "generic_decline": "05", "insufficient_funds": "51", "expired_card": "54",
	"incorrect_cvc": "N7", "processing_error": "96", "authentication_failed": "05", "authentication_abandoned": "05",
	"invalid_amount": "13", "no_such_operation": "25", "operation_not_allowed": "57",
}

func (s *Simulator) Authorize(ctx context.Context, req Request) (Response, error) {
	return s.charge(ctx, "authorize", req)
}

func (s *Simulator) Sale(ctx context.Context, req Request) (Response, error) {
	return s.charge(ctx, "sale", req)
}

func (s *Simulator) charge(ctx context.Context, kind string, req Request) (Response, error) {
	if req.Card == nil {
		return Response{}, errors.New("simulator: card required")
	}
	op := simOp{Reference: req.Reference, Kind: kind, Amount: req.Amount, Currency: req.Currency, ReturnURL: req.ReturnURL}
	switch kassa.NormalizeCardNumber(req.Card.Number) {
	case CardDeclined:
		op.DeclineCode = "generic_decline"
	case CardInsufficientFunds:
		op.DeclineCode = "insufficient_funds"
	case CardExpired:
		op.DeclineCode = "expired_card"
	case CardIncorrectCVC:
		op.DeclineCode = "incorrect_cvc"
	case CardProcessingError:
		op.DeclineCode = "processing_error"
	case CardRequires3DS:
		op.Outcome = string(ActionRequired)
	}
	timeout := kassa.NormalizeCardNumber(req.Card.Number) == CardTimeout
	return s.record(ctx, op, timeout)
}

// record stores op (deciding Outcome from DeclineCode if unset) and answers
// it; with lose it answers nothing, as a processor whose reply is lost in the
// network: the operation happened, the caller does not know.
func (s *Simulator) record(ctx context.Context, op simOp, lose bool) (Response, error) {
	if op.Outcome == "" {
		op.Outcome = string(Approved)
		if op.DeclineCode != "" {
			op.Outcome = string(Declined)
		}
	}
	op.ResponseCode = simResponseCodes[op.DeclineCode]
	op.ProcessorRef = kassa.NewID("sim")
	if op.Outcome == string(Approved) && (op.Kind == "authorize" || op.Kind == "sale") {
		op.AuthCode = strings.ToUpper(kassa.RandomToken(4))[:6]
	}
	// Idempotent on the reference, as a real processor's idempotency key.
	res, err := s.db.ExecContext(ctx, `INSERT INTO simulator_operations
		(reference, kind, outcome, amount, currency, parent_ref, processor_ref, decline_code, response_code, auth_code, return_url, created_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) ON CONFLICT (reference) DO NOTHING`,
		op.Reference, op.Kind, op.Outcome, op.Amount, op.Currency, op.ParentRef, op.ProcessorRef,
		op.DeclineCode, op.ResponseCode, op.AuthCode, op.ReturnURL, time.Now().UnixMicro())
	if err != nil {
		return Response{}, fmt.Errorf("simulator: %w: %v", ErrUnknownOutcome, err)
	}
	stored := op
	if n, _ := res.RowsAffected(); n != 1 {
		// A retry of an operation already made: answer what was decided then.
		var found bool
		if stored, found, err = s.get(ctx, op.Reference); err != nil || !found {
			return Response{}, fmt.Errorf("simulator: %w: reading back %s: %v", ErrUnknownOutcome, op.Reference, err)
		}
	}
	if lose {
		return Response{}, fmt.Errorf("simulator: %w: timed out waiting for the acquirer", ErrUnknownOutcome)
	}
	return stored.response(s), nil
}

func (s *Simulator) get(ctx context.Context, ref string) (simOp, bool, error) {
	var o simOp
	err := s.db.QueryRowContext(ctx, `SELECT reference, kind, outcome, amount, currency, parent_ref, processor_ref,
		decline_code, response_code, auth_code, return_url FROM simulator_operations WHERE reference = $1`, ref).
		Scan(&o.Reference, &o.Kind, &o.Outcome, &o.Amount, &o.Currency, &o.ParentRef, &o.ProcessorRef,
			&o.DeclineCode, &o.ResponseCode, &o.AuthCode, &o.ReturnURL)
	if errors.Is(err, sql.ErrNoRows) {
		return o, false, nil
	}
	return o, err == nil, err
}

// follow-on operations check the parent as an acquirer would.
func (s *Simulator) followOn(ctx context.Context, kind string, req Request, parentKinds ...string) (Response, error) {
	op := simOp{Reference: req.Reference, Kind: kind, Amount: req.Amount, Currency: req.Currency, ParentRef: req.ParentRef}
	var parent simOp
	err := s.db.QueryRowContext(ctx, `SELECT reference, kind, outcome, amount FROM simulator_operations WHERE processor_ref = $1`,
		req.ParentRef).Scan(&parent.Reference, &parent.Kind, &parent.Outcome, &parent.Amount)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		op.DeclineCode = "no_such_operation"
	case err != nil:
		return Response{}, fmt.Errorf("simulator: %w: %v", ErrUnknownOutcome, err)
	case kind == "void" && parent.Outcome == string(ActionRequired):
		// Voiding a charge that awaits 3-D Secure closes the challenge: the
		// cardholder can no longer approve it. One atomic UPDATE decides
		// the race with the ACS page's authenticate.
		res, err := s.db.ExecContext(ctx, `UPDATE simulator_operations SET outcome=$1, decline_code=$2, response_code=$3
			WHERE processor_ref=$4 AND outcome=$5`, string(Declined), "authentication_abandoned",
			simResponseCodes["authentication_abandoned"], req.ParentRef, string(ActionRequired))
		if err != nil {
			return Response{}, fmt.Errorf("simulator: %w: %v", ErrUnknownOutcome, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			op.DeclineCode = "operation_not_allowed" // the cardholder answered first
		}
	case parent.Outcome != string(Approved) || !contains(parentKinds, parent.Kind):
		op.DeclineCode = "operation_not_allowed"
	default:
		var used int64
		var children int
		// Refunds add up against the sale or capture; an authorization takes
		// one capture or one void, whichever comes first.
		siblings := []any{kind, kind}
		if kind != "refund" {
			siblings = []any{"capture", "void"}
		}
		if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(amount),0), COUNT(*) FROM simulator_operations
			WHERE parent_ref = $1 AND outcome = 'approved' AND kind IN ($2, $3)`, req.ParentRef, siblings[0], siblings[1]).Scan(&used, &children); err != nil {
			return Response{}, fmt.Errorf("simulator: %w: %v", ErrUnknownOutcome, err)
		}
		switch {
		case kind == "refund" && used+req.Amount > parent.Amount, kind != "refund" && req.Amount > parent.Amount:
			op.DeclineCode = "invalid_amount"
		case kind != "refund" && children > 0:
			op.DeclineCode = "operation_not_allowed" // one capture or void per authorization
		}
	}
	return s.record(ctx, op, false)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (s *Simulator) Capture(ctx context.Context, req Request) (Response, error) {
	return s.followOn(ctx, "capture", req, "authorize")
}

func (s *Simulator) Void(ctx context.Context, req Request) (Response, error) {
	return s.followOn(ctx, "void", req, "authorize")
}

func (s *Simulator) Refund(ctx context.Context, req Request) (Response, error) {
	return s.followOn(ctx, "refund", req, "sale", "capture")
}

func (s *Simulator) Status(ctx context.Context, reference string) (Response, error) {
	op, found, err := s.get(ctx, reference)
	if err != nil {
		return Response{}, fmt.Errorf("simulator: %w: %v", ErrUnknownOutcome, err)
	}
	if !found {
		return Response{Outcome: NotFound, Message: "no operation with this reference"}, nil
	}
	return op.response(s), nil
}

// authenticate records the cardholder's answer to the 3-D Secure challenge.
// Only an operation still awaiting authentication changes.
func (s *Simulator) authenticate(ctx context.Context, ref string, approve bool) (simOp, error) {
	outcome, decline, code, auth := string(Approved), "", "00", strings.ToUpper(kassa.RandomToken(4))[:6]
	if !approve {
		outcome, decline, code, auth = string(Declined), "authentication_failed", simResponseCodes["authentication_failed"], ""
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE simulator_operations SET outcome=$1, decline_code=$2, response_code=$3, auth_code=$4
		WHERE reference=$5 AND outcome=$6`, outcome, decline, code, auth, ref, string(ActionRequired)); err != nil {
		return simOp{}, err
	}
	op, found, err := s.get(ctx, ref)
	if err == nil && !found {
		err = errors.New("unknown operation")
	}
	return op, err
}

var acsPage = template.Must(template.New("acs").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>3-D Secure test page</title>
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}
.card{border:1px solid #ccc;border-radius:8px;padding:1.25rem}button{font-size:1rem;padding:.6rem 1.2rem;margin:.4rem .4rem 0 0;border-radius:6px;border:1px solid #555;cursor:pointer}
#approve{background:#0a7c2f;color:#fff;border-color:#0a7c2f}#fail{background:#fff;color:#a40000;border-color:#a40000}</style></head>
<body><div class="card"><h1>3-D Secure test page</h1>
<p>Your bank (simulated) asks you to confirm a payment of <strong>{{.Amount}} {{.Currency}}</strong>.</p>
<p>This page stands in for the card issuer. Choose an outcome:</p>
<form method="post" action="{{.Action}}">
<button id="approve" type="submit" name="result" value="approve">Approve</button>
<button id="fail" type="submit" name="result" value="fail">Fail</button>
</form></div></body></html>`))

// Handler serves the simulated issuer's 3-D Secure page at
// /simulator/acs/{reference}: GET shows Approve and Fail, POST records the
// answer and sends the shopper (303) to the ReturnURL given in the request.
func (s *Simulator) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /simulator/acs/{ref}", func(w http.ResponseWriter, r *http.Request) {
		op, found, err := s.get(r.Context(), r.PathValue("ref"))
		if err != nil || !found || op.Kind == "" {
			http.Error(w, "unknown authentication request", http.StatusNotFound)
			return
		}
		if op.Outcome != string(ActionRequired) {
			http.Redirect(w, r, op.ReturnURL, http.StatusSeeOther)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
		acsPage.Execute(w, map[string]string{
			"Amount": kassa.FormatAmount(op.Amount, op.Currency), "Currency": op.Currency,
			"Action": "/simulator/acs/" + url.PathEscape(op.Reference),
		})
	})
	mux.HandleFunc("POST /simulator/acs/{ref}", func(w http.ResponseWriter, r *http.Request) {
		op, err := s.authenticate(r.Context(), r.PathValue("ref"), r.FormValue("result") == "approve")
		if err != nil {
			http.Error(w, "unknown authentication request", http.StatusNotFound)
			return
		}
		http.Redirect(w, r, op.ReturnURL, http.StatusSeeOther)
	})
	return mux
}
