package dashboard

import (
	"fmt"
	"html"
	"html/template"
	"strings"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/engine"
)

// Charts are inline SVG built on the server: no script, no external file,
// readable by screen readers through their <title> elements. Only numbers
// and escaped text go into the markup.

const (
	chartW, chartH = 600, 160
	chartPad       = 24
)

// barChart draws one bar per day; label(i) is each bar's tooltip.
func barChart(aria string, values []float64, max float64, label func(i int) string, class string) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart %s" viewBox="0 0 %d %d" role="img" aria-label="%s" preserveAspectRatio="none">`,
		class, chartW, chartH+chartPad, html.EscapeString(aria))
	fmt.Fprintf(&b, `<title>%s</title>`, html.EscapeString(aria))
	fmt.Fprintf(&b, `<line x1="0" y1="%d" x2="%d" y2="%d" class="axis"/>`, chartH, chartW, chartH)
	n := len(values)
	if n == 0 {
		b.WriteString(`</svg>`)
		return template.HTML(b.String())
	}
	slot := float64(chartW) / float64(n)
	for i, v := range values {
		h := 0.0
		if max > 0 {
			h = v / max * (chartH - 4)
		}
		if v > 0 && h < 1 {
			h = 1
		}
		x := float64(i)*slot + slot*0.15
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s</title></rect>`,
			x, chartH-h, slot*0.7, h, html.EscapeString(label(i)))
	}
	fmt.Fprintf(&b, `<text x="0" y="%d" class="lbl">%s</text>`, chartH+chartPad-6, html.EscapeString(label(0)[:10]))
	fmt.Fprintf(&b, `<text x="%d" y="%d" class="lbl" text-anchor="end">%s</text>`, chartW, chartH+chartPad-6, html.EscapeString(label(n - 1)[:10]))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func volumeChart(c *engine.CurrencyOverview) template.HTML {
	vals := make([]float64, len(c.Days))
	max := 0.0
	for i, d := range c.Days {
		vals[i] = float64(d.Volume) // display only: bar heights, never money arithmetic
		if vals[i] > max {
			max = vals[i]
		}
	}
	return barChart("Daily volume in "+c.Currency+", last 30 days", vals, max, func(i int) string {
		d := c.Days[i]
		return fmt.Sprintf("%s: %s %s in %d payments", d.Day.Format("2006-01-02"), kassa.FormatAmount(d.Volume, c.Currency), c.Currency, d.Payments)
	}, "volume")
}

func successChart(c *engine.CurrencyOverview) template.HTML {
	vals := make([]float64, len(c.Days))
	for i, d := range c.Days {
		vals[i] = d.SuccessRate()
	}
	return barChart("Daily success rate in "+c.Currency+", last 30 days", vals, 1, func(i int) string {
		d := c.Days[i]
		return fmt.Sprintf("%s: %.1f%% of %d attempts succeeded", d.Day.Format("2006-01-02"), d.SuccessRate()*100, d.Attempts)
	}, "success")
}
