package checkout

import (
	"strings"
	"testing"
)

func TestFormatMoney(t *testing.T) {
	for _, c := range []struct {
		amount           int64
		currency, locale string
		want             string
	}{
		{2500, "USD", "en", "$25.00"},
		{123450, "USD", "en", "$1,234.50"},
		{1050, "PEN", "en", "PEN 10.50"},
		{1050, "JPY", "en", "¥1,050"},
		{1050, "KWD", "en", "KWD 1.050"},
		{123450, "USD", "es", "1234,50 US$"},
		{1234550, "EUR", "es", "12.345,50 €"},
		{5, "EUR", "es", "0,05 €"},
		{123450, "BRL", "pt", "R$ 1.234,50"},
		{2500, "USD", "pt", "US$ 25,00"},
		{99999999999999, "USD", "en", "$999,999,999,999.99"},
	} {
		got := strings.ReplaceAll(formatMoney(c.amount, c.currency, c.locale), "\u00a0", " ")
		if got != c.want {
			t.Errorf("formatMoney(%d, %s, %s) = %q, want %q", c.amount, c.currency, c.locale, got, c.want)
		}
	}
}

func TestPickLocale(t *testing.T) {
	for _, c := range []struct{ q, accept, want string }{
		{"es", "", "es"}, {"pt-BR", "", "pt"}, {"", "fr-FR,pt;q=0.8,en;q=0.5", "pt"}, {"de", "de", "en"}, {"", "", "en"},
	} {
		if got := pickLocale(c.q, c.accept); got != c.want {
			t.Errorf("pickLocale(%q, %q) = %q, want %q", c.q, c.accept, got, c.want)
		}
	}
}
