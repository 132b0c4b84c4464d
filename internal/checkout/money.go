package checkout

import (
	"strings"

	"github.com/kassa-pay/kassa"
)

// currencySymbols are the symbols shoppers expect, by locale; a currency
// missing here is shown by its ISO code. They follow CLDR for en, es and
// pt-BR.
var currencySymbols = map[string]map[string]string{
	"en": {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "BRL": "R$", "MXN": "MX$", "CAD": "CA$", "AUD": "A$", "INR": "₹", "CNY": "CN¥"},
	"es": {"USD": "US$", "EUR": "€", "GBP": "GBP", "JPY": "JPY", "BRL": "BRL", "MXN": "MXN", "CAD": "CAD", "AUD": "AUD", "INR": "INR", "CNY": "CNY"},
	"pt": {"USD": "US$", "EUR": "€", "GBP": "£", "JPY": "JP¥", "BRL": "R$", "MXN": "MX$", "CAD": "CA$", "AUD": "AU$", "INR": "₹", "CNY": "CN¥"},
}

// formatMoney renders minor units for a shopper: digit grouping, decimal
// mark and symbol placement of the locale, exactly the currency's minor
// digits (from kassa.FormatAmount, never through float64).
//
//	en: $1,234.50   PEN 10.50   ¥1,050
//	es: 1234,50 US$   12.345,50 €   (Spanish groups only from five digits)
//	pt: R$ 1.234,50   US$ 10,50
func formatMoney(amount int64, currency, locale string) string {
	plain := kassa.FormatAmount(amount, currency)
	neg := strings.HasPrefix(plain, "-")
	plain = strings.TrimPrefix(plain, "-")
	intPart, frac, _ := strings.Cut(plain, ".")
	group, dec, minGroup := ",", ".", 4
	switch locale {
	case "es":
		group, dec, minGroup = ".", ",", 5
	case "pt":
		group, dec = ".", ","
	}
	if len(intPart) >= minGroup {
		var b strings.Builder
		for i, c := range intPart {
			if i > 0 && (len(intPart)-i)%3 == 0 {
				b.WriteString(group)
			}
			b.WriteRune(c)
		}
		intPart = b.String()
	}
	num := intPart
	if frac != "" {
		num += dec + frac
	}
	if neg {
		num = "-" + num
	}
	sym, ok := currencySymbols[locale][currency]
	if !ok {
		sym = currency
	}
	const nbsp = "\u00a0"
	switch locale {
	case "es":
		return num + nbsp + sym
	case "pt":
		return sym + nbsp + num
	}
	if len(sym) == 3 && sym == strings.ToUpper(sym) && sym[0] >= 'A' && sym[0] <= 'Z' { // an ISO code
		return sym + nbsp + num
	}
	return sym + num
}
