package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kassa-pay/kassa"
)

// Bounds on a bench run. The load generator targets loopback only and must
// always stop by itself, whatever flags it is given.
const (
	benchMaxDuration    = time.Hour
	benchMaxWarmup      = 10 * time.Minute
	benchMaxRequests    = 10_000_000
	benchMaxConcurrency = 4096
	benchStartTimeout   = 60 * time.Second
	benchStopTimeout    = 30 * time.Second
)

const benchUsage = `Usage: kassa bench [flags]

Drives create+confirm payments (POST /v1/payments, confirm: true, test card
4242424242424242, a unique order_id each) and reports payments/s, latency
percentiles, errors by status and the server's peak memory (VmHWM).

Without --url it runs its own server: this executable as "kassa serve" on a
free loopback port over a fresh database (a temporary SQLite file, or with
--db postgres://… a fresh schema that is dropped afterwards), and stops it
with SIGTERM at the end. With --url it loads a running gateway instead (peak
memory needs --pid). Only loopback addresses are accepted.

Flags:
`

type benchOptions struct {
	url, key    string
	pid         int
	db          string
	keepDB      bool
	concurrency int
	duration    time.Duration
	warmup      time.Duration
	requests    int
	timeout     time.Duration
	amount      int64
	currency    string
	asJSON      bool
}

func bench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o benchOptions
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, benchUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.url, "url", "", "base URL of a running gateway on loopback (default: spawn one)")
	fs.StringVar(&o.key, "key", "", "secret API key (sk_…) of a merchant on the --url gateway")
	fs.IntVar(&o.pid, "pid", 0, "process ID of the --url gateway, to report its peak memory")
	fs.StringVar(&o.db, "db", "", "database of the spawned server: a SQLite file path (reused as is) or a postgres:// URL on loopback (a fresh schema is created in it); default a temporary SQLite file")
	fs.BoolVar(&o.keepDB, "keep-db", false, "keep the spawned server's temporary database (SQLite file or PostgreSQL schema) and log")
	fs.IntVar(&o.concurrency, "concurrency", 32, "number of concurrent clients")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to measure (at most 1h)")
	fs.IntVar(&o.requests, "requests", 0, "stop after this many measured payments (0: no count, the duration alone bounds the run)")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "load run before measuring, not counted")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "timeout of one request")
	fs.Int64Var(&o.amount, "amount", 1050, "amount of each payment in minor units")
	fs.StringVar(&o.currency, "currency", "USD", "currency of each payment")
	fs.BoolVar(&o.asJSON, "json", false, "print the result as one JSON object")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench: unexpected argument %q", fs.Arg(0))
	}
	if err := o.check(); err != nil {
		return err
	}

	res := &BenchResult{Concurrency: o.concurrency, WarmupSeconds: o.warmup.Seconds(), Amount: o.amount, Currency: o.currency}
	target := o.url
	var srv *benchServer
	if o.url == "" {
		var err error
		srv, err = spawnBenchServer(ctx, o, stderr)
		if err != nil {
			return err
		}
		defer srv.close(stderr)
		target, o.key, o.pid = srv.url, srv.key, srv.cmd.Process.Pid
		res.Server, res.Database = "spawned", srv.dialect
	} else {
		if err := checkLoopbackURL(ctx, o.url); err != nil {
			return err
		}
		res.Server = o.url
	}
	res.ServerPID = o.pid

	client := newPaymentClient(target, o.key, o.concurrency, o.timeout)
	client.amount, client.currency = o.amount, o.currency
	defer client.http.CloseIdleConnections()
	if err := client.ping(ctx); err != nil {
		return err
	}
	runID := strings.ToLower(kassa.RandomToken(5))
	if o.warmup > 0 {
		fmt.Fprintf(stderr, "bench: warming up for %s at concurrency %d\n", o.warmup, o.concurrency)
		runLoad(ctx, client, "bench-"+runID+"-w", o.concurrency, o.warmup, 0)
	}
	limit := ""
	if o.requests > 0 {
		limit = fmt.Sprintf(" or %d payments", o.requests)
	}
	fmt.Fprintf(stderr, "bench: measuring for %s%s at concurrency %d against %s\n", o.duration, limit, o.concurrency, target)
	srvCPU0, _ := processCPU(o.pid)
	ownCPU0, _ := processCPU(os.Getpid())
	m := runLoad(ctx, client, "bench-"+runID+"-m", o.concurrency, o.duration, o.requests)
	res.fill(m)
	if ownCPU1, err := processCPU(os.Getpid()); err == nil {
		res.ClientCPUSeconds = (ownCPU1 - ownCPU0).Seconds()
	}
	if srvCPU1, err := processCPU(o.pid); err == nil && o.pid > 0 {
		res.ServerCPUSeconds = (srvCPU1 - srvCPU0).Seconds()
		if res.Succeeded > 0 {
			res.ServerCPUPerPaymentMS = math.Round(res.ServerCPUSeconds/float64(res.Succeeded)*1e6) / 1e3
		}
	}
	if ctx.Err() != nil {
		res.Interrupted = true
	}
	if o.pid > 0 {
		if hwm, err := readVmHWM(o.pid); err != nil {
			fmt.Fprintf(stderr, "bench: server peak memory unavailable: %v\n", err)
		} else {
			res.ServerPeakRSSBytes = hwm
		}
	}
	if srv != nil {
		srv.stop(stderr)
	}
	if o.asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	res.print(stdout)
	return nil
}

