package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/internal/shoplazza"
)

const shoplazzaUsage = "usage: kassa shoplazza bind --merchant ID --app-id A --client-secret S --shop-domain D --access-token T --account-id X " +
	"[--model redirect|iframe] [--iframe-width W] [--iframe-height H] [--sign-key K] [--json] [--db kassa.db]"

// shoplazzaCmd is `kassa shoplazza bind …`: maps a Shoplazza shop to a
// Kassa merchant. The client secret, access token and signing key are
// stored sealed with the gateway's secret key (KASSA_SECRET_KEY or the key
// file next to a SQLite database).
func shoplazzaCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "bind" {
		return errors.New(shoplazzaUsage)
	}
	fs := flag.NewFlagSet("shoplazza bind", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn := dbFlag(fs)
	var p engine.ShoplazzaBindParams
	fs.StringVar(&p.MerchantID, "merchant", "", "Kassa merchant ID (required)")
	fs.StringVar(&p.AppID, "app-id", "", "the payments app's app_id (required)")
	fs.StringVar(&p.ClientSecret, "client-secret", "", "the app's client secret, which signs requests (required)")
	fs.StringVar(&p.ShopDomain, "shop-domain", "", "the shop's Shoplazza domain, e.g. acme.myshoplaza.com (required)")
	fs.StringVar(&p.AccessToken, "access-token", "", "the shop's OAuth access token for complete and notify calls (required)")
	fs.StringVar(&p.AccountID, "account-id", "", "the account_id the shop sends (required)")
	fs.StringVar(&p.Model, "model", "redirect", "payment model of the app: redirect or iframe")
	fs.IntVar(&p.IframeWidth, "iframe-width", 0, "iframe width in pixels (iframe model; at least 300)")
	fs.IntVar(&p.IframeHeight, "iframe-height", 0, "iframe height in pixels (iframe model; at least 200)")
	fs.StringVar(&p.SignKey, "sign-key", "", "optional per-shop signing key (signature key source merchant_key)")
	fs.BoolVar(&p.Reassign, "reassign", false, "move a shop bound to another merchant to this one (operators only)")
	asJSON := fs.Bool("json", false, "print the binding as JSON")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	eng, db, err := openEngine(ctx, *dsn, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	key, err := secretKey(*dsn)
	if err != nil {
		return err
	}
	s, err := engine.NewShoplazza(eng, key)
	if err != nil {
		return err
	}
	b, err := s.Bind(ctx, p)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{"shop_domain": b.ShopDomain, "merchant": b.MerchantID,
			"app_id": b.AppID, "account_id": b.AccountID, "model": b.Model, "livemode": b.Livemode})
	}
	fmt.Fprintf(stdout, "bound shop %s (app %s, account %s, model %s) to merchant %s\n", b.ShopDomain, b.AppID, b.AccountID, b.Model, b.MerchantID)
	return nil
}

// mountShoplazza serves the Shoplazza payments app routes over eng. Its
// FrameAncestors must be the checkout's (checkout.Config.FrameAncestors)
// for the iframe model's hosted page to be framable by the shop. Without a
// secret key the
// routes stay off (PostgreSQL needs KASSA_SECRET_KEY). The Notify format
// (h.Format(), name shoplazza.FormatName) must be registered with the
// process's notify.Service for Notify calls to be sent.
func mountShoplazza(mux *http.ServeMux, eng *engine.Engine, key []byte, log *slog.Logger) (*shoplazza.Handler, error) {
	s, err := engine.NewShoplazza(eng, key)
	if err != nil {
		return nil, err
	}
	cfg, err := shoplazzaConfig(os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("Shoplazza settings: %w", err)
	}
	h, err := shoplazza.New(s, cfg, log)
	if err != nil {
		return nil, fmt.Errorf("Shoplazza settings: %w", err)
	}
	h.Register(mux)
	return h, nil
}

