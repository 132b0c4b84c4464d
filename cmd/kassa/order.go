package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/kassa-pay/kassa/internal/engine"
	iziexchange "github.com/kassa-pay/kassa/internal/izi"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/internal/processor"
	"github.com/kassa-pay/kassa/internal/store"
)

// mountOrders serves the izi.exchange-compatible order API and pages on mux
// and runs payouts (through the payout simulator) until bg ends.
func mountOrders(bg context.Context, mux *http.ServeMux, eng *engine.Engine, db *store.DB, log *slog.Logger) {
	iziexchange.New(eng, log).Register(mux)
	go eng.RunPayouts(bg, processor.NewPayoutSimulator(db.SQL()), 5*time.Second)
}

// orderIPNFormats are the notification formats of order IPNs. Every
// notify.Service of the process must register them: a worker without them
// would fail IPN deliveries as an unknown format.
func orderIPNFormats(eng *engine.Engine) map[string]notify.Format {
	return iziexchange.Formats(eng, nil)
}

const orderUsage = `usage:
  kassa order show    UID|ord_… [--json]
  kassa order hold    UID|ord_… [--reason R] [--json]
  kassa order release UID|ord_… [--reason R] [--json]
  kassa order approve UID|ord_… [--reason R] [--json]   pay out (manual routes) or retry a failed payout
  kassa order return  UID|ord_… [--reason R] [--json]   refund the card payment to the sender
  kassa order delete  UID|ord_… [--reason R] [--json]   cancel an unpaid order`

// order is the operator's view of orders: any merchant's, by UID or ID.
func order(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		return errors.New(orderUsage)
	}
	cmd, ref := args[0], args[1]
	switch cmd {
	case "show", "hold", "release", "approve", "return", "delete":
	default:
		return errors.New(orderUsage)
	}
	fs := flag.NewFlagSet("order "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn := dbFlag(fs)
	asJSON := fs.Bool("json", false, "print the order as JSON")
	reason := fs.String("reason", "", "why (kept in the order's timeline)")
	if err := fs.Parse(args[2:]); err != nil {
		return err
	}
	eng, db, err := openEngine(ctx, *dsn, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	o, err := eng.OperatorOrder(ctx, ref)
	if err == nil && cmd != "show" {
		o, err = eng.ActOnOrder(ctx, nil, ref, engine.OrderAction(cmd), *reason)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(o.Object(true))
	}
	fmt.Fprintf(stdout, "order %d (%s): %s, paid %t, payout %q\n", o.UID, o.ID, o.Status, o.Paid, o.PayoutStatus)
	for _, h := range o.History {
		fmt.Fprintf(stdout, "  %s  %-16s %s\n", h.At.Format("2006-01-02 15:04:05"), h.Status, h.Reason)
	}
	return nil
}
