package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemo runs `kassa demo` on free ports: it prints the shop's URL, the
// shop is on another origin than the gateway, offers the three modes with a
// product and a Pay button, loads kassa.js from the gateway, and creates
// payments the gateway's form opens. (The browser tests of
// internal/checkout drive this same shop through Chromium.)
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--addr", "127.0.0.1:0", "--shop-addr", "127.0.0.1:0"}, out, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo: %v", err)
		}
	})
	gatewayRE := regexp.MustCompile(`gateway:\s+(http://\S+)`)
	shopRE := regexp.MustCompile(`demo shop:\s+(http://\S+)\s+<- open this`)
	var gateway, shop string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		s := out.String()
		if g, sh := gatewayRE.FindStringSubmatch(s), shopRE.FindStringSubmatch(s); g != nil && sh != nil {
			gateway, shop = g[1], sh[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("demo ended: %v\n%s", err, s)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo printed no URLs:\n%s", s)
		}
	}
	if !strings.HasPrefix(shop, "http://localhost:") || strings.HasPrefix(gateway, "http://localhost:") {
		t.Errorf("shop %s and gateway %s should be different sites", shop, gateway)
	}

	get := func(u string) string {
		t.Helper()
		res, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Fatalf("GET %s: %d", u, res.StatusCode)
		}
		return string(b)
	}
	page := get(shop + "/")
	for _, want := range []string{`id="mode-embedded"`, `id="mode-popup"`, `id="mode-redirect"`, `id="pay"`, `class="price"`,
		`<script src="` + gateway + `/js/v1/kassa.js">`} {
		if !strings.Contains(page, want) {
			t.Errorf("shop page lacks %s", want)
		}
	}
	if js := get(gateway + "/js/v1/kassa.js"); !strings.Contains(js, "Kassa.prototype.mount") {
		t.Error("gateway does not serve kassa.js")
	}

	// The shop's Pay button asks its server for a payment.
	res, err := http.Post(shop+"/api/payments", "application/json", strings.NewReader(`{"mode":"embedded","locale":"es"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var p struct {
		ClientSecret string `json:"client_secret"`
	}
	if err := json.NewDecoder(res.Body).Decode(&p); err != nil || res.StatusCode != 200 || p.ClientSecret == "" {
		t.Fatalf("shop /api/payments: %d %+v %v", res.StatusCode, p, err)
	}
	if form := get(gateway + "/pay/" + p.ClientSecret + "?locale=es"); !strings.Contains(form, `autocomplete="cc-number"`) || !strings.Contains(form, "Kassa Demo Shop") {
		t.Errorf("the demo payment's form: %.300s", form)
	}
}
