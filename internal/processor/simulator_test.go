package processor_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/processor"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

// eachDialect runs f against a simulator whose ledger is in a fresh
// database of each dialect, with its ACS pages served on loopback.
func eachDialect(t *testing.T, f func(t *testing.T, db *store.DB, sim *processor.Simulator, base string)) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			db := storetest.Open(t, d)
			srv := httptest.NewUnstartedServer(nil)
			base := "http://" + srv.Listener.Addr().String()
			sim := processor.NewSimulator(db.SQL(), base+"/") // the trailing slash is trimmed
			srv.Config.Handler = sim.Handler()
			srv.Start()
			t.Cleanup(srv.Close)
			f(t, db, sim, base)
		})
	}
}

var ctx = context.Background()

func card(n string) *kassa.Card {
	return &kassa.Card{Number: n, ExpMonth: 12, ExpYear: 2040, CVC: "123"}
}

func req(amount int64, number string) processor.Request {
	return processor.Request{Reference: kassa.NewID("txn"), Amount: amount, Currency: "USD", Card: card(number),
		ReturnURL: "https://gw.example/pay/3ds/pay_1"}
}

func TestSimulatorCharges(t *testing.T) {
	eachDialect(t, func(t *testing.T, db *store.DB, sim *processor.Simulator, base string) {
		if sim.Name() != "simulator" {
			t.Errorf("Name = %q", sim.Name())
		}
		cases := []struct {
			number   string
			outcome  processor.Outcome
			decline  string
			response string
		}{
			{"4242424242424242", processor.Approved, "", "00"},
			{"5555555555554444", processor.Approved, "", "00"},
			{"4242 4242 4242 4242", processor.Approved, "", "00"},
			{processor.CardDeclined, processor.Declined, "generic_decline", "05"},
			{processor.CardInsufficientFunds, processor.Declined, "insufficient_funds", "51"},
			{processor.CardExpired, processor.Declined, "expired_card", "54"},
			{processor.CardIncorrectCVC, processor.Declined, "incorrect_cvc", "N7"},
			{processor.CardProcessingError, processor.Declined, "processing_error", "96"},
			{processor.CardRequires3DS, processor.ActionRequired, "", "00"},
		}
		for _, c := range cases {
			for _, op := range []string{"sale", "authorize"} {
				r := req(1000, c.number)
				call := sim.Sale
				if op == "authorize" {
					call = sim.Authorize
				}
				resp, err := call(ctx, r)
				if err != nil {
					t.Fatalf("%s %s: %v", op, c.number, err)
				}
				if resp.Outcome != c.outcome || resp.DeclineCode != c.decline || resp.ResponseCode != c.response || resp.ProcessorRef == "" || resp.Message == "" {
					t.Errorf("%s %s: %+v", op, c.number, resp)
				}
				if (resp.AuthorizationCode != "") != (c.outcome == processor.Approved) || (c.outcome == processor.Approved && len(resp.AuthorizationCode) != 6) {
					t.Errorf("%s %s: authorization code %q", op, c.number, resp.AuthorizationCode)
				}
				wantRedirect := ""
				if c.outcome == processor.ActionRequired {
					wantRedirect = base + "/simulator/acs/" + r.Reference
				}
				if resp.RedirectURL != wantRedirect {
					t.Errorf("%s %s: redirect %q, want %q", op, c.number, resp.RedirectURL, wantRedirect)
				}
				st, err := sim.Status(ctx, r.Reference)
				if err != nil || st.Outcome != resp.Outcome || st.ProcessorRef != resp.ProcessorRef || st.AuthorizationCode != resp.AuthorizationCode {
					t.Errorf("%s %s: Status = %+v, %v; want the call's answer %+v", op, c.number, st, err, resp)
				}
			}
		}
		if _, err := sim.Sale(ctx, processor.Request{Reference: kassa.NewID("txn"), Amount: 1, Currency: "USD"}); err == nil {
			t.Error("sale without a card accepted")
		}
		// The acquirer's ledger never holds card data.
		rows, err := db.SQL().QueryContext(ctx, `SELECT reference, kind, outcome, currency, parent_ref, processor_ref, decline_code,
			response_code, auth_code, return_url FROM simulator_operations`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			cols := make([]string, 10)
			ptrs := make([]any, 10)
			for i := range cols {
				ptrs[i] = &cols[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			if s := strings.Join(cols, "|"); strings.Contains(s, "424242") || strings.Contains(s, "000000") {
				t.Errorf("card number in the simulator ledger: %s", s)
			}
		}
	})
}

// TestSimulatorIdempotentOnReference: a retried call with the same reference
// is answered from the first one, even concurrently and with other data.
func TestSimulatorIdempotentOnReference(t *testing.T) {
	eachDialect(t, func(t *testing.T, db *store.DB, sim *processor.Simulator, base string) {
		r := req(1000, "4242424242424242")
		var wg sync.WaitGroup
		resps := make([]processor.Response, 10)
		errs := make([]error, 10)
		for i := range resps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rr := r
				if i%2 == 1 {
					rr.Card = card(processor.CardDeclined)
					rr.Amount = 5
				}
				resps[i], errs[i] = sim.Sale(ctx, rr)
			}()
		}
		wg.Wait()
		for i := range resps {
			if errs[i] != nil || resps[i].ProcessorRef != resps[0].ProcessorRef || resps[i].Outcome != resps[0].Outcome {
				t.Errorf("call %d: %+v, %v; first %+v", i, resps[i], errs[i], resps[0])
			}
		}
		var n int
		var amount int64
		if err := db.SQL().QueryRowContext(ctx, `SELECT COUNT(*), MAX(amount) FROM simulator_operations WHERE reference = $1`, r.Reference).Scan(&n, &amount); err != nil || n != 1 {
			t.Errorf("operations with the reference: %d, %v", n, err)
		}
		if st, err := sim.Status(ctx, "txn_never_sent"); err != nil || st.Outcome != processor.NotFound {
			t.Errorf("Status of an unknown reference = %+v, %v", st, err)
		}
	})
}

