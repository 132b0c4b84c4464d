package main

import (
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/internal/shoplazza"
)

// The operator reaches every open choice of the Shoplazza protocol through
// the environment (docs/shoplazza.md §4); unset keeps the documented
// defaults, and a malformed value is refused, naming the variable.
func TestShoplazzaConfigFromEnv(t *testing.T) {
	c, err := shoplazzaConfig(func(string) string { return "" })
	if err != nil || c.Signature != (shoplazza.SigScheme{}) || c.TimestampWindow != 0 || c.FailureStatus != 0 || c.NotifySchedule != nil {
		t.Fatalf("empty environment: %+v, %v (want the zero Config: the adapter's defaults)", c, err)
	}
	env := map[string]string{
		"KASSA_SHOPLAZZA_SIGNATURE":             "merchant_key+sorted_params+base64",
		"KASSA_SHOPLAZZA_ACCEPT_ANY_SIGNATURE":  "true",
		"KASSA_SHOPLAZZA_TIMESTAMP_WINDOW":      "5m",
		"KASSA_SHOPLAZZA_FAILURE_STATUS":        "200",
		"KASSA_SHOPLAZZA_IFRAME_KEYS":           "iframe_width, iframe_height",
		"KASSA_SHOPLAZZA_IFRAME_DEFAULT":        "500x600",
		"KASSA_SHOPLAZZA_IFRAME_MAX":            "1200x800",
		"KASSA_SHOPLAZZA_COMPLETE_STATUS":       "paid",
		"KASSA_SHOPLAZZA_AMOUNT":                "string",
		"KASSA_SHOPLAZZA_REFUND_PENDING_STATUS": "processing",
		"KASSA_SHOPLAZZA_NOTIFY_RETRIES":        "5s, 1m",
	}
	c, err = shoplazzaConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := shoplazza.SigScheme{KeySource: shoplazza.KeyMerchantKey, Canonical: shoplazza.CanonicalSortedParams, Encoding: shoplazza.EncodingBase64}
	if c.Signature != want || !c.AcceptAnyScheme || c.TimestampWindow != 5*time.Minute || c.FailureStatus != 200 ||
		c.IframeWidthKey != "iframe_width" || c.IframeHeightKey != "iframe_height" || c.IframeDefault != [2]int{500, 600} ||
		c.IframeMax != [2]int{1200, 800} || c.CompleteStatus != "paid" || !c.AmountAsString || c.RefundPendingStatus != "processing" ||
		len(c.NotifySchedule) != 2 || c.NotifySchedule[1] != time.Minute {
		t.Fatalf("config %+v", c)
	}
	if c, err := shoplazzaConfig(func(k string) string {
		if k == "KASSA_SHOPLAZZA_TIMESTAMP_WINDOW" {
			return "off"
		}
		return ""
	}); err != nil || c.TimestampWindow >= 0 {
		t.Fatalf("off: %v %v", c.TimestampWindow, err)
	}
	for k, v := range map[string]string{
		"KASSA_SHOPLAZZA_SIGNATURE":            "client_secret+raw_body+rot13",
		"KASSA_SHOPLAZZA_ACCEPT_ANY_SIGNATURE": "maybe",
		"KASSA_SHOPLAZZA_TIMESTAMP_WINDOW":     "-1m",
		"KASSA_SHOPLAZZA_FAILURE_STATUS":       "302",
		"KASSA_SHOPLAZZA_IFRAME_KEYS":          "width",
		"KASSA_SHOPLAZZA_IFRAME_MAX":           "200x100",
		"KASSA_SHOPLAZZA_AMOUNT":               "float",
		"KASSA_SHOPLAZZA_NOTIFY_RETRIES":       "5s,soon",
	} {
		_, err := shoplazzaConfig(func(key string) string {
			if key == k {
				return v
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: %v, want an error naming the variable", k, v, err)
		}
	}
}
