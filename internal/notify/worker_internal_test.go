package notify

import (
	"net/http"
	"testing"
	"time"
)

// Retry waits are spread by the jitter fraction either way, and spread
// (not all equal), so a receiver coming back is not hit by every retry at once.
func TestJitterSpreadsWaits(t *testing.T) {
	s := New(nil, Config{}, nil) // defaults: Jitter 0.1
	if s.cfg.Jitter != 0.1 || s.cfg.Timeout != 15*time.Second {
		t.Fatalf("defaults: jitter %v, timeout %v", s.cfg.Jitter, s.cfg.Timeout)
	}
	base := 5 * time.Minute
	seen := map[time.Duration]bool{}
	for i := 0; i < 200; i++ {
		d := s.jitter(base)
		if d < base*9/10 || d > base*11/10 {
			t.Fatalf("jitter(%v) = %v, outside ±10%%", base, d)
		}
		seen[d] = true
	}
	if len(seen) < 50 {
		t.Fatalf("only %d distinct waits in 200: no real jitter", len(seen))
	}
	if d := s.jitter(0); d != 0 {
		t.Fatalf("an immediate retry was delayed by %v", d)
	}
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"120", 2 * time.Minute, true},
		{"0", 0, true},
		{now.Add(time.Hour).Format(http.TimeFormat), time.Hour, true},
		{"", 0, false},
		{"-5", 0, false},
		{"soon", 0, false},
	} {
		got, ok := retryAfter(c.v, now)
		if ok != c.ok || got != c.want {
			t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", c.v, got, ok, c.want, c.ok)
		}
	}
}
