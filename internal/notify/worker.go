package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/kassa-pay/kassa"
)

// Config tunes delivery. Zero values take the defaults shown.
type Config struct {
	// Workers is how many deliveries one instance sends at once (8).
	Workers int
	// Timeout bounds one attempt, connection to last byte (15s).
	Timeout time.Duration
	// Lease is how long a claimed delivery is reserved for its worker
	// (Timeout + 45s). If the process dies, the delivery is due again when
	// its lease ends. It must exceed Timeout, and should exceed twice
	// Timeout: a claimed delivery may wait up to one Timeout for a free
	// worker before its own attempt starts. A lease that runs out while the
	// attempt is still going gets the delivery sent twice (still at least
	// once, never lost).
	Lease time.Duration
	// PollInterval is how often workers look for due deliveries without a
	// wakeup (1s): retries coming due, and other instances' rows.
	PollInterval time.Duration
	// Jitter spreads each retry wait by up to this fraction either way
	// (0.1), so a receiver that was down is not hit by every retry at once.
	Jitter float64
	// MaxRetryAfter caps a receiver's Retry-After (24h).
	MaxRetryAfter time.Duration
	// ShutdownGrace is how long Run lets attempts in flight finish after its
	// context ends (Timeout). Attempts still running then are abandoned
	// unrecorded and come back when their lease ends.
	ShutdownGrace time.Duration
	// Guard refuses private destinations.
	Guard Guard
	// Formats by name; FormatStandard is Standard{} unless given.
	Formats map[string]Format
	// Now returns the current time (time.Now).
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.Workers <= 0 {
		c.Workers = 8
	}
	if c.Timeout <= 0 {
		c.Timeout = 15 * time.Second
	}
	if c.Lease <= c.Timeout {
		c.Lease = c.Timeout + 45*time.Second
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	if c.Jitter == 0 {
		c.Jitter = 0.1
	}
	if c.MaxRetryAfter <= 0 {
		c.MaxRetryAfter = 24 * time.Hour
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = c.Timeout
	}
	formats := map[string]Format{FormatStandard: Standard{}}
	for k, v := range c.Formats {
		formats[k] = v
	}
	c.Formats = formats
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Service sends notifications and manages webhook endpoints.
type Service struct {
	store  Storage
	cfg    Config
	log    *slog.Logger
	client *http.Client
}

// New returns a delivery service over store.
func New(store Storage, cfg Config, log *slog.Logger) *Service {
	cfg.defaults()
	if log == nil {
		log = slog.Default()
	}
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would connect on our behalf, past the guard
		DialContext:           cfg.Guard.Dialer(cfg.Timeout).DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		MaxIdleConns:          4 * cfg.Workers,
		MaxIdleConnsPerHost:   cfg.Workers,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse // a 3xx is a failed attempt; never follow
	}}
	return &Service{store: store, cfg: cfg, log: log, client: client}
}

// Config returns the effective configuration.
func (s *Service) Config() Config { return s.cfg }

// Run delivers until ctx ends, then lets attempts in flight finish (up to
// ShutdownGrace) and records them. Any number of Runs, in this process or
// others sharing the database, may work at once.
func (s *Service) Run(ctx context.Context) {
	wake := s.store.DeliveryWakeups(ctx)
	outcomes := make(chan Outcome, 4*s.cfg.Workers)
	recorded := make(chan struct{})
	go func() {
		s.record(outcomes)
		close(recorded)
	}()

	// Attempts run on a context of their own so that shutdown lets them finish.
	sendCtx, abandon := context.WithCancel(context.WithoutCancel(ctx))
	defer abandon()
	work := make(chan *Delivery)
	done := make(chan struct{}, s.cfg.Workers)
	var wg sync.WaitGroup
	for range s.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range work {
				out := s.attempt(sendCtx, d)
				if sendCtx.Err() == nil { // abandoned attempts are not recorded: their lease brings them back
					outcomes <- out
				}
				done <- struct{}{}
			}
		}()
	}
	ticker := time.NewTicker(s.cfg.PollInterval)
	defer ticker.Stop()

	// Claims are batched: up to two rows per worker are held (in flight or
	// queued here), and a claim is made when at least half of that room is
	// free, so a backlog costs one claim per Workers deliveries, not one each.
	room := 2 * s.cfg.Workers
	var queue []*Delivery
	inflight := 0
	look := true      // a reason to claim: startup, a wakeup, a tick, or a backlog
	readFirst := true // for a poll tick: ask the read pool before taking the writer
	backlog := false  // the last claim was full: more may be due
	for ctx.Err() == nil {
		free := room - inflight - len(queue)
		if look && (free >= s.cfg.Workers || inflight+len(queue) == 0) {
			look = false
			now := s.cfg.Now()
			due := true
			if readFirst {
				var err error
				if due, err = s.store.HasDueDeliveries(ctx, now); err != nil && ctx.Err() == nil {
					s.log.Error("notify: look for due deliveries", "err", err)
				}
			}
			if due {
				ds, err := s.store.ClaimDeliveries(ctx, now, now.Add(s.cfg.Lease), free)
				if err != nil && ctx.Err() == nil {
					s.log.Error("notify: claim deliveries", "err", err)
				}
				backlog = len(ds) == free
				queue = append(queue, ds...)
			}
		}
		var next chan<- *Delivery
		var head *Delivery
		if len(queue) > 0 && inflight < s.cfg.Workers {
			next, head = work, queue[0]
		}
		select {
		case <-ctx.Done():
		case next <- head:
			queue = queue[1:]
			inflight++
		case <-wake:
			look, readFirst = true, false
		case <-ticker.C:
			look, readFirst = true, !look
		case <-done:
			inflight--
			if backlog {
				look, readFirst = true, false
			}
		}
	}
	close(work) // queued, unsent deliveries come back when their lease ends

	finished := make(chan struct{})
	go func() {
		wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
	case <-time.After(s.cfg.ShutdownGrace):
		abandon()
		<-finished
	}
	close(outcomes)
	<-recorded
}

