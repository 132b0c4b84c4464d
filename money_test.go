package kassa_test

import (
	"math"
	"math/big"
	"regexp"
	"strings"
	"testing"

	"github.com/kassa-pay/kassa"
)

// TestParseAmount pins the exact decimal → minor-unit conversion for the
// exponents the gateway meets (JPY 0, PEN/USD 2, KWD 3, CLF 4): money is never
// rounded, and anything that is not a plain non-negative decimal is refused.
func TestParseAmount(t *testing.T) {
	t.Parallel()
	ok := []struct {
		in, cur string
		want    int64
	}{
		{"254.20", "USD", 25420},
		{"254.2", "USD", 25420},
		{"0.01", "USD", 1},
		{"0", "USD", 0},
		{"0.00", "USD", 0},
		{"12", "USD", 1200},
		{" 12.50 ", "USD", 1250}, // surrounding space from form fields is trimmed
		{"007.05", "USD", 705},
		{"10.500", "PEN", 1050}, // trailing zeros beyond the exponent change nothing
		{"10.50", "PEN", 1050},
		{"10.5000000", "PEN", 1050},
		{"1050", "JPY", 1050},
		{"1050.0", "JPY", 1050},
		{"1050.000", "JPY", 1050},
		{"0", "JPY", 0},
		{"1.050", "KWD", 1050},
		{"0.001", "KWD", 1},
		{"1.05", "KWD", 1050},
		{"1.2345", "CLF", 12345},
		{"0.0001", "CLF", 1},
		{"1", "CLF", 10000},
		{"99999999999.99", "USD", kassa.MaxAmount},
		{"9999999999999", "JPY", kassa.MaxAmount},
		{"000000000000000000000000000001", "JPY", 1}, // leading zeros are not magnitude
	}
	for _, c := range ok {
		got, err := kassa.ParseAmount("amount", c.in, c.cur)
		if err != nil || got != c.want {
			t.Errorf("ParseAmount(%q, %s) = %d, %v; want %d", c.in, c.cur, got, err, c.want)
		}
	}

	bad := []struct {
		in, cur, code string
	}{
		{"254.201", "USD", "amount_invalid"}, // more decimals than USD has: refused, never rounded
		{"10.505", "PEN", "amount_invalid"},
		{"10.001", "PEN", "amount_invalid"},
		{"1050.5", "JPY", "amount_invalid"},
		{"1.0505", "KWD", "amount_invalid"},
		{"1.23456", "CLF", "amount_invalid"},
		{"", "USD", "amount_invalid"},
		{"   ", "USD", "amount_invalid"},
		{"-1", "USD", "amount_invalid"},
		{"-0.01", "USD", "amount_invalid"},
		{"+1", "USD", "amount_invalid"},
		{"abc", "USD", "amount_invalid"},
		{"1,00", "USD", "amount_invalid"},
		{"1.2.3", "USD", "amount_invalid"},
		{".5", "USD", "amount_invalid"},
		{"5.", "USD", "amount_invalid"},
		{".", "USD", "amount_invalid"},
		{"1e3", "USD", "amount_invalid"},
		{"0x10", "USD", "amount_invalid"},
		{"1 000", "USD", "amount_invalid"},
		{"１２", "USD", "amount_invalid"}, // full-width digits
		{"NaN", "USD", "amount_invalid"},
		{"Inf", "USD", "amount_invalid"},
		{"12\x00", "USD", "amount_invalid"},
		{"100000000000.00", "USD", "amount_too_large"},
		{"10000000000000", "JPY", "amount_too_large"},
		{"99999999999999999999", "JPY", "amount_too_large"},
		{"9223372036854775808", "JPY", "amount_too_large"}, // > MaxInt64
		{strings.Repeat("9", 400), "USD", "amount_too_large"},
		{"1", "XXX", "currency_unsupported"},
		{"1", "usd", "currency_unsupported"}, // callers normalize the code first
		{"1", "", "currency_unsupported"},
	}
	for _, c := range bad {
		got, err := kassa.ParseAmount("amount", c.in, c.cur)
		if err == nil {
			t.Errorf("ParseAmount(%q, %s) = %d, nil; want error %s", c.in, c.cur, got, c.code)
			continue
		}
		if kassa.ErrorKind(err) != kassa.EINVALID || kassa.ErrorCode(err) != c.code {
			t.Errorf("ParseAmount(%q, %s) error = %v (kind %s); want EINVALID %s", c.in, c.cur, err, kassa.ErrorKind(err), c.code)
		}
		if got != 0 {
			t.Errorf("ParseAmount(%q, %s) returned %d with its error", c.in, c.cur, got)
		}
	}
	// The error names the field the caller passed, so the API can point at it.
	_, err := kassa.ParseAmount("vads_amount", "1.234", "USD")
	var e *kassa.Error
	if !asError(err, &e) || e.Param != "vads_amount" {
		t.Errorf("param = %+v, want vads_amount", err)
	}
}

