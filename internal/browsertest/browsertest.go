// Package browsertest starts Debian's headless Chromium for Kassa's browser
// tests, the same way for every package: a fresh user-data directory per
// browser, the flags this machine needs (no sandbox as root; no background
// networking, whose connections the closed network refuses), and the CI rule
// that a browser suite never silently skips: without Chromium the tests skip
// locally but fail under CI=true.
package browsertest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path returns the Chromium executable (KASSA_TEST_CHROMIUM, default
// /usr/bin/chromium), skipping the test when it is missing, or failing it
// under CI=true.
func Path(t testing.TB) string {
	t.Helper()
	p := os.Getenv("KASSA_TEST_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("browser tests need Chromium under CI=true, but %s is missing (set KASSA_TEST_CHROMIUM or run ./scripts/test)", p)
		}
		t.Skipf("Chromium not found at %s; set KASSA_TEST_CHROMIUM or run ./scripts/test", p)
	}
	return p
}

// New starts a headless Chromium with a 1280×900 window and returns its
// browser context, which ends after timeout (none if 0) and is closed when
// the test ends.
func New(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(Path(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1280, 900),
	)
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, timeout)
		t.Cleanup(cancel)
	}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return ctx
}
