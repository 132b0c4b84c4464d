package engine_test

import (
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/processor"
)

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       10 * time.Second,
}

// answerChallenge plays the shopper on the simulated issuer's page: it loads
// the page the payment's next_action points to and presses a button
// ("approve" or "fail"), and checks that the issuer sends the shopper back to
// the gateway's 3-D Secure return for this payment.
func (h *harness) answerChallenge(p *kassa.Payment, result string) {
	h.t.Helper()
	if p.NextAction == nil || p.NextAction.Type != "redirect_to_url" || !strings.HasPrefix(p.NextAction.RedirectURL, h.srv.URL+"/simulator/acs/") {
		h.t.Fatalf("next_action = %+v, want a redirect to the simulator's ACS at %s", p.NextAction, h.srv.URL)
	}
	res, err := noRedirect.Get(p.NextAction.RedirectURL)
	if err != nil {
		h.t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	want := kassa.FormatAmount(p.Amount, p.Currency) + " " + p.Currency
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `value="approve"`) || !strings.Contains(string(body), `value="fail"`) ||
		!strings.Contains(string(body), want) {
		h.t.Fatalf("ACS page: %d %s", res.StatusCode, body)
	}
	res, err = noRedirect.PostForm(p.NextAction.RedirectURL, url.Values{"result": {result}})
	if err != nil {
		h.t.Fatal(err)
	}
	res.Body.Close()
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || loc != h.srv.URL+"/pay/3ds/"+p.ID {
		h.t.Fatalf("ACS answer: %d Location %q, want 303 to %s/pay/3ds/%s", res.StatusCode, loc, h.srv.URL, p.ID)
	}
}

func chargeType(c kassa.CaptureMethod) kassa.TxnType {
	if c == kassa.CaptureManual {
		return kassa.TxnAuthorize
	}
	return kassa.TxnSale
}

// TestThreeDSecure: the 3-D Secure card asks for authentication; the
// payment waits in requires_action holding its order, and the shopper's
// answer on the issuer's page decides it once the gateway asks the processor.
func TestThreeDSecure(t *testing.T) {
	eachDialect(t, engine.Config{}, func(t *testing.T, h *harness) {
		for _, c := range []struct {
			name    string
			capture kassa.CaptureMethod
			result  string
			status  kassa.PaymentStatus
			events  []string
		}{
			{"approve", kassa.CaptureAutomatic, "approve", kassa.StatusSucceeded,
				[]string{kassa.EventPaymentCreated, kassa.EventPaymentRequiresAction, kassa.EventPaymentSucceeded}},
			{"approve manual", kassa.CaptureManual, "approve", kassa.StatusRequiresCapture,
				[]string{kassa.EventPaymentCreated, kassa.EventPaymentRequiresAction, kassa.EventPaymentAuthorized}},
			{"fail", kassa.CaptureAutomatic, "fail", kassa.StatusRequiresPaymentMethod,
				[]string{kassa.EventPaymentCreated, kassa.EventPaymentRequiresAction, kassa.EventPaymentFailed}},
		} {
			order := "3ds-" + strings.ReplaceAll(c.name, " ", "-")
			p := h.create(1500, order, c.capture)
			d, err := h.eng.ConfirmPayment(h.ctx, h.pr, p.ID, card(processor.CardRequires3DS))
			if err != nil || d.Payment.Status != kassa.StatusRequiresAction {
				t.Fatalf("%s: confirm: %+v, %v", c.name, d, err)
			}
			if h.claim(order) != p.ID {
				t.Errorf("%s: order not held during authentication", c.name)
			}
			_, err = h.pay(1500, order, kassa.CaptureAutomatic, visa)
			wantErr(t, c.name+": pay the order during authentication", err, kassa.ECONFLICT, "order_already_paid")
			wantTxn(t, h, p.ID, chargeType(c.capture), kassa.TxnPending)
			acsURL := d.Payment.NextAction.RedirectURL

			// Neither an early return nor the reconciler decides for the shopper.
			before := h.snapshot(p.ID)
			if d, err := h.eng.CompleteAuthentication(h.ctx, p.ID); err != nil || d.Payment.Status != kassa.StatusRequiresAction {
				t.Errorf("%s: early return: %+v, %v", c.name, d, err)
			}
			h.clock.Advance(5 * time.Minute)
			h.reconcile()
			h.sameSnapshot(c.name+": return and reconcile before the shopper answered", before, p.ID)

			h.answerChallenge(d.Payment, c.result)
			d, err = h.eng.CompleteAuthentication(h.ctx, p.ID)
			if d == nil || d.Payment.Status != c.status {
				t.Fatalf("%s: after the challenge: %+v, %v", c.name, d, err)
			}
			if got := h.eventTypes(p.ID); !slices.Equal(got, c.events) {
				t.Errorf("%s: events %v, want %v", c.name, got, c.events)
			}
			if d.Payment.NextAction != nil {
				t.Errorf("%s: next_action left: %+v", c.name, d.Payment.NextAction)
			}
			if c.result == "approve" {
				if err != nil || h.claim(order) != p.ID {
					t.Errorf("%s: %v, claim %q", c.name, err, h.claim(order))
				}
				continue
			}
			wantErr(t, c.name, err, kassa.ECARD, "payment_authentication_failed")
			le := d.Payment.LastError
			if le == nil || le.Code != "payment_authentication_failed" || le.DeclineCode != "authentication_failed" {
				t.Errorf("%s: last_error %+v", c.name, le)
			}
			if stored := h.payment(p.ID).Payment; !reflect.DeepEqual(stored.LastError, le) {
				t.Errorf("%s: stored last_error %+v", c.name, stored.LastError)
			}
			if h.claim(order) != "" {
				t.Errorf("%s: failed authentication still holds the order", c.name)
			}
			// A late "approve" on the issuer page changes nothing; the shopper retries with another card.
			before = h.snapshot(p.ID)
			res, err := noRedirect.PostForm(acsURL, url.Values{"result": {"approve"}})
			if err == nil {
				res.Body.Close()
			}
			h.eng.CompleteAuthentication(h.ctx, p.ID)
			h.sameSnapshot(c.name+": late approve", before, p.ID)
			if d, err := h.eng.ConfirmPayment(h.ctx, h.pr, p.ID, card(visa)); err != nil || d.Payment.Status != kassa.StatusSucceeded {
				t.Errorf("%s: retry with another card: %+v, %v", c.name, d, err)
			}
		}
		checkEventInvariants(t, h)
	})
}