func TestFormatAmount(t *testing.T) {
	t.Parallel()
	cases := []struct {
		amount int64
		cur    string
		want   string
	}{
		{25420, "USD", "254.20"},
		{5, "USD", "0.05"},
		{0, "USD", "0.00"},
		{-5, "USD", "-0.05"},
		{-25420, "USD", "-254.20"},
		{1050, "PEN", "10.50"},
		{1050, "JPY", "1050"},
		{0, "JPY", "0"},
		{1050, "KWD", "1.050"},
		{1, "KWD", "0.001"},
		{12345, "CLF", "1.2345"},
		{1, "CLF", "0.0001"},
		{kassa.MaxAmount, "USD", "99999999999.99"},
		{math.MaxInt64, "JPY", "9223372036854775807"},
		{math.MinInt64, "USD", "-92233720368547758.08"},
	}
	for _, c := range cases {
		if got := kassa.FormatAmount(c.amount, c.cur); got != c.want {
			t.Errorf("FormatAmount(%d, %s) = %q, want %q", c.amount, c.cur, got, c.want)
		}
	}
	// Round trip over every supported currency and a spread of magnitudes.
	for _, cur := range []string{"JPY", "USD", "PEN", "EUR", "KWD", "BHD", "CLF", "UYW", "IDR"} {
		for _, v := range []int64{0, 1, 9, 10, 99, 100, 101, 999, 1000, 1001, 123456789, kassa.MaxAmount} {
			s := kassa.FormatAmount(v, cur)
			back, err := kassa.ParseAmount("amount", s, cur)
			if err != nil || back != v {
				t.Errorf("ParseAmount(FormatAmount(%d, %s) = %q) = %d, %v", v, cur, s, back, err)
			}
		}
	}
}

func TestCurrencyExponents(t *testing.T) {
	t.Parallel()
	for cur, want := range map[string]int{"JPY": 0, "KRW": 0, "CLP": 0, "USD": 2, "PEN": 2, "EUR": 2, "KWD": 3, "BHD": 3, "TND": 3, "CLF": 4} {
		if got, ok := kassa.CurrencyExponent(cur); !ok || got != want {
			t.Errorf("CurrencyExponent(%s) = %d, %v; want %d", cur, got, ok, want)
		}
	}
	if _, ok := kassa.CurrencyExponent("XXX"); ok {
		t.Error("XXX is supported")
	}
	if c, err := kassa.NormalizeCurrency("currency", " pen "); err != nil || c != "PEN" {
		t.Errorf("NormalizeCurrency(pen) = %q, %v", c, err)
	}
	for in, code := range map[string]string{"": "parameter_missing", "xyz": "currency_unsupported", "US": "currency_unsupported"} {
		if _, err := kassa.NormalizeCurrency("currency", in); kassa.ErrorKind(err) != kassa.EINVALID || kassa.ErrorCode(err) != code {
			t.Errorf("NormalizeCurrency(%q) = %v, want %s", in, err, code)
		}
	}
}

var plainDecimal = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// FuzzParseAmount checks ParseAmount against an independent exact oracle
// (math/big): it accepts exactly the plain decimals that are a whole number of
// minor units within MaxAmount, returns that number, and FormatAmount gives a
// string that parses back to it. The seeds run as a normal test.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"254.20", "10.500", "0", "1.2345", "1.23456", "0.001", "-1", "", "1e3", ".5", "5.",
		"99999999999.99", "100000000000", "9223372036854775808", "00001.10", " 7 ", "１"} {
		for i := range fuzzCurrencies {
			f.Add(s, uint8(i))
		}
	}
	f.Fuzz(func(t *testing.T, s string, ci uint8) {
		cur := fuzzCurrencies[int(ci)%len(fuzzCurrencies)]
		exp, _ := kassa.CurrencyExponent(cur)
		v, err := kassa.ParseAmount("amount", s, cur)

		// The oracle: s (trimmed) must be digits[.digits]; its exact value
		// times 10^exp must be an integer in [0, MaxAmount].
		trimmed := strings.TrimSpace(s)
		var want *big.Int
		if plainDecimal.MatchString(trimmed) && len(trimmed) < 10000 {
			r, ok := new(big.Rat).SetString(trimmed)
			if !ok {
				t.Fatalf("big.Rat cannot parse %q", trimmed)
			}
			r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(exp)), nil)))
			if r.IsInt() && r.Num().Cmp(big.NewInt(kassa.MaxAmount)) <= 0 {
				want = r.Num()
			}
		}
		switch {
		case want == nil && err == nil:
			t.Fatalf("ParseAmount(%q, %s) = %d, accepted a value that is not a whole amount of minor units within bounds", s, cur, v)
		case want != nil && err != nil:
			t.Fatalf("ParseAmount(%q, %s) refused a valid amount (%s minor units): %v", s, cur, want, err)
		case want != nil && want.Int64() != v:
			t.Fatalf("ParseAmount(%q, %s) = %d, want %s", s, cur, v, want)
		case err != nil:
			if kassa.ErrorKind(err) != kassa.EINVALID || v != 0 {
				t.Fatalf("ParseAmount(%q, %s) = %d, %v: want 0 and an EINVALID error", s, cur, v, err)
			}
			return
		}
		out := kassa.FormatAmount(v, cur)
		back, err := kassa.ParseAmount("amount", out, cur)
		if err != nil || back != v {
			t.Fatalf("round trip %q → %d → %q → %d, %v", s, v, out, back, err)
		}
		if !plainDecimal.MatchString(out) || (exp > 0 && len(out)-strings.IndexByte(out, '.')-1 != exp) {
			t.Fatalf("FormatAmount(%d, %s) = %q: want exactly %d fraction digits", v, cur, out, exp)
		}
	})
}

var fuzzCurrencies = []string{"JPY", "USD", "PEN", "KWD", "CLF"}

func asError(err error, target **kassa.Error) bool {
	e, ok := err.(*kassa.Error)
	if ok {
		*target = e
	}
	return ok
}
