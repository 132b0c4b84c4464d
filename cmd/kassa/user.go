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

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/dashboard"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/notify"
)

// user manages dashboard users: kassa user create --merchant ID --email E
// --password P --role admin|viewer. The password may come from the
// environment (KASSA_USER_PASSWORD) instead, to keep it out of shell history.
// The role has no default: granting everything must be asked for.
func user(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: kassa user create --merchant ID --email E --password P --role admin|viewer [--json]")
	}
	fs := flag.NewFlagSet("user create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn := dbFlag(fs)
	merchantID := fs.String("merchant", "", "merchant ID (required)")
	email := fs.String("email", "", "login email (required)")
	password := fs.String("password", os.Getenv("KASSA_USER_PASSWORD"), "password, at least 10 characters (env KASSA_USER_PASSWORD)")
	role := fs.String("role", "", "admin (everything) or viewer (read only) (required)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *merchantID == "" || *email == "" || *password == "" || *role == "" {
		return errors.New("--merchant, --email, --password (or KASSA_USER_PASSWORD) and --role are required")
	}
	eng, db, err := openEngine(ctx, *dsn, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	u, err := eng.CreateUser(ctx, *merchantID, *email, *password, engine.Role(*role))
	if err != nil {
		var ke *kassa.Error
		if errors.As(err, &ke) {
			return errors.New(ke.Message)
		}
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]string{"id": u.ID, "merchant": u.MerchantID, "email": u.Email, "role": string(u.Role)})
	}
	fmt.Fprintf(stdout, "dashboard user %s (%s, %s) created for merchant %s\n", u.Email, u.Role, u.ID, u.MerchantID)
	return nil
}

// mountDashboard serves the merchant dashboard under /dashboard/ with
// serve's own notify service (so endpoint URLs pass the same SSRF guard,
// KASSA_WEBHOOK_ALLOW_PRIVATE included, as in the API) and the Shoplazza
// and Izipay services over the gateway's secret key. Without a secret key
// (PostgreSQL without KASSA_SECRET_KEY) their settings panels say they are
// not enabled.
func mountDashboard(mux *http.ServeMux, eng *engine.Engine, notifier *notify.Service, dsn string, log *slog.Logger) *dashboard.Handler {
	cfg := dashboard.Config{Notify: notifier}
	if sl, err := eng.Shoplazza(); err == nil {
		cfg.Shoplazza = sl
	}
	if key, err := secretKey(dsn); err == nil {
		if z, err := engine.NewIzipay(eng, key); err == nil {
			cfg.Izipay = z
		} else {
			log.Warn("dashboard: Izipay credentials panel disabled", "err", err)
		}
	}
	d := dashboard.New(eng, cfg, log)
	d.Register(mux)
	return d
}

// bootstrapUser gives the first-start merchant a dashboard admin with a
// random password, printed once.
func bootstrapUser(ctx context.Context, eng *engine.Engine, merchantID string, stdout io.Writer) error {
	password := kassa.RandomToken(16)
	u, err := eng.CreateUser(ctx, merchantID, "admin@kassa.test", password, engine.RoleAdmin)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, `  dashboard:       %s/dashboard/
  login:           %s
  password:        %s
`, eng.Config().BaseURL, u.Email, password)
	return nil
}
