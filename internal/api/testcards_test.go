package api_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

// testingDoc is the merchant's guide to the simulator. The tests below read
// its tables and run every row through the API, so the guide cannot drift
// from what the gateway does: a row changed in the guide without the code
// (or the other way round) fails here.
const testingDoc = "../../docs/testing.md"

// docTable returns the rows of the Markdown table whose header row starts
// with header (cells trimmed, backquotes kept).
func docTable(t *testing.T, header string) [][]string {
	t.Helper()
	f, err := os.Open(testingDoc)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows [][]string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "|") {
			if in {
				break
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case !in && cells[0] == header:
			in = true
		case in && strings.HasPrefix(cells[0], "---"):
		case in:
			rows = append(rows, cells)
		}
	}
	if len(rows) == 0 {
		t.Fatalf("%s: no table with header %q", testingDoc, header)
	}
	return rows
}

func unquote(s string) string { return strings.Trim(s, "`") }

var brandNames = map[string]string{"Visa": "visa", "Mastercard": "mastercard", "American Express": "amex"}

// Result phrases of the card table, as docs/testing.md words them.
var (
	docDeclined = regexp.MustCompile("^declined: `([a-z_]+)`(?:, decline_code `([a-z_]+)`)?$")
	doc3DS      = regexp.MustCompile("^requires 3-D Secure: status `requires_action`, `next_action.redirect_url` opens the issuer's test page with \\*\\*Approve\\*\\* and \\*\\*Fail\\*\\*$")
	docTimeout  = regexp.MustCompile("^the processor times out: status `processing`, the ledger row is `unknown`; the reconciler later learns that it succeeded$")
)

// TestDocumentedTestCards runs every card of docs/testing.md's simulator
// table through POST /v1/payments with confirm: true and checks the outcome
// the guide promises, on SQLite and PostgreSQL.
func TestDocumentedTestCards(t *testing.T) {
	rows := docTable(t, "card number")
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		m := e.newMerchant("Test cards shop")
		for i, row := range rows {
			if len(row) != 3 {
				t.Fatalf("row %v: want card number | brand | result", row)
			}
			number, brand, result := unquote(row[0]), brandNames[row[1]], row[2]
			t.Run(number, func(t *testing.T) {
				if brand == "" {
					t.Fatalf("unknown brand %q in %s", row[1], testingDoc)
				}
				cvc := "123"
				if brand == "amex" {
					cvc = "1234"
				}
				pm := obj{"card": obj{"number": number, "exp_month": 12, "exp_year": time.Now().Year() + 2, "cvc": cvc}}
				r := m.post(t, "/v1/payments", obj{"amount": 1000 + i, "currency": "USD", "order_id": "card-" + number,
					"confirm": true, "payment_method": pm, "return_url": "https://shop.example/done"})
				switch {
				case strings.HasPrefix(result, "succeeds"):
					p := r.want(t, 201).payment(t)
					if p.Status != kassa.StatusSucceeded || p.AmountCaptured != p.Amount || p.Card == nil ||
						p.Card.Brand != brand || p.Card.Last4 != number[len(number)-4:] {
						t.Errorf("%s: %s, want a succeeded %s payment", number, r, brand)
					}
				case docDeclined.MatchString(result):
					sub := docDeclined.FindStringSubmatch(result)
					code, decline := sub[1], sub[2]
					er := r.wantError(t, 402, "card_error", code, "")
					if decline != "" && er.Error.DeclineCode != decline {
						t.Errorf("%s: decline_code %q, want %q", number, er.Error.DeclineCode, decline)
					}
					p := er.Error.Payment
					if p == nil || p.Status != kassa.StatusRequiresPaymentMethod || p.LastError == nil || p.LastError.Code != code {
						t.Errorf("%s: payment attached to the decline: %+v", number, p)
					}
					if p != nil && (p.Card == nil || p.Card.Brand != brand) {
						t.Errorf("%s: card %+v, want brand %s", number, p.Card, brand)
					}
				case doc3DS.MatchString(result):
					p := r.want(t, 201).payment(t)
					if p.Status != kassa.StatusRequiresAction || p.NextAction == nil || p.NextAction.RedirectURL == "" {
						t.Fatalf("%s: %s, want requires_action with next_action.redirect_url", number, r)
					}
					res, err := http.Get(p.NextAction.RedirectURL)
					if err != nil {
						t.Fatal(err)
					}
					page, _ := io.ReadAll(res.Body)
					res.Body.Close()
					if res.StatusCode != 200 || !strings.Contains(string(page), "Approve") || !strings.Contains(string(page), "Fail") {
						t.Errorf("%s: issuer page %d without Approve and Fail buttons: %.300s", number, res.StatusCode, page)
					}
				case docTimeout.MatchString(result):
					p := r.want(t, 201).payment(t)
					if p.Status != kassa.StatusProcessing {
						t.Fatalf("%s: %s, want processing", number, r)
					}
					if x := ledger(t, m, p.ID); len(x) != 1 || x[0].Status != kassa.TxnUnknown {
						t.Fatalf("%s: ledger %+v, want one unknown row", number, x)
					}
					// Past the reconciler's grace period, its pass asks the
					// processor and learns that the charge succeeded.
					e.advance(2 * time.Minute)
					if rep := e.eng.Reconcile(context.Background()); rep.Resolved < 1 {
						t.Fatalf("%s: reconciler report %+v", number, rep)
					}
					g := m.get(t, "/v1/payments/"+p.ID).want(t, 200).payment(t)
					if g.Status != kassa.StatusSucceeded || g.AmountCaptured != g.Amount {
						t.Errorf("%s: after the reconciler: %+v", number, g)
					}
					x := ledger(t, m, p.ID)
					var hist []string
					for _, h := range x[0].History {
						hist = append(hist, string(h.Status))
					}
					if strings.Join(hist, " → ") != "pending → unknown → succeeded" {
						t.Errorf("%s: status history %v", number, hist)
					}
				default:
					t.Fatalf("%s: %s says %q, which this test does not know how to check", number, testingDoc, result)
				}
			})
		}
		t.Run("any other Luhn-valid number", func(t *testing.T) {
			p := m.post(t, "/v1/payments", obj{"amount": 700, "currency": "USD", "confirm": true, "payment_method": card("4111111111111111")}).
				want(t, 201).payment(t)
			if p.Status != kassa.StatusSucceeded {
				t.Errorf("4111111111111111: %s", p.Status)
			}
		})
	})
}

