package shoplazza

import (
	"testing"

	"github.com/kassa-pay/kassa/internal/engine"
)

// The iframe size answered is the binding's (or the default), never below
// Shoplazza's 300×200 minimum nor above the configured maximum.
func TestIframeSizeClamped(t *testing.T) {
	cfg := Config{IframeMax: [2]int{1200, 800}}
	cfg.defaults()
	h := &Handler{cfg: cfg}
	for _, c := range []struct{ w, h, wantW, wantH int }{
		{0, 0, 480, 640},        // the default
		{50, 50, 300, 200},      // the minimum
		{299, 199, 300, 200},    // just below it
		{300, 200, 300, 200},    // at it
		{640, 480, 640, 480},    // as bound
		{5000, 5000, 1200, 800}, // the maximum
	} {
		gw, gh := h.iframeSize(&engine.ShoplazzaBinding{IframeWidth: c.w, IframeHeight: c.h})
		if gw != c.wantW || gh != c.wantH {
			t.Errorf("%dx%d answered %dx%d, want %dx%d", c.w, c.h, gw, gh, c.wantW, c.wantH)
		}
	}
	// A maximum configured below the minimum still answers the minimum.
	small := Config{IframeMax: [2]int{100, 100}}
	small.defaults()
	if w, ht := (&Handler{cfg: small}).iframeSize(&engine.ShoplazzaBinding{}); w != 300 || ht != 200 {
		t.Errorf("max below min: %dx%d", w, ht)
	}
}