// TestSimulatorTimeout: the timeout card's charge happens, but its answer is
// an ErrUnknownOutcome; Status tells the truth.
func TestSimulatorTimeout(t *testing.T) {
	eachDialect(t, func(t *testing.T, db *store.DB, sim *processor.Simulator, base string) {
		r := req(2500, processor.CardTimeout)
		resp, err := sim.Sale(ctx, r)
		if !errors.Is(err, processor.ErrUnknownOutcome) || resp.Outcome != "" {
			t.Fatalf("timeout sale = %+v, %v; want ErrUnknownOutcome", resp, err)
		}
		st, err := sim.Status(ctx, r.Reference)
		if err != nil || st.Outcome != processor.Approved || st.ProcessorRef == "" {
			t.Fatalf("Status after timeout = %+v, %v", st, err)
		}
		// The charge is real: it can be refunded.
		if rf, err := sim.Refund(ctx, processor.Request{Reference: kassa.NewID("txn"), Amount: 2500, Currency: "USD", ParentRef: st.ProcessorRef}); err != nil || rf.Outcome != processor.Approved {
			t.Errorf("refund of the timed-out sale: %+v, %v", rf, err)
		}
	})
}

// TestSimulatorFollowOns: captures, voids and refunds are checked against
// their parent as an acquirer would.
func TestSimulatorFollowOns(t *testing.T) {
	eachDialect(t, func(t *testing.T, db *store.DB, sim *processor.Simulator, base string) {
		charge := func(kind string, number string, amount int64) string {
			t.Helper()
			call := sim.Sale
			if kind == "authorize" {
				call = sim.Authorize
			}
			resp, err := call(ctx, req(amount, number))
			if err != nil {
				t.Fatal(err)
			}
			return resp.ProcessorRef
		}
		type op func(context.Context, processor.Request) (processor.Response, error)
		check := func(name string, f op, parent string, amount int64, decline string) {
			t.Helper()
			resp, err := f(ctx, processor.Request{Reference: kassa.NewID("txn"), Amount: amount, Currency: "USD", ParentRef: parent})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			want := processor.Approved
			if decline != "" {
				want = processor.Declined
			}
			if resp.Outcome != want || resp.DeclineCode != decline || resp.AuthorizationCode != "" {
				t.Errorf("%s: %+v; want %s %s", name, resp, want, decline)
			}
		}
		auth := charge("authorize", "4242424242424242", 1000)
		check("capture more than authorized", sim.Capture, auth, 1001, "invalid_amount")
		check("partial capture", sim.Capture, auth, 600, "")
		check("second capture", sim.Capture, auth, 100, "operation_not_allowed")
		check("void after capture", sim.Void, auth, 1000, "operation_not_allowed")
		check("refund an authorization", sim.Refund, auth, 100, "operation_not_allowed")
		check("capture unknown", sim.Capture, "sim_nope", 100, "no_such_operation")
		check("void unknown", sim.Void, "", 100, "no_such_operation")

		auth2 := charge("authorize", "4242424242424242", 1000)
		check("void", sim.Void, auth2, 1000, "")
		check("capture after void", sim.Capture, auth2, 1000, "operation_not_allowed")

		declined := charge("authorize", processor.CardDeclined, 1000)
		check("capture a declined authorization", sim.Capture, declined, 1000, "operation_not_allowed")
		pending := charge("authorize", processor.CardRequires3DS, 1000)
		check("capture before authentication", sim.Capture, pending, 1000, "operation_not_allowed")

		sale := charge("sale", "4242424242424242", 1000)
		check("capture a sale", sim.Capture, sale, 1000, "operation_not_allowed")
		check("void a sale", sim.Void, sale, 1000, "operation_not_allowed")
		check("refund 300", sim.Refund, sale, 300, "")
		check("refund past the rest", sim.Refund, sale, 701, "invalid_amount")
		check("refund the rest", sim.Refund, sale, 700, "")
		check("refund after full refund", sim.Refund, sale, 1, "invalid_amount")
	})
}

