package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/izipay"
)

// izipayCmd is `kassa izipay credentials --merchant ID [--roll] [--json]`:
// a merchant's Izipay Web Core credentials, created on first use.
func izipayCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "credentials" {
		return errors.New("usage: kassa izipay credentials --merchant ID [--roll] [--json]")
	}
	fs := flag.NewFlagSet("izipay credentials", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn := dbFlag(fs)
	merchantID := fs.String("merchant", "", "merchant ID (required)")
	roll := fs.Bool("roll", false, "replace the public key and hash key (the merchant code stays)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *merchantID == "" {
		return errors.New("--merchant is required")
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
	z, err := engine.NewIzipay(eng, key)
	if err != nil {
		return err
	}
	var c *engine.IzipayCredentials
	if *roll {
		c, err = z.RollIzipayCredentials(ctx, *merchantID)
	} else {
		c, err = z.IzipayCredentials(ctx, *merchantID)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(struct {
			MerchantCode string `json:"merchantCode"`
			PublicKey    string `json:"publicKey"`
			HashKey      string `json:"hashKey"`
		}{c.MerchantCode, c.PublicKey, c.HashKey})
	}
	fmt.Fprintf(stdout, "merchantCode: %s\npublicKey:    %s\nhashKey:      %s\n", c.MerchantCode, c.PublicKey, c.HashKey)
	return nil
}

// secretKey returns the 32-byte key that seals secrets stored at rest:
// KASSA_SECRET_KEY (64 hex digits or base64 of 32 bytes), else, for
// SQLite, a key file next to the database ("<db>.secret-key", created with
// mode 0600 on first use). PostgreSQL deployments share one database among
// instances, so they must set KASSA_SECRET_KEY.
func secretKey(dsn string) ([]byte, error) {
	if v := strings.TrimSpace(os.Getenv("KASSA_SECRET_KEY")); v != "" {
		return decodeKey(v)
	}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return nil, errors.New("set KASSA_SECRET_KEY (32 random bytes as 64 hex digits) to use Izipay credentials with PostgreSQL")
	}
	path := strings.TrimPrefix(dsn, "file:")
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	path += ".secret-key"
	if b, err := os.ReadFile(path); err == nil {
		return decodeKey(strings.TrimSpace(string(b)))
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) { // another process won the race
		return secretKey(dsn)
	} else if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.WriteString(hex.EncodeToString(k) + "\n"); err != nil {
		return nil, err
	}
	return k, f.Sync()
}

func decodeKey(v string) ([]byte, error) {
	if b, err := hex.DecodeString(v); err == nil && len(b) == 32 {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(v); err == nil && len(b) == 32 {
		return b, nil
	}
	return nil, errors.New("KASSA_SECRET_KEY must be 32 bytes as 64 hex digits or base64")
}

// izipayAdapter returns the Izipay Web Core routes over eng, with stored
// keys sealed by the secret key of dsn.
func izipayAdapter(eng *engine.Engine, key []byte, log *slog.Logger) (*izipay.Handler, error) {
	z, err := engine.NewIzipay(eng, key)
	if err != nil {
		return nil, err
	}
	o, err := izipayIPNOptions(os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("Izipay settings: %w", err)
	}
	h := izipay.New(z, log)
	h.SetIPNOptions(o)
	return h, nil
}

// izipayIPNOptions reads the IPN choices Izipay does not publish
// (docs/izipay.md §7) from the environment:
//
//	KASSA_IZIPAY_IPN_RETRIES  waits before each retry, comma separated (Kassa's default: 5s,5m,30m,2h,5h,10h,10h)
//	KASSA_IZIPAY_IPN_ACK      2xx (default) or 200: which answers acknowledge an IPN
func izipayIPNOptions(getenv func(string) string) (izipay.IPNOptions, error) {
	var o izipay.IPNOptions
	if v := strings.TrimSpace(getenv("KASSA_IZIPAY_IPN_RETRIES")); v != "" {
		for _, part := range strings.Split(v, ",") {
			d, err := time.ParseDuration(strings.TrimSpace(part))
			if err != nil || d < 0 {
				return o, fmt.Errorf("KASSA_IZIPAY_IPN_RETRIES=%q: want comma-separated durations such as 5s,5m,30m", v)
			}
			o.Retries = append(o.Retries, d)
		}
	}
	switch v := strings.TrimSpace(getenv("KASSA_IZIPAY_IPN_ACK")); v {
	case "", "2xx":
	case "200":
		o.Only200 = true
	default:
		return o, fmt.Errorf("KASSA_IZIPAY_IPN_ACK=%q: want 2xx or 200", v)
	}
	return o, nil
}
