package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kassa-pay/kassa"
)

// Reads for the merchant dashboard: the overview's figures and the payment
// search. Both are computed by the database (aggregates, indexed lookups);
// nothing here loads rows to count them.

// LedgerAggregate is one group of ledger rows: those of one UTC day (Day 0 is
// the first day of the window), currency, type, status and decline code.
type LedgerAggregate struct {
	Day         int
	Currency    string
	Type        kassa.TxnType
	Status      kassa.TxnStatus
	DeclineCode string
	Count       int64
	Amount      int64
}

// PaymentSearch selects payments for the dashboard's list.
type PaymentSearch struct {
	kassa.Page
	// Query matches a payment ID, an order ID, a shopper's email
	// (case-insensitive) or a card's last four digits, exactly.
	Query      string
	Status     kassa.PaymentStatus
	Currency   string
	AmountMin  int64 // minor units of Currency; 0: no bound
	AmountMax  int64
	CreatedGTE *time.Time
	CreatedLT  *time.Time
}

// DashboardStore is what the dashboard's reads need from storage;
// internal/store's *DB implements it.
type DashboardStore interface {
	// LedgerAggregates groups the ledger rows of pr created at or after
	// since by UTC day (counted from since), currency, type, status and
	// decline code.
	LedgerAggregates(ctx context.Context, pr kassa.Principal, since time.Time) ([]LedgerAggregate, error)
	SearchPayments(ctx context.Context, pr kassa.Principal, f PaymentSearch) ([]*kassa.Payment, bool, error)
}

func (e *Engine) dashboardStore() (DashboardStore, error) {
	s, ok := e.store.(DashboardStore)
	if !ok {
		return nil, fmt.Errorf("engine: store %T does not serve dashboard reads", e.store)
	}
	return s, nil
}

// SearchPayments returns a page of pr's payments matching f, newest first,
// with their totals (the page's ledger rows are read in one query).
func (e *Engine) SearchPayments(ctx context.Context, pr kassa.Principal, f PaymentSearch) ([]*PaymentDetail, bool, error) {
	st, err := e.dashboardStore()
	if err != nil {
		return nil, false, err
	}
	if f.Limit <= 0 || f.Limit > 100 {
		f.Limit = 50
	}
	f.Query = strings.TrimSpace(f.Query)
	if len(f.Query) > 255 {
		return nil, false, kassa.Invalid("q", "parameter_too_long", "the search text is longer than 255 characters")
	}
	if f.Status != "" && !f.Status.Valid() {
		return nil, false, kassa.Invalid("status", "parameter_invalid", "unknown status %q", f.Status)
	}
	if (f.AmountMin != 0 || f.AmountMax != 0) && f.Currency == "" {
		return nil, false, kassa.Invalid("currency", "parameter_missing", "choose a currency to filter by amount")
	}
	ps, more, err := st.SearchPayments(ctx, pr, f)
	if err != nil {
		return nil, false, err
	}
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	txns, err := e.store.Transactions(ctx, ids, false)
	if err != nil {
		return nil, false, err
	}
	out := make([]*PaymentDetail, len(ps))
	for i, p := range ps {
		out[i] = &PaymentDetail{Payment: p, Totals: kassa.ComputeTotals(txns[p.ID])}
	}
	return out, more, nil
}

// OverviewDays is the length of the overview's window.
const OverviewDays = 30

// Overview is the dashboard's first page: per currency, today's and the
// window's figures and a daily series.
type Overview struct {
	Since      time.Time // start of the first day (UTC)
	Currencies []*CurrencyOverview
}

// CurrencyOverview holds one currency's figures.
type CurrencyOverview struct {
	Currency string
	Today    Figures
	Window   Figures
	Days     []Figures // OverviewDays entries, oldest first
}

// Figures are the outcomes of a period.
type Figures struct {
	Day time.Time // for daily figures
	// Volume is money captured (sales and captures that succeeded).
	Volume int64
	// Payments counts successful charges (succeeded sales and authorizations).
	Payments int64
	// Attempts counts settled charge attempts (sales and authorizations
	// that succeeded or failed); SuccessRate is Payments/Attempts.
	Attempts int64
	Refunded int64
	// Declines counts failed attempts by decline code, most frequent first.
	Declines []DeclineCount
}

// DeclineCount is how often one decline code happened.
type DeclineCount struct {
	Code  string
	Count int64
}

// SuccessRate is the share of settled attempts that succeeded, 0..1.
func (f Figures) SuccessRate() float64 {
	if f.Attempts == 0 {
		return 0
	}
	return float64(f.Payments) / float64(f.Attempts)
}

func (f *Figures) add(a LedgerAggregate) {
	charge := a.Type == kassa.TxnSale || a.Type == kassa.TxnAuthorize
	switch {
	case a.Status == kassa.TxnSucceeded && (a.Type == kassa.TxnSale || a.Type == kassa.TxnCapture):
		f.Volume += a.Amount
	case a.Status == kassa.TxnSucceeded && a.Type == kassa.TxnRefund:
		f.Refunded += a.Amount
	}
	if charge && a.Status == kassa.TxnSucceeded {
		f.Payments += a.Count
		f.Attempts += a.Count
	}
	if charge && a.Status == kassa.TxnFailed {
		f.Attempts += a.Count
		code := a.DeclineCode
		if code == "" {
			code = "unknown"
		}
		for i := range f.Declines {
			if f.Declines[i].Code == code {
				f.Declines[i].Count += a.Count
				return
			}
		}
		f.Declines = append(f.Declines, DeclineCount{Code: code, Count: a.Count})
	}
}

// Overview computes pr's figures for today and the last OverviewDays days
// (UTC), from one aggregate query over the ledger.
func (e *Engine) Overview(ctx context.Context, pr kassa.Principal) (*Overview, error) {
	st, err := e.dashboardStore()
	if err != nil {
		return nil, err
	}
	now := e.now()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	since := today.AddDate(0, 0, -(OverviewDays - 1))
	rows, err := st.LedgerAggregates(ctx, pr, since)
	if err != nil {
		return nil, err
	}
	byCur := map[string]*CurrencyOverview{}
	o := &Overview{Since: since}
	for _, a := range rows {
		c := byCur[a.Currency]
		if c == nil {
			c = &CurrencyOverview{Currency: a.Currency, Days: make([]Figures, OverviewDays)}
			for i := range c.Days {
				c.Days[i].Day = since.AddDate(0, 0, i)
			}
			byCur[a.Currency] = c
			o.Currencies = append(o.Currencies, c)
		}
		if a.Day < 0 || a.Day >= OverviewDays {
			continue
		}
		c.Days[a.Day].add(a)
		c.Window.add(a)
		if a.Day == OverviewDays-1 {
			c.Today.add(a)
		}
	}
	for _, c := range o.Currencies {
		for _, f := range []*Figures{&c.Today, &c.Window} {
			sort.Slice(f.Declines, func(i, j int) bool {
				if f.Declines[i].Count != f.Declines[j].Count {
					return f.Declines[i].Count > f.Declines[j].Count
				}
				return f.Declines[i].Code < f.Declines[j].Code
			})
		}
	}
	// Busiest currency first.
	sort.SliceStable(o.Currencies, func(i, j int) bool {
		a, b := o.Currencies[i].Window, o.Currencies[j].Window
		if a.Attempts != b.Attempts {
			return a.Attempts > b.Attempts
		}
		return o.Currencies[i].Currency < o.Currencies[j].Currency
	})
	return o, nil
}