func (o *benchOptions) check() error {
	switch {
	case o.concurrency < 1 || o.concurrency > benchMaxConcurrency:
		return fmt.Errorf("bench: --concurrency must be between 1 and %d", benchMaxConcurrency)
	case o.duration <= 0 || o.duration > benchMaxDuration:
		return fmt.Errorf("bench: --duration must be positive and at most %s", benchMaxDuration)
	case o.warmup < 0 || o.warmup > benchMaxWarmup:
		return fmt.Errorf("bench: --warmup must be between 0 and %s", benchMaxWarmup)
	case o.requests < 0 || o.requests > benchMaxRequests:
		return fmt.Errorf("bench: --requests must be between 0 and %d", benchMaxRequests)
	case o.timeout <= 0:
		return errors.New("bench: --timeout must be positive")
	case o.amount <= 0 || o.amount > kassa.MaxAmount:
		return errors.New("bench: --amount must be a positive amount in minor units")
	case o.url != "" && o.key == "":
		return errors.New("bench: --url needs --key (a secret key sk_… of a merchant on that gateway)")
	case o.url == "" && (o.key != "" || o.pid != 0):
		return errors.New("bench: --key and --pid only apply with --url; without --url bench runs its own server")
	case o.url != "" && o.db != "":
		return errors.New("bench: --db only applies to the server bench spawns (without --url)")
	}
	return nil
}

// BenchResult is what kassa bench reports (its --json output).
type BenchResult struct {
	Server            string         `json:"server"`             // "spawned" or the --url
	Database          string         `json:"database,omitempty"` // dialect of a spawned server
	ServerPID         int            `json:"server_pid,omitempty"`
	Concurrency       int            `json:"concurrency"`
	WarmupSeconds     float64        `json:"warmup_seconds"`
	Amount            int64          `json:"amount"`
	Currency          string         `json:"currency"`
	DurationSeconds   float64        `json:"duration_seconds"` // measured wall time, until the last request returned
	Requests          int            `json:"requests"`         // requests sent while measuring
	Succeeded         int            `json:"succeeded"`        // 201 with status succeeded
	PaymentsPerSecond float64        `json:"payments_per_second"`
	LatencyMS         BenchLatency   `json:"latency_ms"` // over all measured requests
	Errors            map[string]int `json:"errors"`     // by HTTP status (and error code), or transport error
	// ServerPeakRSSBytes is the server's VmHWM (peak resident set) from
	// /proc/PID/status; 0 when unknown.
	ServerPeakRSSBytes int64 `json:"server_peak_rss_bytes"`
	// CPU time (user+system, from /proc/PID/stat) the server and the load
	// generator used while measuring: a server near cores×duration is
	// CPU-bound, one far below it waits (on fsync, locks or the network).
	ServerCPUSeconds      float64 `json:"server_cpu_seconds,omitempty"`
	ServerCPUPerPaymentMS float64 `json:"server_cpu_ms_per_payment,omitempty"`
	ClientCPUSeconds      float64 `json:"client_cpu_seconds,omitempty"`
	Interrupted           bool    `json:"interrupted,omitempty"`
}

