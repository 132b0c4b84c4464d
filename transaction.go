package kassa

import "time"

// TxnType is the kind of processor call a ledger row records.
type TxnType string

const (
	TxnAuthorize TxnType = "authorize"
	TxnCapture   TxnType = "capture"
	TxnSale      TxnType = "sale" // authorize and capture in one call
	TxnVoid      TxnType = "void"
	TxnRefund    TxnType = "refund"
)

// TxnStatus is the outcome of one processor call.
type TxnStatus string

const (
	// TxnPending: written and committed before the processor is called.
	// A pending row whose call returned nothing (the process died) is
	// resolved by the reconciler.
	TxnPending   TxnStatus = "pending"
	TxnSucceeded TxnStatus = "succeeded"
	TxnFailed    TxnStatus = "failed"
	// TxnUnknown: the call was made but its result was lost (timeout,
	// connection reset). Money may have moved; only the processor knows.
	TxnUnknown TxnStatus = "unknown"
)

// Settled reports whether the outcome is final.
func (s TxnStatus) Settled() bool { return s == TxnSucceeded || s == TxnFailed }

// Transaction is one ledger row: one call to a processor.
// Its ID is sent to the processor as the call's reference, so that the
// processor's record can be found again by Status after a crash.
type Transaction struct {
	ID                string
	PaymentID         string
	MerchantID        string
	Livemode          bool
	Type              TxnType
	Status            TxnStatus
	Amount            int64
	Currency          string
	Processor         string
	ParentID          string // the authorization a capture/void applies to, the sale/capture a refund applies to
	ProcessorRef      string // the processor's own id for the operation
	AuthorizationCode string
	ResponseCode      string // processor's raw code, e.g. "00", "05"
	DeclineCode       string // normalized reason, e.g. "insufficient_funds"
	Message           string
	Created           time.Time
	Updated           time.Time
	History           []TxnStatusChange
}

// TxnStatusChange records one status of a transaction, for audits.
type TxnStatusChange struct {
	Status  TxnStatus `json:"status"`
	At      time.Time `json:"at"`
	Code    string    `json:"code,omitempty"`
	Message string    `json:"message,omitempty"`
}

// Refund returns captured money to the shopper. Its status is its ledger
// transaction's status, mapped by RefundStatus; it is never stored twice.
type Refund struct {
	ID            string
	PaymentID     string
	MerchantID    string
	Livemode      bool
	TransactionID string
	Amount        int64
	Currency      string
	Reason        string
	Metadata      map[string]string
	Status        TxnStatus // from the transaction
	FailureCode   string
	Created       time.Time
}

// RefundReasons are the accepted values of a refund's reason.
var RefundReasons = map[string]bool{"duplicate": true, "fraudulent": true, "requested_by_customer": true}
