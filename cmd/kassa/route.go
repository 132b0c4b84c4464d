package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/api"
)

const routeUsage = `usage:
  kassa route add --from PEN --to USD --rate 0.27 [--fee-percent 1] [--min 10] [--max 10000]
                  [--xml-from CODE] [--xml-to CODE] [--payout automatic|manual]
                  [--to-field 'key=regexp'] [--merchant mer_…] [--json]
  kassa route list [--json]`

// toFields collects repeated --to-field key=regexp (or key?=regexp for an
// optional field).
type toFields []kassa.RouteField

func (f *toFields) String() string { return fmt.Sprint(*f) }
func (f *toFields) Set(v string) error {
	k, pat, _ := strings.Cut(v, "=")
	opt := strings.HasSuffix(k, "?")
	k = strings.TrimSuffix(k, "?")
	if k == "" {
		return errors.New("--to-field wants key=regexp")
	}
	*f = append(*f, kassa.RouteField{Key: k, Name: k, Pattern: pat, Optional: opt})
	return nil
}

func route(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "add" && args[0] != "list") {
		return errors.New(routeUsage)
	}
	fs := flag.NewFlagSet("route "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	dsn := dbFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	from := fs.String("from", "", "pay-in currency, charged by card (ISO 4217)")
	to := fs.String("to", "", "payout currency (ISO 4217)")
	rate := fs.String("rate", "", "exact decimal: units of --to per unit of --from")
	fee := fs.String("fee-percent", "0", "exact decimal percent taken from the payout")
	min := fs.String("min", "", "smallest pay-in amount, in --from")
	max := fs.String("max", "", "largest pay-in amount, in --from (none if empty)")
	xmlFrom := fs.String("xml-from", "", "izi.exchange currency code sent as xml_from (default --from)")
	xmlTo := fs.String("xml-to", "", "izi.exchange currency code sent as xml_to (default --to)")
	payout := fs.String("payout", "automatic", "automatic: pay out when paid; manual: wait for 'kassa order approve'")
	merchantID := fs.String("merchant", "", "restrict the route to one merchant (default: every merchant)")
	var fields toFields
	fs.Var(&fields, "to-field", "recipient detail the route asks for, key=regexp (repeatable; default account)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	eng, db, err := openEngine(ctx, *dsn, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	if args[0] == "list" {
		rs, err := eng.Routes(ctx, "")
		if err != nil {
			return err
		}
		if *asJSON {
			out := []map[string]any{}
			for _, r := range rs {
				out = append(out, routeJSON(r))
			}
			return json.NewEncoder(stdout).Encode(out)
		}
		for _, r := range rs {
			fmt.Fprintf(stdout, "%s  %s→%s  rate %s  fee %s%%  %s..%s  %s  %s\n", r.ID, r.From, r.To, r.Rate, r.FeePercent,
				kassa.FormatAmount(r.Min, r.From), kassa.FormatAmount(r.Max, r.From), r.PayoutMode, or(r.MerchantID, "shared"))
		}
		return nil
	}
	rt, err := api.RouteFromStrings(*from, *to, *min, *max)
	if err != nil {
		return err
	}
	rt.Rate, rt.FeePercent, rt.XMLFrom, rt.XMLTo, rt.PayoutMode, rt.ToFields = *rate, *fee, *xmlFrom, *xmlTo, kassa.PayoutMode(*payout), fields
	r, err := eng.CreateRoute(ctx, *merchantID, rt)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]string{"id": r.ID})
	}
	fmt.Fprintf(stdout, "route %s: %s → %s at %s, fee %s%%\n", r.ID, r.From, r.To, r.Rate, r.FeePercent)
	return nil
}

func routeJSON(r *kassa.Route) map[string]any {
	return map[string]any{"id": r.ID, "merchant": r.MerchantID, "from": r.From, "to": r.To, "xml_from": r.XMLFrom, "xml_to": r.XMLTo,
		"rate": r.Rate, "fee_percent": r.FeePercent, "min": kassa.FormatAmount(r.Min, r.From), "max": kassa.FormatAmount(r.Max, r.From),
		"payout_mode": r.PayoutMode, "to_fields": r.ToFields}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
