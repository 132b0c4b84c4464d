package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/kassa-pay/kassa/internal/api"
	"github.com/kassa-pay/kassa/internal/checkout"
	"github.com/kassa-pay/kassa/internal/checkout/demoshop"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/processor"
)

// demo runs the gateway and a demo shop on a second port (so a second web
// origin, as a real merchant site is), wired together, and prints the URL
// to open: the quickest way to see embedded, pop-up and redirect checkout.
func demo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "gateway listen address")
	shopAddr := fs.String("shop-addr", "127.0.0.1:8081", "demo shop listen address")
	dsn := fs.String("db", "", "database (default: a fresh SQLite file in a temporary directory, removed on exit)")
	checkoutTTL := fs.Duration("checkout-ttl", engine.DefaultClientSecretTTL, "how long a payment's client secret opens the checkout form")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *checkoutTTL <= 0 {
		return fmt.Errorf("--checkout-ttl must be positive, got %v", *checkoutTTL)
	}
	log := newLogger(stderr)
	if *dsn == "" {
		dir, err := os.MkdirTemp("", "kassa-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		*dsn = filepath.Join(dir, "kassa.db")
	}
	db, err := openDB(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()

	gln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	sln, err := net.Listen("tcp", *shopAddr)
	if err != nil {
		gln.Close()
		return err
	}
	baseURL := "http://" + gln.Addr().String()
	sim := processor.NewSimulator(db.Shared(), baseURL)
	eng := engine.New(db, sim, engine.Config{BaseURL: baseURL, ReconcileGrace: time.Nanosecond, ClientSecretTTL: *checkoutTTL}, log)
	mux := http.NewServeMux()
	mux.Handle("/simulator/", sim.Handler())
	mux.Handle("/", api.New(eng, log))
	checkout.New(eng, checkout.Config{}, log).Register(mux)
	gateway := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	creds, err := eng.CreateMerchant(ctx, "Kassa Demo Shop", "")
	if err != nil {
		return err
	}
	shop := demoshop.New(demoshop.Config{GatewayURL: baseURL, SecretKey: creds.SecretKey, PublishableKey: creds.PublishableKey})
	shopServer := &http.Server{Handler: shop, ReadHeaderTimeout: 10 * time.Second}

	errc := make(chan error, 2)
	go func() { errc <- gateway.Serve(gln) }()
	go func() { errc <- shopServer.Serve(sln) }()
	bg, cancelBG := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBG()
	go eng.RunReconciler(bg, time.Minute)

	// The shop is opened as http://localhost:PORT: another site than the
	// gateway's 127.0.0.1, as a merchant's own domain would be. Both
	// spellings are allowed origins.
	_, port, _ := net.SplitHostPort(sln.Addr().String())
	shopHost, _, _ := net.SplitHostPort(*shopAddr)
	shopURL := "http://" + sln.Addr().String()
	origins := []string{shopURL}
	if shopHost == "127.0.0.1" || shopHost == "localhost" || shopHost == "" {
		shopURL = "http://localhost:" + port
		origins = append(origins, shopURL)
	}
	if err := shop.Setup(ctx, origins); err != nil {
		return fmt.Errorf("configuring the demo merchant: %w", err)
	}
	fmt.Fprintf(stdout, `Kassa demo
  gateway:         %s
  demo shop:       %s   <- open this in a browser
  secret key:      %s
  publishable key: %s
Test cards: 4242 4242 4242 4242 succeeds, 4000 0000 0000 0002 is declined,
4000 0025 0000 3155 asks for 3-D Secure. Any future expiry, any CVC. Ctrl-C stops.
`, baseURL, shopURL, creds.SecretKey, creds.PublishableKey)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = errors.Join(shopServer.Shutdown(shutdown), gateway.Shutdown(shutdown))
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
