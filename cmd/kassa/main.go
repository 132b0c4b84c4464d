// Command kassa is the Kassa payment gateway.
//
//	kassa serve                 run the gateway (default SQLite file kassa.db)
//	kassa migrate               apply database migrations and exit
//	kassa merchant create       create a merchant and print its keys as JSON
//	kassa demo                  run the gateway and a demo shop to try the checkout
//	kassa bench                 drive create+confirm payments against a gateway
//
// Every subcommand that touches the database takes --db (env
// KASSA_DATABASE_URL): a file path for SQLite or a postgres:// URL.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/processor"
	"github.com/kassa-pay/kassa/internal/store"
)

const usage = `Kassa — a self-hosted payment gateway.

Usage:
  kassa serve    [--addr 127.0.0.1:8080] [--db kassa.db] [--base-url URL] [--checkout-ttl 15m]
  kassa migrate  [--db kassa.db]
  kassa merchant create --name NAME [--email E] [--json] [--db kassa.db]
  kassa user create --merchant ID --email E --password P --role admin|viewer [--db kassa.db]
  kassa demo     [--addr 127.0.0.1:8080] [--shop-addr 127.0.0.1:8081] [--db FILE] [--checkout-ttl 15m]
  kassa bench    [--url URL --key sk_test_…] [--concurrency 32] [--duration 10s]
  kassa route    add --from PEN --to USD --rate 0.27 [--fee-percent 1] [--min 10] [--max 10000] [--json] | list
  kassa order    show|hold|release|approve|return|delete UID [--reason R] [--json]
  kassa izipay credentials --merchant ID [--roll] [--json] [--db kassa.db]
  kassa shoplazza bind --merchant ID --app-id A --client-secret S --shop-domain D --access-token T --account-id X [--model redirect|iframe]

Environment: KASSA_ADDR, KASSA_DATABASE_URL, KASSA_BASE_URL, KASSA_CHECKOUT_TTL, KASSA_LOG_LEVEL.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "kassa:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("missing command")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "migrate":
		return migrate(ctx, args[1:], stdout, stderr)
	case "merchant":
		return merchant(ctx, args[1:], stdout, stderr)
	case "user":
		return user(ctx, args[1:], stdout, stderr)
	case "demo":
		return demo(ctx, args[1:], stdout, stderr)
	case "route":
		return route(ctx, args[1:], stdout, stderr)
	case "order":
		return order(ctx, args[1:], stdout, stderr)
	case "bench":
		return bench(ctx, args[1:], stdout, stderr)
	case "izipay":
		return izipayCmd(ctx, args[1:], stdout, stderr)
	case "shoplazza":
		return shoplazzaCmd(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// envDuration is env for a duration flag's default. A value that does not
// parse is an error, not silently the default.
func envDuration(name string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q is not a duration such as 15m", name, v)
	}
	return d, nil
}

func dbFlag(fs *flag.FlagSet) *string {
	return fs.String("db", env("KASSA_DATABASE_URL", "kassa.db"), "SQLite file path or postgres:// URL (env KASSA_DATABASE_URL)")
}

func openDB(ctx context.Context, dsn string) (*store.DB, error) {
	db, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// openEngine opens the database of dsn (migrated) and an engine over it,
// for the subcommands that change data outside serve. close releases both.
func openEngine(ctx context.Context, dsn string, stderr io.Writer) (eng *engine.Engine, db *store.DB, err error) {
	db, err = openDB(ctx, dsn)
	if err != nil {
		return nil, nil, err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	return engine.New(db, processor.NewSimulator(db.Shared(), ""), engine.Config{}, log), db, nil
}

func newLogger(w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(env("KASSA_LOG_LEVEL", "info"))); err != nil {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

func migrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn := dbFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := openDB(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintln(stdout, "migrations applied")
	return nil
}
