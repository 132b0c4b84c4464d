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
	"strings"
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

// Do runs chromedp actions in ctx and fails the test on an error.
func Do(t testing.TB, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// WaitJS evaluates expr in ctx until it is true (for up to 20 s),
// tolerating navigations in between: a redirect back to the shop, a frame
// being replaced.
func WaitJS(t testing.TB, ctx context.Context, expr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	t.Fatalf("waiting for %s (at %s): %v", expr, loc, last)
}

// Frame returns a context acting inside the first iframe whose URL starts
// with prefix, waiting up to 20 s for it. Chrome runs a cross-site iframe as
// a target of its own, so it is found among the browser's targets, not in
// the page's DOM.
func Frame(t testing.TB, ctx context.Context, prefix string) context.Context {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		infos, err := chromedp.Targets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, info := range infos {
			if info.Type == "iframe" && strings.HasPrefix(info.URL, prefix) {
				fctx, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(info.TargetID))
				t.Cleanup(cancel)
				return fctx
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	t.Fatalf("no iframe at %s appeared (page at %s)", prefix, loc)
	return nil
}

// Form returns a context acting inside Kassa's card form served by the
// gateway at gatewayURL, once its card number field shows: the tab itself
// in redirect mode, else the form's iframe.
func Form(t testing.TB, ctx context.Context, gatewayURL, mode string) context.Context {
	t.Helper()
	if mode != "redirect" {
		ctx = Frame(t, ctx, gatewayURL+"/pay/")
	}
	Do(t, ctx, chromedp.WaitVisible(chromedp.CSS("#card-number")))
	return ctx
}