// BenchLatency are latency percentiles in milliseconds.
type BenchLatency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func (r *BenchResult) fill(m loadResult) {
	r.DurationSeconds = m.elapsed.Seconds()
	r.Requests = len(m.latencies)
	r.Succeeded = m.succeeded
	r.Errors = m.errors
	if m.elapsed > 0 {
		r.PaymentsPerSecond = float64(m.succeeded) / m.elapsed.Seconds()
	}
	lat := m.latencies
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }
	if n := len(lat); n > 0 {
		var sum time.Duration
		for _, d := range lat {
			sum += d
		}
		r.LatencyMS = BenchLatency{P50: ms(percentile(lat, 0.50)), P90: ms(percentile(lat, 0.90)),
			P99: ms(percentile(lat, 0.99)), Max: ms(lat[n-1]), Mean: ms(sum / time.Duration(n))}
	}
}

// percentile returns the nearest-rank p-quantile of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func (r *BenchResult) print(w io.Writer) {
	server := r.Server
	if r.Database != "" {
		server += " " + r.Database
	}
	server += " server"
	if r.ServerPID > 0 {
		server += fmt.Sprintf(" (pid %d)", r.ServerPID)
	}
	fmt.Fprintf(w, "kassa bench: create+confirm payments against %s, concurrency %d\n", server, r.Concurrency)
	fmt.Fprintf(w, "  measured     %.2fs after %.1fs warm-up, %d requests, %d succeeded\n",
		r.DurationSeconds, r.WarmupSeconds, r.Requests, r.Succeeded)
	fmt.Fprintf(w, "  throughput   %.1f payments/s\n", r.PaymentsPerSecond)
	l := r.LatencyMS
	fmt.Fprintf(w, "  latency      p50 %.2fms  p90 %.2fms  p99 %.2fms  max %.2fms  (mean %.2fms)\n", l.P50, l.P90, l.P99, l.Max, l.Mean)
	if len(r.Errors) == 0 {
		fmt.Fprintf(w, "  errors       none\n")
	} else {
		keys := make([]string, 0, len(r.Errors))
		for k := range r.Errors {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s: %d", k, r.Errors[k])
		}
		fmt.Fprintf(w, "  errors       %s\n", strings.Join(parts, ", "))
	}
	if r.ServerPeakRSSBytes > 0 {
		fmt.Fprintf(w, "  server peak  %.1f MiB resident (VmHWM)\n", float64(r.ServerPeakRSSBytes)/(1<<20))
	} else {
		fmt.Fprintf(w, "  server peak  unknown (give --pid)\n")
	}
	if r.ServerCPUSeconds > 0 {
		fmt.Fprintf(w, "  server CPU   %.2fs (%.2f ms per payment); load generator CPU %.2fs\n",
			r.ServerCPUSeconds, r.ServerCPUPerPaymentMS, r.ClientCPUSeconds)
	}
	if r.Interrupted {
		fmt.Fprintf(w, "  (interrupted before the end)\n")
	}
}

// ---- the load generator

// paymentClient creates and confirms payments on one gateway in one request
// each, as a merchant's server does for a card it already holds.
type paymentClient struct {
	http     *http.Client
	base     string
	key      string
	amount   int64
	currency string
	expYear  int
}

