package kassa

import (
	"log/slog"
	"strings"
	"time"
)

// Card is the card data a shopper enters. It travels from the form or the
// merchant's server to the processor and is never logged or stored: only
// Brand, Last4 and the expiry are kept with a payment. CVC is never stored.
type Card struct {
	Number     string `json:"number"`
	ExpMonth   int    `json:"exp_month"`
	ExpYear    int    `json:"exp_year"`
	CVC        string `json:"cvc"`
	HolderName string `json:"holder_name,omitempty"`
}

// String hides the card data from fmt and log output.
func (c Card) String() string { return "Card{" + CardBrand(c.Number) + " ****" + last4(c.Number) + "}" }

// GoString hides the card data from %#v.
func (c Card) GoString() string { return c.String() }

// LogValue hides the card data from log/slog: without it slog's JSON handler
// marshals the struct, number and CVC included, through its json tags.
func (c Card) LogValue() slog.Value { return slog.StringValue(c.String()) }

// CardSummary is what the gateway keeps and shows of a card.
type CardSummary struct {
	Brand    string `json:"brand"`
	Last4    string `json:"last4"`
	ExpMonth int    `json:"exp_month"`
	ExpYear  int    `json:"exp_year"`
}

// Summary returns the storable part of the card.
func (c Card) Summary() CardSummary {
	return CardSummary{Brand: CardBrand(c.Number), Last4: last4(c.Number), ExpMonth: c.ExpMonth, ExpYear: c.ExpYear}
}

func last4(n string) string {
	if len(n) < 4 {
		return ""
	}
	return n[len(n)-4:]
}

// NormalizeCardNumber strips the spaces and dashes shoppers type.
func NormalizeCardNumber(n string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, n)
}

// brandRule is one IIN range. Rules are tried in order, the more specific
// first, because some ranges overlap (UnionPay 62 contains Discover 622126–622925).
type brandRule struct {
	brand   string
	lo, hi  int // inclusive prefix range
	digits  int // number of leading digits lo and hi cover
	lengths []int
}

var brandRules = []brandRule{
	{"amex", 34, 34, 2, []int{15}},
	{"amex", 37, 37, 2, []int{15}},
	{"discover", 6011, 6011, 4, []int{16, 19}},
	{"discover", 622126, 622925, 6, []int{16, 19}},
	{"discover", 644, 649, 3, []int{16, 19}},
	{"discover", 65, 65, 2, []int{16, 19}},
	{"diners", 300, 305, 3, []int{14, 16, 19}},
	{"diners", 36, 36, 2, []int{14, 16, 19}},
	{"diners", 38, 39, 2, []int{14, 16, 19}},
	{"jcb", 3528, 3589, 4, []int{16, 17, 18, 19}},
	{"unionpay", 62, 62, 2, []int{16, 17, 18, 19}},
	{"mastercard", 51, 55, 2, []int{16}},
	{"mastercard", 2221, 2720, 4, []int{16}},
	{"visa", 4, 4, 1, []int{13, 16, 19}},
}

func matchBrand(n string) (brandRule, bool) {
	for _, r := range brandRules {
		if len(n) < r.digits {
			continue
		}
		p := 0
		for _, c := range n[:r.digits] {
			p = p*10 + int(c-'0')
		}
		if p >= r.lo && p <= r.hi {
			return r, true
		}
	}
	return brandRule{}, false
}

// CardBrand returns the brand of a normalized card number: visa, mastercard,
// amex, discover, diners, jcb, unionpay, or "unknown".
func CardBrand(n string) string {
	if !allDigits(n) {
		return "unknown"
	}
	if r, ok := matchBrand(n); ok {
		return r.brand
	}
	return "unknown"
}

// Luhn reports whether the digits of n pass the Luhn (mod 10) check.
func Luhn(n string) bool {
	if len(n) < 2 || !allDigits(n) {
		return false
	}
	sum, double := 0, false
	for i := len(n) - 1; i >= 0; i-- {
		d := int(n[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// CVCLength returns the CVC length required by a brand: 4 for American
// Express (the CID on the front), 3 for the others.
func CVCLength(brand string) int {
	if brand == "amex" {
		return 4
	}
	return 3
}

// Validate checks the card before any processor sees it: Luhn, length for the
// brand, expiry not in the past (a card is valid through the last day of its
// expiry month), and CVC length for the brand. prefix names the request field
// holding the card (e.g. "payment_method[card]"); errors are card errors with
// Stripe's codes so shoppers and developers get the same answer the form gives.
func (c *Card) Validate(prefix string, now time.Time) error {
	c.Number = NormalizeCardNumber(c.Number)
	c.CVC = strings.TrimSpace(c.CVC)
	c.HolderName = strings.TrimSpace(c.HolderName)
	p := func(f string) string { return prefix + "[" + f + "]" }
	cardErr := func(param, code, msg string) error {
		return &Error{Kind: ECARD, Code: code, Param: param, Message: msg}
	}
	if c.Number == "" {
		return Invalid(p("number"), "parameter_missing", "card number is required")
	}
	if !allDigits(c.Number) || len(c.Number) < 12 || len(c.Number) > 19 {
		return cardErr(p("number"), "invalid_number", "The card number is not a valid card number.")
	}
	rule, known := matchBrand(c.Number)
	if !Luhn(c.Number) {
		return cardErr(p("number"), "incorrect_number", "The card number is incorrect.")
	}
	if known {
		okLen := false
		for _, l := range rule.lengths {
			okLen = okLen || l == len(c.Number)
		}
		if !okLen {
			return cardErr(p("number"), "invalid_number", "The card number has the wrong length for its brand.")
		}
	}
	if c.ExpMonth < 1 || c.ExpMonth > 12 {
		return cardErr(p("exp_month"), "invalid_expiry_month", "The card's expiration month is invalid.")
	}
	if c.ExpYear < 100 { // two-digit years as typed in forms
		c.ExpYear += 2000
	}
	y, m, _ := now.UTC().Date()
	if c.ExpYear < y || (c.ExpYear == y && c.ExpMonth < int(m)) {
		return cardErr(p("exp_year"), "expired_card", "The card has expired.")
	}
	if c.ExpYear > y+50 {
		return cardErr(p("exp_year"), "invalid_expiry_year", "The card's expiration year is invalid.")
	}
	if want := CVCLength(rule.brand); len(c.CVC) != want || !allDigits(c.CVC) {
		return cardErr(p("cvc"), "invalid_cvc", "The card's security code must be "+uitoa(uint64(want))+" digits.")
	}
	if len(c.HolderName) > 100 {
		return Invalid(p("holder_name"), "parameter_too_long", "holder_name is longer than 100 characters")
	}
	return nil
}
