package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/kassa-pay/kassa/internal/api"
	"github.com/kassa-pay/kassa/internal/checkout"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/izipay"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/internal/processor"
	"github.com/kassa-pay/kassa/internal/shoplazza"
	"github.com/kassa-pay/kassa/internal/store"
)

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", env("KASSA_ADDR", "127.0.0.1:8080"), "listen address (env KASSA_ADDR)")
	dsn := dbFlag(fs)
	baseURL := fs.String("base-url", env("KASSA_BASE_URL", ""), "public URL of the gateway, for links (env KASSA_BASE_URL; default http://ADDR)")
	reconcileEvery := fs.Duration("reconcile-interval", time.Minute, "how often the reconciler runs")
	webhookWorkers := fs.Int("webhook-workers", 8, "concurrent webhook/IPN deliveries (KASSA_WEBHOOK_ALLOW_PRIVATE=true permits private and loopback destinations)")
	ttl, err := envDuration("KASSA_CHECKOUT_TTL", engine.DefaultClientSecretTTL)
	if err != nil {
		return err
	}
	checkoutTTL := fs.Duration("checkout-ttl", ttl, "how long a payment's client secret opens the checkout form (env KASSA_CHECKOUT_TTL)")
	reconcileGrace := fs.Duration("reconcile-grace", 0, "age at which a pending transaction is reconciled (default 1m on PostgreSQL, 0 on SQLite, whose single instance has nothing in flight at start)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *checkoutTTL <= 0 {
		return fmt.Errorf("--checkout-ttl must be positive, got %v", *checkoutTTL)
	}
	log := newLogger(stderr)
	db, err := openDB(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	if *baseURL == "" {
		*baseURL = "http://" + ln.Addr().String()
	}
	grace := *reconcileGrace
	if grace == 0 && db.Dialect() == store.Postgres {
		grace = time.Minute
	}
	if grace == 0 {
		grace = time.Nanosecond
	}
	sim := processor.NewSimulator(db.Shared(), *baseURL)
	eng := engine.New(db, sim, engine.Config{BaseURL: *baseURL, ReconcileGrace: grace, ClientSecretTTL: *checkoutTTL}, log)

	if err := bootstrap(ctx, eng, stdout); err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.Handle("/simulator/", sim.Handler())
	// Webhooks and IPNs: one delivery service with every format in use.
	formats := orderIPNFormats(eng)
	apiSrv := api.New(eng, log)
	mux.Handle("/", apiSrv)
	var checkoutCfg checkout.Config // the client secret TTL comes from the engine
	// The Izipay and Shoplazza adapters keep merchants' secrets sealed with
	// the secret key. Without one (PostgreSQL without KASSA_SECRET_KEY) they
	// stay off; a malformed setting of theirs stops the start instead, so a
	// typo is never silently a disabled payments app.
	if key, err := secretKey(*dsn); err != nil {
		log.Warn("Izipay and Shoplazza adapters disabled", "err", err)
	} else {
		izi, err := izipayAdapter(eng, key, log)
		if err != nil {
			return err
		}
		checkoutCfg.AuthorizeEmbedding = izi.AuthorizeEmbedding
		checkoutCfg.FrameAncestors = izi.FrameAncestors // the LoadForm page frames the 3-D Secure step
		checkoutCfg.Branding = izi.Branding             // config.appearance: logo and theme
		izi.Register(mux)
		formats[izipay.FormatName] = izi.Format()
		sl, err := mountShoplazza(mux, eng, key, log)
		if err != nil {
			return err
		}
		checkoutCfg.FrameAncestors = checkout.JoinFrameAncestors(checkoutCfg.FrameAncestors, sl.FrameAncestors) // the iframe model frames the hosted page
		formats[shoplazza.FormatName] = sl.Format()
	}
	co := checkout.New(eng, checkoutCfg, log)
	notifier := notify.New(db, notify.Config{Workers: *webhookWorkers, Formats: formats,
		Guard: notify.Guard{AllowPrivate: env("KASSA_WEBHOOK_ALLOW_PRIVATE", "") == "true"}}, log)
	apiSrv.SetNotifier(notifier)
	co.Register(mux)
	mountDashboard(mux, eng, notifier, *dsn, log) // serve's notifier and the Shoplazza/Izipay services (user.go)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}

	bg, cancelBG := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBG()
	go eng.RunReconciler(bg, *reconcileEvery)
	mountOrders(bg, mux, eng, db, log) // izi.exchange-style orders (order.go)
	notified := make(chan struct{})
	go func() { notifier.Run(bg); close(notified) }()
	defer func() { cancelBG(); <-notified }() // attempts in flight finish and are recorded before the database closes

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("kassa listening", "addr", ln.Addr().String(), "base_url", *baseURL, "database", string(db.Dialect()))
	fmt.Fprintf(stdout, "Kassa listening on http://%s (database: %s)\n", ln.Addr(), redact(*dsn))
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// In-flight requests finish (their processor calls and ledger writes
	// complete) before the database closes.
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// bootstrap creates a test merchant on first start and prints its keys once.
func bootstrap(ctx context.Context, eng *engine.Engine, stdout io.Writer) error {
	has, err := eng.HasMerchants(ctx)
	if err != nil || has {
		return err
	}
	c, err := eng.CreateMerchant(ctx, "Test merchant", "")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, `First start: created a test merchant. These keys are shown only once.
  merchant:        %s
  secret key:      %s
  publishable key: %s
`, c.Merchant.ID, c.SecretKey, c.PublishableKey)
	return bootstrapUser(ctx, eng, c.Merchant.ID, stdout)
}

// redact hides a password in a database URL.
func redact(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		if at := strings.LastIndex(dsn, "@"); at > i {
			if colon := strings.Index(dsn[i+3:at], ":"); colon >= 0 {
				return dsn[:i+3+colon] + ":***" + dsn[at:]
			}
		}
	}
	return dsn
}
