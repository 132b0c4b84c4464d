package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/processor"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

// kassaRun runs a kassa subcommand in-process and returns its stdout.
func kassaRun(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	return out.String(), err
}

// TestRouteAndOrderCommands: the operator adds a route with the CLI, an
// order on it is paid, and the operator holds, releases, approves and
// shows it; illegal moves are refused with a clear error. On both engines.
func TestRouteAndOrderCommands(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			dsn := storetest.DSN(t, d)
			out, err := kassaRun(t, "route", "add", "--db", dsn, "--from", "PEN", "--to", "USD", "--rate", "0.27",
				"--fee-percent", "1", "--min", "10", "--max", "10000", "--payout", "manual", "--json")
			if err != nil {
				t.Fatal(err)
			}
			var r struct{ ID string }
			if err := json.Unmarshal([]byte(out), &r); err != nil || !strings.HasPrefix(r.ID, "rte_") {
				t.Fatalf("route add printed %q (%v)", out, err)
			}
			if _, err := kassaRun(t, "route", "add", "--db", dsn, "--from", "PEN", "--to", "USD", "--rate", "0,27"); err == nil ||
				!strings.Contains(err.Error(), "rate") {
				t.Fatalf("a bad rate: %v", err)
			}
			if out, err := kassaRun(t, "route", "list", "--db", dsn, "--json"); err != nil || !strings.Contains(out, r.ID) || !strings.Contains(out, `"min":"10.00"`) {
				t.Fatalf("route list: %q %v", out, err)
			}

			// An order on the route, paid by card.
			db, err := store.Open(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			eng := engine.New(db, processor.NewSimulator(db.SQL(), ""), engine.Config{}, nil)
			ctx := context.Background()
			creds, err := eng.CreateMerchant(ctx, "Shop", "")
			if err != nil {
				t.Fatal(err)
			}
			pr := kassa.Principal{MerchantID: creds.Merchant.ID}
			o, err := eng.CreateOrder(ctx, pr, engine.OrderParams{RouteID: r.ID, Amount: "100", Agreement: true,
				ToValues: []kassa.OrderValue{{Key: "account", Value: "ACC12345678"}}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := eng.ConfirmPayment(ctx, pr, o.PaymentID, &kassa.Card{Number: "4242424242424242", ExpMonth: 12, ExpYear: 2034, CVC: "123"}); err != nil {
				t.Fatal(err)
			}
			// A second paid order to return, and an unpaid one to delete.
			ret, err := eng.CreateOrder(ctx, pr, engine.OrderParams{RouteID: r.ID, Amount: "20", Agreement: true,
				ToValues: []kassa.OrderValue{{Key: "account", Value: "ACC12345678"}}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := eng.ConfirmPayment(ctx, pr, ret.PaymentID, &kassa.Card{Number: "4242424242424242", ExpMonth: 12, ExpYear: 2034, CVC: "123"}); err != nil {
				t.Fatal(err)
			}
			unpaid, err := eng.CreateOrder(ctx, pr, engine.OrderParams{RouteID: r.ID, Amount: "30", Agreement: true,
				ToValues: []kassa.OrderValue{{Key: "account", Value: "ACC12345678"}}})
			if err != nil {
				t.Fatal(err)
			}
			db.Close()

			uid := strconv.FormatInt(o.UID, 10)
			status := func() kassa.OrderStatus {
				t.Helper()
				out, err := kassaRun(t, "order", "show", uid, "--db", dsn, "--json")
				if err != nil {
					t.Fatal(err)
				}
				var ob kassa.OrderObject
				if err := json.Unmarshal([]byte(out), &ob); err != nil {
					t.Fatal(err)
				}
				return ob.Status
			}
			if st := status(); st != kassa.OrderInProgress {
				t.Fatalf("paid order on a manual route: %s", st)
			}
			for _, step := range []struct {
				cmd  string
				want kassa.OrderStatus
			}{{"hold", kassa.OrderHold}, {"release", kassa.OrderInProgress}, {"approve", kassa.OrderInProgressPayout}} {
				if _, err := kassaRun(t, "order", step.cmd, uid, "--db", dsn, "--reason", "cli test"); err != nil {
					t.Fatalf("order %s: %v", step.cmd, err)
				}
				if st := status(); st != step.want {
					t.Fatalf("after %s: %s, want %s", step.cmd, st, step.want)
				}
			}
			if _, err := kassaRun(t, "order", "delete", uid, "--db", dsn); err == nil || !strings.Contains(err.Error(), "order_transition_invalid") {
				t.Fatalf("delete of a paid order: %v", err)
			}
			if _, err := kassaRun(t, "order", "show", "999999", "--db", dsn); err == nil {
				t.Fatal("show of an unknown order succeeded")
			}

			// return refunds the card payment; delete cancels an unpaid order's payment.
			if _, err := kassaRun(t, "order", "delete", ret.ID, "--db", dsn); err == nil || !strings.Contains(err.Error(), "order_transition_invalid") {
				t.Fatalf("delete of a paid order: %v", err)
			}
			if _, err := kassaRun(t, "order", "return", unpaid.ID, "--db", dsn); err == nil || !strings.Contains(err.Error(), "order_transition_invalid") {
				t.Fatalf("return of an unpaid order: %v", err)
			}
			out, err = kassaRun(t, "order", "return", ret.ID, "--db", dsn, "--reason", "recipient unreachable", "--json")
			var returned kassa.OrderObject
			if err != nil || json.Unmarshal([]byte(out), &returned) != nil || returned.Status != kassa.OrderReturned {
				t.Fatalf("order return: %q %v", out, err)
			}
			out, err = kassaRun(t, "order", "delete", strconv.FormatInt(unpaid.UID, 10), "--db", dsn, "--json")
			var deleted kassa.OrderObject
			if err != nil || json.Unmarshal([]byte(out), &deleted) != nil || deleted.Status != kassa.OrderDeleted {
				t.Fatalf("order delete: %q %v", out, err)
			}
			db, err = store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			eng = engine.New(db, processor.NewSimulator(db.SQL(), ""), engine.Config{}, nil)
			if p, err := eng.Payment(ctx, pr, ret.PaymentID); err != nil || p.Totals.Refunded != 2000 {
				t.Fatalf("returned order's payment: %+v, %v; want 20.00 refunded", p, err)
			}
			if p, err := eng.Payment(ctx, pr, unpaid.PaymentID); err != nil || p.Payment.Status != kassa.StatusCanceled {
				t.Fatalf("deleted order's payment: %+v, %v; want canceled", p, err)
			}
			if _, err := kassaRun(t, "order", "release", ret.ID, "--db", dsn); err == nil || !strings.Contains(err.Error(), "order_transition_invalid") {
				t.Fatalf("release of a returned order: %v", err)
			}
		})
	}
}