// TestCancelDuringAuthentication: a payment awaiting 3-D Secure can be
// canceled; its pending row is closed and its order released.
func TestCancelDuringAuthentication(t *testing.T) {
	eachDialect(t, engine.Config{}, func(t *testing.T, h *harness) {
		d, err := h.pay(1500, "3ds-cancel", kassa.CaptureAutomatic, processor.CardRequires3DS)
		if err != nil || d.Payment.Status != kassa.StatusRequiresAction {
			t.Fatalf("%+v, %v", d, err)
		}
		d, err = h.eng.CancelPayment(h.ctx, h.pr, d.Payment.ID, "abandoned")
		if err != nil || d.Payment.Status != kassa.StatusCanceled || d.Payment.CanceledReason != "abandoned" || d.Payment.NextAction != nil {
			t.Fatalf("cancel: %+v, %v", d, err)
		}
		if x := wantTxn(t, h, d.Payment.ID, kassa.TxnSale, kassa.TxnFailed); x.DeclineCode != "authentication_abandoned" {
			t.Errorf("closed row decline code %q", x.DeclineCode)
		}
		if h.claim("3ds-cancel") != "" {
			t.Error("canceled payment holds its order")
		}
		want := []string{kassa.EventPaymentCreated, kassa.EventPaymentRequiresAction, kassa.EventPaymentCanceled}
		if got := h.eventTypes(d.Payment.ID); !slices.Equal(got, want) {
			t.Errorf("events %v, want %v", got, want)
		}
		checkEventInvariants(t, h)
	})
}

// TestApproveAfterCancel: a cardholder who presses Approve on the issuer's
// page after the merchant canceled (or the payment expired) moves no money.
// The cancel voided the open authentication at the processor before the
// payment was canceled, so the late approval is refused by the issuer, and
// nothing the gateway does later can resurrect the payment.
func TestApproveAfterCancel(t *testing.T) {
	for _, expire := range []bool{false, true} {
		name := "cancel"
		if expire {
			name = "expiry"
		}
		t.Run(name, func(t *testing.T) {
			eachDialect(t, engine.Config{}, func(t *testing.T, h *harness) {
				d, err := h.pay(1500, "3ds-late-"+name, kassa.CaptureAutomatic, processor.CardRequires3DS)
				if err != nil || d.Payment.Status != kassa.StatusRequiresAction {
					t.Fatalf("%+v, %v", d, err)
				}
				acs := d.Payment.NextAction.RedirectURL
				if expire {
					h.clock.Advance(25 * time.Hour)
					if rep := h.reconcile(); rep.Expired != 1 {
						t.Fatalf("reconcile: %+v, want one expired payment", rep)
					}
				} else if _, err := h.eng.CancelPayment(h.ctx, h.pr, d.Payment.ID, "abandoned"); err != nil {
					t.Fatal(err)
				}
				// The shopper, still on the issuer's page, presses Approve.
				res, err := noRedirect.PostForm(acs, url.Values{"result": {"approve"}})
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if _, err := h.eng.CompleteAuthentication(h.ctx, d.Payment.ID); err != nil {
					t.Fatal(err)
				}
				h.clock.Advance(time.Hour)
				h.reconcile()
				if got := h.payment(d.Payment.ID).Payment.Status; got != kassa.StatusCanceled {
					t.Fatalf("status %s after a late approval, want canceled", got)
				}
				if n := h.count(`SELECT COUNT(*) FROM simulator_operations WHERE kind = 'sale' AND outcome = 'approved'`); n != 0 {
					t.Fatalf("the processor approved %d charges for a canceled payment", n)
				}
				wantTxn(t, h, d.Payment.ID, kassa.TxnSale, kassa.TxnFailed)
				wantTxn(t, h, d.Payment.ID, kassa.TxnVoid, kassa.TxnSucceeded)
				if h.claim("3ds-late-"+name) != "" {
					t.Error("canceled payment holds its order")
				}
				checkEventInvariants(t, h)
			})
		})
	}
}
