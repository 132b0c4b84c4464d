package kassa_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa"
)

// The standard test PANs of the card networks (as published by Stripe and the
// schemes), each with its brand.
var testPANs = []struct{ pan, brand string }{
	{"4242424242424242", "visa"},
	{"4000056655665556", "visa"},
	{"4222222222222", "visa"}, // 13 digits
	{"5555555555554444", "mastercard"},
	{"2223003122003222", "mastercard"}, // 2-series
	{"5200828282828210", "mastercard"},
	{"5105105105105100", "mastercard"},
	{"378282246310005", "amex"},
	{"371449635398431", "amex"},
	{"6011111111111117", "discover"},
	{"6011000990139424", "discover"},
	{"6555900000604105", "discover"},
	{"3056930009020004", "diners"},
	{"36227206271667", "diners"}, // 14 digits
	{"3566002020360505", "jcb"},
	{"6200000000000005", "unionpay"},
	{"6205500000000000004", "unionpay"}, // 19 digits
}

func TestCardBrand(t *testing.T) {
	t.Parallel()
	for _, c := range testPANs {
		if got := kassa.CardBrand(c.pan); got != c.brand {
			t.Errorf("CardBrand(%s) = %s, want %s", c.pan, got, c.brand)
		}
		if !kassa.Luhn(c.pan) {
			t.Errorf("Luhn(%s) = false", c.pan)
		}
	}
	for _, n := range []string{"", "4242 4242 4242 4242", "abcd", "9999999999999995", "1234567812345670"} {
		if got := kassa.CardBrand(n); got != "unknown" {
			t.Errorf("CardBrand(%q) = %s, want unknown", n, got)
		}
	}
	// UnionPay's 62 range contains Discover's 622126–622925: the specific range wins.
	if got := kassa.CardBrand("6221260000000000"); got != "discover" {
		t.Errorf("CardBrand(622126…) = %s, want discover", got)
	}
	if got := kassa.CardBrand("6221250000000000"); got != "unionpay" {
		t.Errorf("CardBrand(622125…) = %s, want unionpay", got)
	}
}

func TestLuhn(t *testing.T) {
	t.Parallel()
	for n, want := range map[string]bool{
		"4242424242424242": true, "4242424242424241": false, "79927398713": true, "79927398710": false,
		"0": false, "00": true, "": false, "42424242424242a2": false, "4242 4242 4242 4242": false,
	} {
		if got := kassa.Luhn(n); got != want {
			t.Errorf("Luhn(%q) = %v, want %v", n, got, want)
		}
	}
}

// withCheckDigit completes prefix (digits) with a Luhn check digit.
func withCheckDigit(prefix string) string {
	for d := '0'; d <= '9'; d++ {
		if n := prefix + string(d); kassa.Luhn(n) {
			return n
		}
	}
	panic("unreachable")
}