// TestSimulatorACS: the issuer page shows the amount and two buttons, and
// records the shopper's answer once.
func TestSimulatorACS(t *testing.T) {
	eachDialect(t, func(t *testing.T, db *store.DB, sim *processor.Simulator, base string) {
		client := &http.Client{Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		for _, c := range []struct {
			result  string
			outcome processor.Outcome
			decline string
		}{{"approve", processor.Approved, ""}, {"fail", processor.Declined, "authentication_failed"}} {
			r := req(1050, processor.CardRequires3DS)
			r.Currency = "KWD"
			resp, err := sim.Authorize(ctx, r)
			if err != nil || resp.Outcome != processor.ActionRequired {
				t.Fatalf("authorize: %+v, %v", resp, err)
			}
			res, err := client.Get(resp.RedirectURL)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || !strings.Contains(string(body), "1.050 KWD") || !strings.Contains(string(body), `action="/simulator/acs/`+r.Reference+`"`) ||
				!strings.Contains(res.Header.Get("Content-Security-Policy"), "default-src 'none'") || res.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("ACS page: %d %v %s", res.StatusCode, res.Header, body)
			}
			res, err = client.PostForm(resp.RedirectURL, url.Values{"result": {c.result}})
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != r.ReturnURL {
				t.Errorf("%s: answer %d → %q", c.result, res.StatusCode, res.Header.Get("Location"))
			}
			st, err := sim.Status(ctx, r.Reference)
			if err != nil || st.Outcome != c.outcome || st.DeclineCode != c.decline || (c.outcome == processor.Approved) != (st.AuthorizationCode != "") {
				t.Errorf("%s: Status = %+v, %v", c.result, st, err)
			}
			// A second answer changes nothing; the page now sends the shopper back.
			other := map[string]string{"approve": "fail", "fail": "approve"}[c.result]
			if res, err := client.PostForm(resp.RedirectURL, url.Values{"result": {other}}); err == nil {
				res.Body.Close()
			}
			if st2, _ := sim.Status(ctx, r.Reference); st2.Outcome != st.Outcome || st2.AuthorizationCode != st.AuthorizationCode {
				t.Errorf("%s: second answer changed the outcome to %+v", c.result, st2)
			}
			if res, err := client.Get(resp.RedirectURL); err != nil || res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != r.ReturnURL {
				t.Errorf("%s: page after the answer: %v %v", c.result, res, err)
			} else {
				res.Body.Close()
			}
		}
		for _, path := range []string{"/simulator/acs/txn_unknown"} {
			for _, m := range []string{"GET", "POST"} {
				r, _ := http.NewRequest(m, base+path, strings.NewReader("result=approve"))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				res, err := client.Do(r)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != http.StatusNotFound {
					t.Errorf("%s %s = %d, want 404", m, path, res.StatusCode)
				}
			}
		}
		// A non-3DS operation cannot be "authenticated" into another outcome.
		r := req(100, processor.CardDeclined)
		if _, err := sim.Sale(ctx, r); err != nil {
			t.Fatal(err)
		}
		if res, err := client.PostForm(base+"/simulator/acs/"+r.Reference, url.Values{"result": {"approve"}}); err == nil {
			res.Body.Close()
		}
		if st, _ := sim.Status(ctx, r.Reference); st.Outcome != processor.Declined {
			t.Errorf("declined sale approved through the ACS: %+v", st)
		}
	})
}
