package kassa

import (
	"math"
	"strings"
)

// currencyExponents maps ISO 4217 alphabetic codes to the number of minor-unit
// digits the gateway uses for amounts. It follows ISO 4217 (checked against
// bojanz/currency, see specs/go-libraries.md §6), not CLDR display digits: IDR
// has 2 minor digits here although it is usually shown without them. An
// amount is always an int64 count of minor units: 1050 JPY is ¥1050, 1050 PEN
// is S/ 10.50, 1050 KWD is 1.050 KD.
var currencyExponents = map[string]int{
	"AED": 2, "AFN": 2, "ALL": 2, "AMD": 2, "ANG": 2, "AOA": 2, "ARS": 2, "AUD": 2, "AWG": 2, "AZN": 2,
	"BAM": 2, "BBD": 2, "BDT": 2, "BGN": 2, "BHD": 3, "BIF": 0, "BMD": 2, "BND": 2, "BOB": 2, "BRL": 2,
	"BSD": 2, "BTN": 2, "BWP": 2, "BYN": 2, "BZD": 2, "CAD": 2, "CDF": 2, "CHF": 2, "CLF": 4, "CLP": 0,
	"CNY": 2, "COP": 2, "CRC": 2, "CUP": 2, "CVE": 2, "CZK": 2, "DJF": 0, "DKK": 2, "DOP": 2, "DZD": 2,
	"EGP": 2, "ERN": 2, "ETB": 2, "EUR": 2, "FJD": 2, "FKP": 2, "GBP": 2, "GEL": 2, "GHS": 2, "GIP": 2,
	"GMD": 2, "GNF": 0, "GTQ": 2, "GYD": 2, "HKD": 2, "HNL": 2, "HTG": 2, "HUF": 2, "IDR": 2, "ILS": 2,
	"INR": 2, "IQD": 3, "IRR": 2, "ISK": 0, "JMD": 2, "JOD": 3, "JPY": 0, "KES": 2, "KGS": 2, "KHR": 2,
	"KMF": 0, "KPW": 2, "KRW": 0, "KWD": 3, "KYD": 2, "KZT": 2, "LAK": 2, "LBP": 2, "LKR": 2, "LRD": 2,
	"LSL": 2, "LYD": 3, "MAD": 2, "MDL": 2, "MGA": 2, "MKD": 2, "MMK": 2, "MNT": 2, "MOP": 2, "MRU": 2,
	"MUR": 2, "MVR": 2, "MWK": 2, "MXN": 2, "MYR": 2, "MZN": 2, "NAD": 2, "NGN": 2, "NIO": 2, "NOK": 2,
	"NPR": 2, "NZD": 2, "OMR": 3, "PAB": 2, "PEN": 2, "PGK": 2, "PHP": 2, "PKR": 2, "PLN": 2, "PYG": 0,
	"QAR": 2, "RON": 2, "RSD": 2, "RUB": 2, "RWF": 0, "SAR": 2, "SBD": 2, "SCR": 2, "SDG": 2, "SEK": 2,
	"SGD": 2, "SHP": 2, "SLE": 2, "SOS": 2, "SRD": 2, "SSP": 2, "STN": 2, "SVC": 2, "SYP": 2, "SZL": 2,
	"THB": 2, "TJS": 2, "TMT": 2, "TND": 3, "TOP": 2, "TRY": 2, "TTD": 2, "TWD": 2, "TZS": 2, "UAH": 2,
	"UGX": 0, "USD": 2, "UYI": 0, "UYU": 2, "UYW": 4, "UZS": 2, "VES": 2, "VND": 0, "VUV": 0, "WST": 2,
	"XAF": 0, "XCD": 2, "XOF": 0, "XPF": 0, "YER": 2, "ZAR": 2, "ZMW": 2, "ZWG": 2,
}

// CurrencyExponent returns the number of minor-unit digits of an upper-case
// ISO 4217 code and whether the gateway supports the currency.
func CurrencyExponent(code string) (int, bool) {
	e, ok := currencyExponents[code]
	return e, ok
}

// NormalizeCurrency upper-cases code and checks that it is supported; param
// names the request field for the error.
func NormalizeCurrency(param, code string) (string, error) {
	c := strings.ToUpper(strings.TrimSpace(code))
	if c == "" {
		return "", Invalid(param, "parameter_missing", "currency is required (an ISO 4217 code such as USD)")
	}
	if _, ok := currencyExponents[c]; !ok {
		return "", Invalid(param, "currency_unsupported", "currency %q is not a supported ISO 4217 code", code)
	}
	return c, nil
}

// MaxAmount bounds every amount. It is far above any card payment and keeps
// sums of many amounts far from int64 overflow.
const MaxAmount int64 = 99_999_999_999_99

// ParseAmount parses a decimal string such as "254.20" into minor units of
// currency, exactly: the digits are read as an integer, never through
// float64, and a value with more fraction digits than the currency has minor
// units is refused rather than rounded (money is never silently changed).
// Trailing zeros beyond the exponent are accepted ("10.500" PEN is 1050).
func ParseAmount(param, s, currency string) (int64, error) {
	exp, ok := currencyExponents[currency]
	if !ok {
		return 0, Invalid("currency", "currency_unsupported", "currency %q is not supported", currency)
	}
	s = strings.TrimSpace(s)
	intPart, frac, hasDot := strings.Cut(s, ".")
	if s == "" || intPart == "" || (hasDot && frac == "") || !allDigits(intPart) || !allDigits(frac) {
		return 0, Invalid(param, "amount_invalid", "amount %q is not a non-negative decimal number like 12.50", s)
	}
	trimmed := strings.TrimRight(frac, "0")
	if len(trimmed) > exp {
		return 0, Invalid(param, "amount_invalid", "amount %q has more decimals than %s allows (%d)", s, currency, exp)
	}
	frac = trimmed + strings.Repeat("0", exp-len(trimmed))
	digits := strings.TrimLeft(intPart+frac, "0")
	if len(digits) > 18 {
		return 0, Invalid(param, "amount_too_large", "amount %q is too large", s)
	}
	var v int64
	for _, c := range digits {
		v = v*10 + int64(c-'0')
	}
	if v > MaxAmount {
		return 0, Invalid(param, "amount_too_large", "amount %q is too large", s)
	}
	return v, nil
}

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// FormatAmount renders minor units as a plain decimal string with exactly the
// currency's number of fraction digits: 25420 USD → "254.20", 1050 JPY → "1050".
func FormatAmount(amount int64, currency string) string {
	exp := currencyExponents[currency]
	neg := amount < 0
	u := uint64(amount)
	if neg {
		u = uint64(-amount)
		if amount == math.MinInt64 {
			u = uint64(math.MaxInt64) + 1
		}
	}
	s := uitoa(u)
	if exp > 0 {
		if len(s) <= exp {
			s = strings.Repeat("0", exp-len(s)+1) + s
		}
		s = s[:len(s)-exp] + "." + s[len(s)-exp:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

func uitoa(u uint64) string {
	if u == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for u > 0 {
		i--
		b[i] = byte('0' + u%10)
		u /= 10
	}
	return string(b[i:])
}