// newPaymentClient returns a client that keeps up to conns connections to
// base open: without enough idle connections per host every request past
// the default two would open (and later close) its own TCP connection,
// which measures the kernel rather than the gateway.
func newPaymentClient(base, key string, conns int, timeout time.Duration) *paymentClient {
	tr := &http.Transport{
		Proxy:               nil, // loopback only: never through a proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns + 16,
		MaxIdleConnsPerHost: conns + 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &paymentClient{
		http: &http.Client{Transport: tr, Timeout: timeout},
		base: strings.TrimRight(base, "/"), key: key, amount: 1050, currency: "USD",
		expYear: time.Now().Year() + 3,
	}
}

// paymentReply is the part of a payment (or error) response the load generator reads.
type paymentReply struct {
	HTTPStatus     int    `json:"-"`
	ID             string `json:"id"`
	Status         string `json:"status"`
	Amount         int64  `json:"amount"`
	AmountCaptured int64  `json:"amount_captured"`
	Error          *struct {
		Code string `json:"code"`
	} `json:"error"`
}

// acknowledged reports whether the gateway confirmed the payment as paid.
func (r paymentReply) acknowledged() bool {
	return r.HTTPStatus == http.StatusCreated && r.Status == string(kassa.StatusSucceeded)
}

// outcome names a reply for the error counts: "" when acknowledged.
func (r paymentReply) outcome() string {
	switch {
	case r.acknowledged():
		return ""
	case r.Error != nil && r.Error.Code != "":
		return strconv.Itoa(r.HTTPStatus) + " " + r.Error.Code
	case r.Status != "":
		return strconv.Itoa(r.HTTPStatus) + " status " + r.Status
	}
	return strconv.Itoa(r.HTTPStatus)
}

// pay creates and confirms one payment for orderID with the test card that
// the simulator approves.
func (c *paymentClient) pay(ctx context.Context, orderID string) (paymentReply, error) {
	b := make([]byte, 0, 256)
	b = append(b, `{"amount":`...)
	b = strconv.AppendInt(b, c.amount, 10)
	b = append(b, `,"currency":`...)
	b = strconv.AppendQuote(b, c.currency)
	b = append(b, `,"order_id":`...)
	b = strconv.AppendQuote(b, orderID)
	b = append(b, `,"confirm":true,"payment_method":{"card":{"number":"4242424242424242","exp_month":12,"exp_year":`...)
	b = strconv.AppendInt(b, int64(c.expYear), 10)
	b = append(b, `,"cvc":"123"}}}`...)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/payments", bytes.NewReader(b))
	if err != nil {
		return paymentReply{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	return c.do(req)
}

// payment fetches one payment.
func (c *paymentClient) payment(ctx context.Context, id string) (paymentReply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/payments/"+url.PathEscape(id), nil)
	if err != nil {
		return paymentReply{}, err
	}
	return c.do(req)
}

func (c *paymentClient) do(req *http.Request) (paymentReply, error) {
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, err := c.http.Do(req)
	if err != nil {
		return paymentReply{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return paymentReply{}, err
	}
	r := paymentReply{HTTPStatus: resp.StatusCode}
	if err := json.Unmarshal(body, &r); err != nil && resp.StatusCode < 300 {
		return r, fmt.Errorf("bench: undecodable %d response: %v", resp.StatusCode, err)
	}
	r.HTTPStatus = resp.StatusCode
	return r, nil
}

// ping checks that the gateway answers and accepts the key, so a wrong key
// fails at once rather than as thousands of 401s.
func (c *paymentClient) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/payments?limit=1", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("bench: gateway unreachable: %w", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("bench: GET /v1/payments answered %s (is the key right?)", resp.Status)
	}
	return nil
}

// loadResult is one measured load phase.
type loadResult struct {
	elapsed   time.Duration
	latencies []time.Duration // one per request sent, in no order
	succeeded int
	errors    map[string]int
}

// runLoad runs workers clients, each sending one payment after another
// (closed loop), until d has passed since the start, limit payments were
// sent (limit 0: no count), or ctx ends. Requests in flight at the deadline
// finish and count; elapsed runs until the last of them returned.
func runLoad(ctx context.Context, c *paymentClient, orderPrefix string, workers int, d time.Duration, limit int) loadResult {
	start := time.Now()
	deadline := start.Add(d)
	var issued atomic.Int64
	type workerResult struct {
		lat       []time.Duration
		succeeded int
		errors    map[string]int
	}
	results := make([]workerResult, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := &results[w]
			res.errors = map[string]int{}
			for ctx.Err() == nil && time.Now().Before(deadline) {
				n := issued.Add(1)
				if limit > 0 && n > int64(limit) {
					return
				}
				t0 := time.Now()
				r, err := c.pay(ctx, orderPrefix+"-"+strconv.FormatInt(n, 10))
				res.lat = append(res.lat, time.Since(t0))
				switch {
				case err != nil && ctx.Err() != nil:
					res.errors["canceled"]++
				case err != nil:
					res.errors[transportError(err)]++
				case r.acknowledged():
					res.succeeded++
				default:
					res.errors[r.outcome()]++
				}
			}
		}()
	}
	wg.Wait()
	out := loadResult{elapsed: time.Since(start), errors: map[string]int{}}
	for _, r := range results {
		out.latencies = append(out.latencies, r.lat...)
		out.succeeded += r.succeeded
		for k, v := range r.errors {
			out.errors[k] += v
		}
	}
	return out
}

func transportError(err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	if strings.HasPrefix(err.Error(), "bench: undecodable") {
		return "undecodable response"
	}
	return "transport error"
}

// ---- targets: loopback only

// checkLoopbackURL refuses any gateway that is not on this machine: bench
// is a load generator, and load goes to loopback addresses only.
func checkLoopbackURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("bench: --url must be an http(s) URL, got %q", raw)
	}
	return checkLoopbackHost(ctx, u.Hostname())
}

