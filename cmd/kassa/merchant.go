package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
)

func merchant(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return errors.New("usage: kassa merchant create --name NAME [--email E] [--json]")
	}
	fs := flag.NewFlagSet("merchant create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn := dbFlag(fs)
	name := fs.String("name", "", "merchant name (required)")
	email := fs.String("email", "", "contact email")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	eng, db, err := openEngine(ctx, *dsn, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	c, err := eng.CreateMerchant(ctx, *name, *email)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]string{
			"id": c.Merchant.ID, "secret_key": c.SecretKey, "publishable_key": c.PublishableKey,
		})
	}
	fmt.Fprintf(stdout, "merchant:        %s\nsecret key:      %s\npublishable key: %s\n", c.Merchant.ID, c.SecretKey, c.PublishableKey)
	return nil
}
