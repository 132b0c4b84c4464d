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

	"github.com/kassa-pay/kassa/internal/engine"
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
func mountShoplazza(mux *http.ServeMux, eng *engine.Engine, dsn string, log *slog.Logger) *shoplazza.Handler {
	key, err := secretKey(dsn)
	if err != nil {
		log.Warn("Shoplazza payments app routes disabled", "err", err)
		return nil
	}
	s, err := engine.NewShoplazza(eng, key)
	if err != nil {
		log.Warn("Shoplazza payments app routes disabled", "err", err)
		return nil
	}
	h, err := shoplazza.New(s, shoplazza.Config{}, log)
	if err != nil {
		log.Warn("Shoplazza payments app routes disabled", "err", err)
		return nil
	}
	h.Register(mux)
	return h
}