// record writes outcomes in batches: one transaction (one fsync on SQLite)
// for whatever finished meanwhile.
func (s *Service) record(outcomes <-chan Outcome) {
	const maxBatch = 200
	batch := make([]Outcome, 0, maxBatch)
	for o := range outcomes {
		batch = append(batch[:0], o)
	fill:
		for len(batch) < maxBatch {
			select {
			case o, ok := <-outcomes:
				if !ok {
					break fill
				}
				batch = append(batch, o)
			default:
				break fill
			}
		}
		var err error
		for try := 0; try < 5; try++ {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err = s.store.RecordOutcomes(ctx, batch)
			cancel()
			if err == nil {
				break
			}
			time.Sleep(time.Duration(try+1) * 200 * time.Millisecond)
		}
		if err != nil {
			// The deliveries stay leased and are sent again when the lease
			// ends: at least once, never lost.
			s.log.Error("notify: record delivery outcomes", "n", len(batch), "err", err)
		}
	}
}

// attempt sends one delivery once and decides what happens next.
func (s *Service) attempt(ctx context.Context, d *Delivery) Outcome {
	start := s.cfg.Now()
	out := Outcome{Delivery: d, Attempt: Attempt{ID: kassa.NewID("wha"), EventID: d.EventID, EndpointID: d.EndpointID,
		MerchantID: d.MerchantID, Livemode: d.Livemode, Attempt: d.Attempts, URL: d.URL, Created: start}}
	f, ok := s.cfg.Formats[d.Format]
	if !ok {
		// Another instance (a newer version, or one with that adapter
		// configured) may know it: retry on the default schedule rather
		// than drop the notification.
		out.Attempt.Error = fmt.Sprintf("unknown notification format %q", d.Format)
		out.Status = StatusFailed
		if wait, more := DefaultSchedule.Next(d.Attempts - d.RetryFrom); more {
			out.Status, out.NextAttempt = StatusPending, start.Add(s.jitter(wait))
		}
		return out
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	var resp *http.Response
	var body []byte
	req, err := f.Request(ctx, d, start)
	if err == nil {
		t0 := time.Now()
		resp, err = s.client.Do(req)
		if err == nil {
			body, err = io.ReadAll(io.LimitReader(resp.Body, ResponseLogLimit))
			// Drain a little more so the connection can be reused.
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		out.Attempt.Latency = time.Since(t0)
	}
	a := &out.Attempt
	a.Response = string(body)
	if resp != nil {
		a.StatusCode = resp.StatusCode
	}
	if err != nil {
		a.Error = describe(err, s.cfg.Timeout)
	}
	a.Delivered = err == nil && f.Delivered(resp.StatusCode, resp.Header, body)
	if a.Delivered {
		out.Status = StatusDelivered
		return out
	}
	if err == nil && resp.StatusCode == http.StatusGone {
		// The receiver says this endpoint is gone for good (Standard Webhooks).
		out.Status, out.DisableEndpoint = StatusFailed, true
		return out
	}
	wait, more := f.Schedule().Next(d.Attempts - d.RetryFrom)
	if !more {
		out.Status = StatusFailed
		return out
	}
	wait = s.jitter(wait)
	if resp != nil {
		if ra, ok := retryAfter(resp.Header.Get("Retry-After"), start); ok && ra > wait {
			wait = min(ra, s.cfg.MaxRetryAfter)
		}
	}
	out.Status, out.NextAttempt = StatusPending, s.cfg.Now().Add(wait)
	return out
}

func (s *Service) jitter(d time.Duration) time.Duration {
	if d <= 0 || s.cfg.Jitter <= 0 {
		return d
	}
	return d + time.Duration((rand.Float64()*2-1)*s.cfg.Jitter*float64(d))
}

// retryAfter parses Retry-After: seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
		return time.Duration(min(n, 1<<32)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return t.Sub(now), true
	}
	return 0, false
}

// describe turns a transport error into a short log line.
func describe(err error, timeout time.Duration) string {
	var refused *refusedError
	var ne net.Error
	switch {
	case errors.As(err, &refused):
		return refused.Error()
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return fmt.Sprintf("timeout: no complete answer within %s", timeout)
	}
	return err.Error()
}