// shoplazzaConfig reads the choices Shoplazza's public material leaves
// open (docs/shoplazza.md §4) from the environment; unset variables keep
// shoplazza.Config's defaults. A malformed value is an error, never a
// silent default: a wrong signature scheme would refuse every request.
//
//	KASSA_SHOPLAZZA_SIGNATURE              key+canonical+encoding (client_secret+raw_body+hex)
//	KASSA_SHOPLAZZA_ACCEPT_ANY_SIGNATURE   true: accept any canonical form/encoding, log which matched (false)
//	KASSA_SHOPLAZZA_TIMESTAMP_WINDOW       Go duration (15m); "off" disables the check
//	KASSA_SHOPLAZZA_FAILURE_STATUS         HTTP status of refusals other than 401/409 (400); 200 answers them all with 200
//	KASSA_SHOPLAZZA_IFRAME_KEYS            names of the iframe size keys (width,height)
//	KASSA_SHOPLAZZA_IFRAME_DEFAULT         size when a binding sets none (480x640)
//	KASSA_SHOPLAZZA_IFRAME_MAX             largest size answered (1920x1080)
//	KASSA_SHOPLAZZA_COMPLETE_STATUS        status of the complete call (paying)
//	KASSA_SHOPLAZZA_AMOUNT                 number | string: amount in complete/notify bodies (number)
//	KASSA_SHOPLAZZA_REFUND_PENDING_STATUS  refund answer status while not final (refund_pending)
//	KASSA_SHOPLAZZA_NOTIFY_RETRIES         waits before each retry, comma separated (0s,5s,10s,30s,45s,1m,2m,5m,12m,38m,1h,2h,4h,4h,4h,4h,4h)
func shoplazzaConfig(getenv func(string) string) (shoplazza.Config, error) {
	var c shoplazza.Config
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	bad := func(k, v, want string) error { return fmt.Errorf("%s=%q: want %s", k, v, want) }
	if v := get("KASSA_SHOPLAZZA_SIGNATURE"); v != "" {
		parts := strings.Split(v, "+")
		if len(parts) != 3 {
			return c, bad("KASSA_SHOPLAZZA_SIGNATURE", v, "key+canonical+encoding, e.g. client_secret+raw_body+hex")
		}
		c.Signature = shoplazza.SigScheme{KeySource: parts[0], Canonical: parts[1], Encoding: parts[2]}
		if err := c.Signature.Validate(); err != nil {
			return c, fmt.Errorf("KASSA_SHOPLAZZA_SIGNATURE: %w", err)
		}
	}
	if v := get("KASSA_SHOPLAZZA_ACCEPT_ANY_SIGNATURE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return c, bad("KASSA_SHOPLAZZA_ACCEPT_ANY_SIGNATURE", v, "true or false")
		}
		c.AcceptAnyScheme = b
	}
	if v := get("KASSA_SHOPLAZZA_TIMESTAMP_WINDOW"); v != "" {
		if v == "off" {
			c.TimestampWindow = -1
		} else if d, err := time.ParseDuration(v); err != nil || d <= 0 {
			return c, bad("KASSA_SHOPLAZZA_TIMESTAMP_WINDOW", v, `a positive duration such as 15m, or "off"`)
		} else {
			c.TimestampWindow = d
		}
	}
	if v := get("KASSA_SHOPLAZZA_FAILURE_STATUS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || !(n == 200 || n >= 400 && n < 500) {
			return c, bad("KASSA_SHOPLAZZA_FAILURE_STATUS", v, "200 or a 4xx status")
		}
		c.FailureStatus = n
	}
	if v := get("KASSA_SHOPLAZZA_IFRAME_KEYS"); v != "" {
		w, h, ok := strings.Cut(v, ",")
		w, h = strings.TrimSpace(w), strings.TrimSpace(h)
		if !ok || w == "" || h == "" || w == h || w == "redirect_url" || h == "redirect_url" {
			return c, bad("KASSA_SHOPLAZZA_IFRAME_KEYS", v, "two distinct key names, e.g. width,height")
		}
		c.IframeWidthKey, c.IframeHeightKey = w, h
	}
	for _, sz := range []struct {
		key string
		dst *[2]int
	}{{"KASSA_SHOPLAZZA_IFRAME_DEFAULT", &c.IframeDefault}, {"KASSA_SHOPLAZZA_IFRAME_MAX", &c.IframeMax}} {
		v := get(sz.key)
		if v == "" {
			continue
		}
		w, h, ok := strings.Cut(v, "x")
		wd, err1 := strconv.Atoi(w)
		ht, err2 := strconv.Atoi(h)
		if !ok || err1 != nil || err2 != nil || wd < 300 || ht < 200 || wd > 10000 || ht > 10000 {
			return c, bad(sz.key, v, "WIDTHxHEIGHT in pixels, at least 300x200")
		}
		*sz.dst = [2]int{wd, ht}
	}
	if v := get("KASSA_SHOPLAZZA_COMPLETE_STATUS"); v != "" {
		c.CompleteStatus = v
	}
	switch v := get("KASSA_SHOPLAZZA_AMOUNT"); v {
	case "", "number":
	case "string":
		c.AmountAsString = true
	default:
		return c, bad("KASSA_SHOPLAZZA_AMOUNT", v, "number or string")
	}
	if v := get("KASSA_SHOPLAZZA_REFUND_PENDING_STATUS"); v != "" {
		c.RefundPendingStatus = v
	}
	if v := get("KASSA_SHOPLAZZA_NOTIFY_RETRIES"); v != "" {
		var s notify.Schedule
		for _, part := range strings.Split(v, ",") {
			d, err := time.ParseDuration(strings.TrimSpace(part))
			if err != nil || d < 0 {
				return c, bad("KASSA_SHOPLAZZA_NOTIFY_RETRIES", v, "comma-separated durations such as 0s,5s,10s,…,4h")
			}
			s = append(s, d)
		}
		c.NotifySchedule = s
	}
	return c, nil
}