func TestCardValidate(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, time.March, 31, 23, 59, 0, 0, time.UTC)
	const prefix = "payment_method[card]"
	good := func() kassa.Card {
		return kassa.Card{Number: "4242424242424242", ExpMonth: 12, ExpYear: 2030, CVC: "123", HolderName: "Ana"}
	}
	cases := []struct {
		name  string
		edit  func(c *kassa.Card)
		kind  string // "" = valid
		code  string
		param string
	}{
		{"valid", func(c *kassa.Card) {}, "", "", ""},
		{"spaces and dashes", func(c *kassa.Card) { c.Number = " 4242 4242-4242 4242 " }, "", "", ""},
		{"every test PAN", nil, "", "", ""}, // expanded below
		{"missing number", func(c *kassa.Card) { c.Number = "" }, kassa.EINVALID, "parameter_missing", "[number]"},
		{"letters", func(c *kassa.Card) { c.Number = "4242abcd42424242" }, kassa.ECARD, "invalid_number", "[number]"},
		{"too short", func(c *kassa.Card) { c.Number = withCheckDigit("4242424242") }, kassa.ECARD, "invalid_number", "[number]"},
		{"too long", func(c *kassa.Card) { c.Number = withCheckDigit("4242424242424242424") }, kassa.ECARD, "invalid_number", "[number]"},
		{"luhn", func(c *kassa.Card) { c.Number = "4242424242424241" }, kassa.ECARD, "incorrect_number", "[number]"},
		{"visa 15 digits", func(c *kassa.Card) { c.Number = withCheckDigit("42424242424242") }, kassa.ECARD, "invalid_number", "[number]"},
		{"amex 16 digits", func(c *kassa.Card) { c.Number = withCheckDigit("378282246310005"); c.CVC = "1234" }, kassa.ECARD, "invalid_number", "[number]"},
		{"mastercard 19 digits", func(c *kassa.Card) { c.Number = withCheckDigit("555555555555444400") }, kassa.ECARD, "invalid_number", "[number]"},
		{"month 0", func(c *kassa.Card) { c.ExpMonth = 0 }, kassa.ECARD, "invalid_expiry_month", "[exp_month]"},
		{"month 13", func(c *kassa.Card) { c.ExpMonth = 13 }, kassa.ECARD, "invalid_expiry_month", "[exp_month]"},
		{"current month is valid", func(c *kassa.Card) { c.ExpMonth, c.ExpYear = 3, 2026 }, "", "", ""},
		{"last month is expired", func(c *kassa.Card) { c.ExpMonth, c.ExpYear = 2, 2026 }, kassa.ECARD, "expired_card", "[exp_year]"},
		{"last year", func(c *kassa.Card) { c.ExpMonth, c.ExpYear = 12, 2025 }, kassa.ECARD, "expired_card", "[exp_year]"},
		{"two-digit year current month", func(c *kassa.Card) { c.ExpMonth, c.ExpYear = 3, 26 }, "", "", ""},
		{"two-digit year last month", func(c *kassa.Card) { c.ExpMonth, c.ExpYear = 2, 26 }, kassa.ECARD, "expired_card", "[exp_year]"},
		{"year far ahead", func(c *kassa.Card) { c.ExpYear = 2077 }, kassa.ECARD, "invalid_expiry_year", "[exp_year]"},
		{"year 50 ahead", func(c *kassa.Card) { c.ExpYear = 2076 }, "", "", ""},
		{"cvc missing", func(c *kassa.Card) { c.CVC = "" }, kassa.ECARD, "invalid_cvc", "[cvc]"},
		{"cvc 4 digits on visa", func(c *kassa.Card) { c.CVC = "1234" }, kassa.ECARD, "invalid_cvc", "[cvc]"},
		{"cvc 2 digits", func(c *kassa.Card) { c.CVC = "12" }, kassa.ECARD, "invalid_cvc", "[cvc]"},
		{"cvc letters", func(c *kassa.Card) { c.CVC = "12a" }, kassa.ECARD, "invalid_cvc", "[cvc]"},
		{"amex cvc 4", func(c *kassa.Card) { c.Number, c.CVC = "378282246310005", "1234" }, "", "", ""},
		{"amex cvc 3", func(c *kassa.Card) { c.Number, c.CVC = "378282246310005", "123" }, kassa.ECARD, "invalid_cvc", "[cvc]"},
		{"cvc with spaces", func(c *kassa.Card) { c.CVC = " 123 " }, "", "", ""},
		{"holder too long", func(c *kassa.Card) { c.HolderName = strings.Repeat("a", 101) }, kassa.EINVALID, "parameter_too_long", "[holder_name]"},
	}
	for _, c := range cases {
		if c.edit == nil {
			for _, p := range testPANs {
				card := good()
				card.Number = p.pan
				if p.brand == "amex" {
					card.CVC = "1234"
				}
				if err := card.Validate(prefix, now); err != nil {
					t.Errorf("%s (%s): %v", p.pan, p.brand, err)
				}
			}
			continue
		}
		card := good()
		c.edit(&card)
		err := card.Validate(prefix, now)
		if c.kind == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		var e *kassa.Error
		if !asError(err, &e) {
			t.Errorf("%s: error = %v, want *kassa.Error %s", c.name, err, c.code)
			continue
		}
		if e.Kind != c.kind || e.Code != c.code || e.Param != prefix+c.param {
			t.Errorf("%s: got kind=%s code=%s param=%s; want %s %s %s", c.name, e.Kind, e.Code, e.Param, c.kind, c.code, prefix+c.param)
		}
	}

	// Validate normalizes what it accepts: the digits only and a four-digit year.
	card := kassa.Card{Number: "4242 4242 4242 4242", ExpMonth: 3, ExpYear: 26, CVC: " 123 ", HolderName: "  Ana  "}
	if err := card.Validate(prefix, now); err != nil {
		t.Fatal(err)
	}
	if card.Number != "4242424242424242" || card.ExpYear != 2026 || card.CVC != "123" || card.HolderName != "Ana" {
		t.Errorf("normalized card = %q %d %q %q", card.Number, card.ExpYear, card.CVC, card.HolderName)
	}
	// The expiry is judged in UTC: a card expiring in March is still good on
	// 31 March 23:59 UTC even where local time is already April.
	lima := time.FixedZone("UTC+5", 5*3600)
	card = kassa.Card{Number: "4242424242424242", ExpMonth: 3, ExpYear: 2026, CVC: "123"}
	if err := card.Validate(prefix, now.In(lima)); err != nil {
		t.Errorf("validate in another zone: %v", err)
	}
	if s := card.Summary(); s != (kassa.CardSummary{Brand: "visa", Last4: "4242", ExpMonth: 3, ExpYear: 2026}) {
		t.Errorf("Summary = %+v", s)
	}
}