func checkLoopbackHost(ctx context.Context, host string) error {
	if ip := net.ParseIP(host); ip != nil {
		if !ip.IsLoopback() {
			return fmt.Errorf("bench: %s is not a loopback address; bench only loads servers on this machine", host)
		}
		return nil
	}
	if !strings.EqualFold(host, "localhost") {
		return fmt.Errorf("bench: %q is not a loopback address; bench only loads servers on this machine (use 127.0.0.1)", host)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return fmt.Errorf("bench: resolve %s: %w", host, err)
	}
	for _, a := range addrs {
		if !a.IP.IsLoopback() {
			return fmt.Errorf("bench: %s resolves to %s, which is not loopback", host, a.IP)
		}
	}
	return nil
}

// readVmHWM returns a process's peak resident set size ("high water mark")
// in bytes, from Linux's /proc/PID/status.
func readVmHWM(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse VmHWM %q: %w", rest, err)
		}
		return kb * 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// processCPU returns the user+system CPU time a process has used, from
// Linux's /proc/PID/stat (in clock ticks of 1/100 s, USER_HZ on Linux).
func processCPU(pid int) (time.Duration, error) {
	if pid <= 0 {
		return 0, errors.New("no pid")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may contain spaces; fields after it are fixed.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("malformed /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// ---- the spawned server

// benchServer is a "kassa serve" child process over a database of its own.
type benchServer struct {
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd.Wait returned
	url     string
	key     string
	dialect string
	dir     string // temporary directory: server log and SQLite file
	logPath string
	where   string // the database, password redacted
	drop    func() // removes a temporary PostgreSQL schema
	keep    bool   // --keep-db: leave database and log in place
	once    sync.Once
}

// spawnBenchServer prepares a fresh database, creates a merchant in it with
// "kassa merchant create --json" (which also migrates), and starts this
// executable as "kassa serve" on an ephemeral loopback port.
func spawnBenchServer(ctx context.Context, o benchOptions, stderr io.Writer) (_ *benchServer, err error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("bench: find own executable: %w", err)
	}
	dir, err := os.MkdirTemp("", "kassa-bench-")
	if err != nil {
		return nil, err
	}
	s := &benchServer{dir: dir, logPath: filepath.Join(dir, "server.log"), exited: make(chan struct{}), keep: o.keepDB}
	defer func() {
		if err != nil {
			s.close(stderr)
		}
	}()
	dsn := o.db
	s.dialect = "sqlite"
	switch {
	case strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://"):
		s.dialect = "postgres"
		if dsn, s.drop, err = freshPostgresSchema(ctx, dsn); err != nil {
			return nil, err
		}
	case dsn == "":
		dsn = filepath.Join(dir, "bench.db")
	}

	s.where = redact(dsn)
	cctx, cancel := context.WithTimeout(ctx, benchStartTimeout)
	defer cancel()
	var out, errOut bytes.Buffer
	mc := exec.CommandContext(cctx, exe, "merchant", "create", "--name", "Bench merchant", "--json", "--db", dsn)
	mc.Stdout, mc.Stderr = &out, &errOut
	if err := mc.Run(); err != nil {
		return nil, fmt.Errorf("bench: kassa merchant create: %v: %s", err, strings.TrimSpace(errOut.String()))
	}
	var creds struct {
		SecretKey string `json:"secret_key"`
	}
	if err := json.Unmarshal(out.Bytes(), &creds); err != nil || creds.SecretKey == "" {
		return nil, fmt.Errorf("bench: kassa merchant create printed no key: %q", out.String())
	}
	s.key = creds.SecretKey

	logf, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own descriptor
	// Not CommandContext: on interrupt the server gets SIGTERM and drains,
	// as an operator's server would, rather than SIGKILL.
	s.cmd = exec.Command(exe, "serve", "--addr", "127.0.0.1:0", "--db", dsn)
	s.cmd.Env = append(os.Environ(), "KASSA_LOG_LEVEL=warn", "KASSA_BASE_URL=", "KASSA_ADDR=")
	s.cmd.Stderr = logf
	stdoutPipe, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start kassa serve: %w", err)
	}
	// The server prints "Kassa listening on http://ADDR (…)" once it listens;
	// the port is the kernel's choice, so no other process can race for it.
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdoutPipe)
		sent := false
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "Kassa listening on "); ok && !sent {
				addrc <- strings.Fields(rest)[0]
				sent = true
			}
		}
		io.Copy(io.Discard, stdoutPipe)
	}()
	go func() {
		s.cmd.Wait()
		close(s.exited)
	}()
	select {
	case s.url = <-addrc:
	case <-s.exited:
		return nil, fmt.Errorf("bench: kassa serve exited at start: %s", s.logTail())
	case <-cctx.Done():
		return nil, fmt.Errorf("bench: kassa serve did not start listening in %s: %s", benchStartTimeout, s.logTail())
	}
	if err := waitHealthy(cctx, s.url, s.exited); err != nil {
		return nil, fmt.Errorf("%w: %s", err, s.logTail())
	}
	fmt.Fprintf(stderr, "bench: spawned kassa serve (pid %d) at %s over %s %s\n", s.cmd.Process.Pid, s.url, s.dialect, s.where)
	return s, nil
}

