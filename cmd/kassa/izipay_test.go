package main

import (
	"strings"
	"testing"
	"time"
)

// The IPN choices Izipay does not publish are set by the environment
// (docs/izipay.md §7); unset keeps the documented defaults.
func TestIzipayIPNOptionsFromEnv(t *testing.T) {
	o, err := izipayIPNOptions(func(string) string { return "" })
	if err != nil || o.Retries != nil || o.Only200 {
		t.Fatalf("defaults: %+v %v", o, err)
	}
	env := map[string]string{"KASSA_IZIPAY_IPN_RETRIES": "10s, 1m,1h", "KASSA_IZIPAY_IPN_ACK": "200"}
	o, err = izipayIPNOptions(func(k string) string { return env[k] })
	if err != nil || len(o.Retries) != 3 || o.Retries[2] != time.Hour || !o.Only200 {
		t.Fatalf("set: %+v %v", o, err)
	}
	for k, v := range map[string]string{"KASSA_IZIPAY_IPN_RETRIES": "10s,later", "KASSA_IZIPAY_IPN_ACK": "3xx"} {
		if _, err := izipayIPNOptions(func(key string) string {
			if key == k {
				return v
			}
			return ""
		}); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: %v", k, v, err)
		}
	}
}