func ledger(t *testing.T, m *merchant, paymentID string) []kassa.TransactionObject {
	t.Helper()
	var txns struct {
		Data []kassa.TransactionObject `json:"data"`
	}
	m.get(t, "/v1/payments/"+paymentID+"/transactions").want(t, 200).decode(t, &txns)
	return txns.Data
}

// TestDocumentedCardChecks runs every row of docs/testing.md's "Checked
// before the processor is called" table: the documented status, code and
// param, and nothing written (no ledger row, the payment unchanged).
func TestDocumentedCardChecks(t *testing.T) {
	rows := docTable(t, "input")
	year := time.Now().Year() + 2
	// A card that breaks each rule, by the code the guide gives it.
	bad := map[string]obj{
		"incorrect_number":     {"number": "4242424242424241", "exp_month": 12, "exp_year": year, "cvc": "123"},
		"invalid_number":       {"number": "42424242424", "exp_month": 12, "exp_year": year, "cvc": "123"},
		"invalid_expiry_month": {"number": "4242424242424242", "exp_month": 13, "exp_year": year, "cvc": "123"},
		"expired_card":         {"number": "4242424242424242", "exp_month": 1, "exp_year": 2020, "cvc": "123"},
		"invalid_cvc":          {"number": "378282246310005", "exp_month": 12, "exp_year": year, "cvc": "123"},
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db)
		m := e.newMerchant("Card checks shop")
		p := m.post(t, "/v1/payments", obj{"amount": 1000, "currency": "USD"}).want(t, 201).payment(t)
		for _, row := range rows {
			if len(row) != 4 {
				t.Fatalf("row %v: want input | HTTP | code | param", row)
			}
			status, err := strconv.Atoi(row[1])
			code, param := unquote(row[2]), unquote(row[3])
			if err != nil {
				t.Fatalf("row %v: HTTP %q", row, row[1])
			}
			c, ok := bad[code]
			if !ok {
				t.Fatalf("%s lists code %s, which this test has no card for", testingDoc, code)
			}
			t.Run(code, func(t *testing.T) {
				m.post(t, "/v1/payments/"+p.ID+"/confirm", obj{"payment_method": obj{"card": c}}).
					wantError(t, status, "card_error", code, param)
			})
		}
		if x := ledger(t, m, p.ID); len(x) != 0 {
			t.Errorf("refused cards reached the processor: %+v", x)
		}
		if g := m.get(t, "/v1/payments/"+p.ID).want(t, 200).payment(t); g.Status != kassa.StatusRequiresPaymentMethod || g.Card != nil || g.LastError != nil {
			t.Errorf("payment after refused cards: %+v", g)
		}
	})
}