// waitHealthy polls GET /healthz until it answers 200.
func waitHealthy(ctx context.Context, base string, exited <-chan struct{}) error {
	c := &http.Client{Timeout: 2 * time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
		if err != nil {
			return err
		}
		if resp, err := c.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("bench: kassa serve exited before it was healthy")
		case <-ctx.Done():
			return fmt.Errorf("bench: kassa serve not healthy: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM and waits for the server to drain and exit (SIGKILL
// after benchStopTimeout).
func (s *benchServer) stop(stderr io.Writer) {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.exited:
		return
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.cmd.Process.Kill()
	}
	select {
	case <-s.exited:
	case <-time.After(benchStopTimeout):
		fmt.Fprintf(stderr, "bench: kassa serve ignored SIGTERM for %s; killing it\n", benchStopTimeout)
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// close stops the server and removes what the run created, unless kept.
func (s *benchServer) close(stderr io.Writer) {
	s.once.Do(func() {
		s.stop(stderr)
		if s.keep {
			fmt.Fprintf(stderr, "bench: kept the database %s; server log in %s\n", s.where, s.logPath)
			return
		}
		if s.drop != nil {
			s.drop()
		}
		os.RemoveAll(s.dir)
	})
}

func (s *benchServer) logTail() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return "(no server log)"
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return "server log: " + strings.TrimSpace(string(b))
}

// freshPostgresSchema creates an empty schema in the PostgreSQL database
// named by base and returns a DSN whose search_path is that schema, so that
// a bench run neither sees nor disturbs any other data, and a func dropping it.
func freshPostgresSchema(ctx context.Context, base string) (string, func(), error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", nil, fmt.Errorf("bench: --db: %w", err)
	}
	if h := u.Hostname(); h != "" {
		if err := checkLoopbackHost(ctx, h); err != nil {
			return "", nil, err
		}
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		return "", nil, err
	}
	schema := "kassa_bench_" + strings.ToLower(kassa.RandomToken(8))
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(cctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("bench: create schema in %s: %w", redact(base), err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	drop := func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin.ExecContext(dctx, "DROP SCHEMA "+schema+" CASCADE")
		admin.Close()
	}
	return u.String(), drop, nil
}