// TestCardNeverRevealed: no formatting or logging path shows the card
// number or the CVC.
func TestCardNeverRevealed(t *testing.T) {
	t.Parallel()
	card := kassa.Card{Number: "4000056655665556", ExpMonth: 12, ExpYear: 2030, CVC: "987", HolderName: "Ana"}
	ptr := &card
	type wrapper struct {
		Card  kassa.Card
		CardP *kassa.Card
	}
	outs := []string{
		card.String(), card.GoString(),
		fmt.Sprint(card), fmt.Sprintf("%v", card), fmt.Sprintf("%+v", card), fmt.Sprintf("%#v", card), fmt.Sprintf("%s", card), fmt.Sprintf("%q", card),
		fmt.Sprint(ptr), fmt.Sprintf("%v", ptr), fmt.Sprintf("%+v", ptr), fmt.Sprintf("%#v", ptr),
		fmt.Sprintf("%v", wrapper{card, ptr}), fmt.Sprintf("%+v", wrapper{card, ptr}),
		fmt.Sprintf("%v", []kassa.Card{card}),
	}
	var buf bytes.Buffer
	noTime := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{} // its fraction digits could contain the CVC by chance
		}
		return a
	}}
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, noTime), slog.NewJSONHandler(&buf, noTime)} {
		slog.New(h).Info("confirm", "card", card, "card_ptr", ptr)
	}
	outs = append(outs, buf.String())
	for _, s := range outs {
		if strings.Contains(s, card.Number) || strings.Contains(s, "665556") || strings.Contains(s, "987") {
			t.Errorf("card data revealed: %s", s)
		}
	}
	if want := "Card{visa ****5556}"; card.String() != want {
		t.Errorf("String() = %q, want %q", card.String(), want)
	}
	if s := (kassa.Card{Number: "42"}).String(); strings.Contains(s, "42") {
		t.Errorf("short number revealed: %s", s)
	}
}

func TestCVCLength(t *testing.T) {
	t.Parallel()
	for brand, want := range map[string]int{"amex": 4, "visa": 3, "mastercard": 3, "discover": 3, "diners": 3, "jcb": 3, "unionpay": 3, "unknown": 3} {
		if got := kassa.CVCLength(brand); got != want {
			t.Errorf("CVCLength(%s) = %d, want %d", brand, got, want)
		}
	}
}
