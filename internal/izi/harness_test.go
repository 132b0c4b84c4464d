package izi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/api"
	"github.com/kassa-pay/kassa/internal/checkout"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/izi"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/internal/processor"
	"github.com/kassa-pay/kassa/internal/store"
)

// fast is the IPN retry schedule in tests (the real one is minutes to hours).
var fast = notify.Schedule{20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond}

// gateway is a whole Kassa on loopback: API, checkout, izi adapter,
// notification workers with the IPN formats and the payout runner.
type gateway struct {
	t   *testing.T
	db  *store.DB
	eng *engine.Engine
	url string
	sk  string
	pr  kassa.Principal
	ipn *ipnReceiver
}

func startGateway(t *testing.T, db *store.DB) *gateway {
	t.Helper()
	g := &gateway{t: t, db: db}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.url = "http://" + ln.Addr().String()
	sim := processor.NewSimulator(db.SQL(), g.url)
	g.eng = engine.New(db, sim, engine.Config{BaseURL: g.url, ReconcileGrace: time.Hour}, nil)
	mux := http.NewServeMux()
	mux.Handle("/simulator/", sim.Handler())
	mux.Handle("/", api.New(g.eng, nil))
	checkout.New(g.eng, checkout.Config{}, nil).Register(mux)
	izi.New(g.eng, nil).Register(mux)
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: mux}}
	srv.Start()
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	svc := notify.New(db, notify.Config{Workers: 4, Timeout: 2 * time.Second, Lease: 3 * time.Second, PollInterval: 20 * time.Millisecond,
		Guard: notify.Guard{AllowPrivate: true}, Formats: izi.Formats(g.eng, fast)}, nil)
	wg.Add(2)
	go func() { defer wg.Done(); svc.Run(ctx) }()
	go func() {
		defer wg.Done()
		g.eng.RunPayouts(ctx, processor.NewPayoutSimulator(db.SQL()), 50*time.Millisecond)
	}()

	creds, err := g.eng.CreateMerchant(context.Background(), "Exchange Shop", "")
	if err != nil {
		t.Fatal(err)
	}
	g.sk, g.pr = creds.SecretKey, kassa.Principal{MerchantID: creds.Merchant.ID}
	g.ipn = newIPNReceiver(t)
	return g
}

// do sends a request and returns status and body.
func (g *gateway) do(method, path, ctype, body string, auth bool) (int, []byte, http.Header) {
	g.t.Helper()
	req, _ := http.NewRequest(method, g.url+path, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+g.sk)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b, res.Header
}

// api calls Kassa's REST API with the secret key and decodes a 2xx answer.
func (g *gateway) api(method, path, body string, out any) {
	g.t.Helper()
	ct := ""
	if body != "" {
		ct = "application/json"
	}
	code, b, _ := g.do(method, path, ct, body, true)
	if code >= 300 {
		g.t.Fatalf("%s %s: %d %s", method, path, code, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			g.t.Fatal(err)
		}
	}
}

// createRoute adds a route through the REST API.
func (g *gateway) createRoute(body string) string {
	g.t.Helper()
	var r struct{ ID string }
	g.api("POST", "/v1/routes", body, &r)
	return r.ID
}

// izi is one answer of the izi.exchange API, with the raw data kept so
// amounts can be checked as the exact text sent.
type iziAnswer struct {
	Success bool            `json:"success"`
	Data    json.RawMessage `json:"data"`
	Error   *struct {
		APIError  bool   `json:"apiError"`
		Message   string `json:"message"`
		ErrorCode int    `json:"errorCode"`
		Code      string `json:"code"`
		Param     string `json:"param"`
		Object    *struct {
			FieldID string `json:"fieldId"`
			Err     string `json:"err"`
			Type    string `json:"type"`
		} `json:"object"`
	} `json:"error"`
	RequestID string `json:"requestId"`
	status    int
}

type orderData struct {
	ID         string             `json:"_id"`
	UID        int64              `json:"uid"`
	Secret     string             `json:"secret"`
	Status     string             `json:"status"`
	InAmount   json.Number        `json:"inAmount"`
	OutAmount  json.Number        `json:"outAmount"`
	XMLFrom    string             `json:"xml_from"`
	XMLTo      string             `json:"xml_to"`
	PaymentURL string             `json:"payment_url"`
	OrderURL   string             `json:"order_url"`
	ToValues   []kassa.OrderValue `json:"toValues"`
}

func (g *gateway) izi(path string, form url.Values, auth bool) *iziAnswer {
	g.t.Helper()
	code, b, _ := g.do("POST", path, "application/x-www-form-urlencoded", form.Encode(), auth)
	var a iziAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		g.t.Fatalf("%s: %d %s", path, code, b)
	}
	a.status = code
	return &a
}

func (a *iziAnswer) order(t *testing.T) *orderData {
	t.Helper()
	if !a.Success {
		t.Fatalf("izi call failed: %d %+v", a.status, a.Error)
	}
	dec := json.NewDecoder(bytes.NewReader(a.Data))
	dec.UseNumber()
	var o orderData
	if err := dec.Decode(&o); err != nil {
		t.Fatal(err)
	}
	return &o
}

// orderForm is a valid order/create request for route with recipient account.
func (g *gateway) orderForm(route, amount, account, ipnSecret string) url.Values {
	f := url.Values{}
	f.Set("routeId", route)
	f.Set("amount", amount)
	f.Set("partner", "ref42")
	f.Set("fromValues[0][key]", "email")
	f.Set("fromValues[0][value]", "payer@example.com")
	f.Set("toValues[0][key]", "account")
	f.Set("toValues[0][value]", account)
	f.Set("routeValues[0][key]", "phone")
	f.Set("routeValues[0][value]", "+51 999 000 111")
	f.Set("lang", "en")
	f.Set("agreement", "true")
	f.Set("clientCallbackUrl", "https://shop.example/back?cart=9")
	if ipnSecret != "" {
		f.Set("ipnUrl", g.ipn.URL+"/ipn")
		f.Set("ipnSecret", ipnSecret)
	}
	return f
}

func (g *gateway) createOrder(form url.Values) *orderData {
	g.t.Helper()
	o := g.izi("/public/exchanger/order/create", form, true).order(g.t)
	g.ipn.expectSecret(o.ID, form.Get("ipnSecret"))
	return o
}

// status reads an order's status through order/get.
func (g *gateway) status(o *orderData) string {
	g.t.Helper()
	f := url.Values{"orderUID": {jsonInt(o.UID)}, "orderSecret": {o.Secret}}
	return g.izi("/public/exchanger/order/get", f, false).order(g.t).Status
}

func jsonInt(v int64) string { return strconv.FormatInt(v, 10) }

// waitStatus polls order/get until the order reaches want.
func (g *gateway) waitStatus(o *orderData, want string) {
	g.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		if got = g.status(o); got == want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	g.t.Fatalf("order %d stayed %s, want %s", o.UID, got, want)
}

// startPayment presses "pay" on the payment page and returns the card
// form's client secret from the redirect.
func (g *gateway) startPayment(o *orderData) string {
	g.t.Helper()
	path := strings.TrimPrefix(o.PaymentURL, g.url)
	code, b, h := g.do("POST", path, "application/x-www-form-urlencoded", "", false)
	loc := h.Get("Location")
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, g.url+"/pay/") {
		g.t.Fatalf("pay: %d %s %s", code, loc, b)
	}
	secret, _, _ := strings.Cut(strings.TrimPrefix(loc, g.url+"/pay/"), "?")
	return secret
}

// payCard submits a card in Kassa's checkout form (its JSON endpoint, as
// form.js does) and returns the payment status it reports.
func (g *gateway) payCard(clientSecret, number string) string {
	g.t.Helper()
	body := `{"client_secret":"` + clientSecret + `","locale":"en","card":{"number":"` + number + `","exp_month":12,"exp_year":2034,"cvc":"123"}}`
	code, b, _ := g.do("POST", "/checkout/v1/confirm", "application/json", body, false)
	if code != http.StatusOK {
		g.t.Fatalf("confirm: %d %s", code, b)
	}
	var out struct {
		Status string `json:"status"`
	}
	json.Unmarshal(b, &out)
	return out.Status
}

// ipnReceiver is the merchant's IPN endpoint. It checks every hash with the
// order's ipnSecret and can fail chosen attempts.
type ipnReceiver struct {
	*httptest.Server
	t       *testing.T
	mu      sync.Mutex
	secrets map[string]string       // order ID → ipnSecret
	got     map[string][]url.Values // order ID → accepted IPNs, in arrival order
	tries   map[string]int          // orderID/status → attempts
	bad     []string                // IPNs that did not verify
	fail    map[string]int          // orderID/status → answer 500 to this many attempts first
}

func newIPNReceiver(t *testing.T) *ipnReceiver {
	r := &ipnReceiver{t: t, secrets: map[string]string{}, got: map[string][]url.Values{}, tries: map[string]int{}, fail: map[string]int{}}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (r *ipnReceiver) expectSecret(orderID, secret string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets[orderID] = secret
}

func (r *ipnReceiver) failFirst(orderID, status string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail[orderID+"/"+status] = n
}

func (r *ipnReceiver) serve(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		http.Error(w, "want a form POST", http.StatusBadRequest)
		return
	}
	if err := req.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f := req.PostForm
	id := f.Get("orderId")
	r.mu.Lock()
	defer r.mu.Unlock()
	secret, known := r.secrets[id]
	if !known || !izi.VerifyIPN(f, secret) {
		r.bad = append(r.bad, f.Encode())
		http.Error(w, "bad hash", http.StatusForbidden)
		return
	}
	key := id + "/" + f.Get("newStatus")
	r.tries[key]++
	if r.tries[key] <= r.fail[key] {
		http.Error(w, "try later", http.StatusInternalServerError)
		return
	}
	r.got[id] = append(r.got[id], f)
	io.WriteString(w, "OK")
}

// statuses returns the statuses of the accepted IPNs of an order, sorted
// by their timestamp (workers deliver in parallel, so arrival order may
// differ from the order of the changes).
func (r *ipnReceiver) statuses(orderID string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, f := range r.got[orderID] {
		out = append(out, f.Get("newStatus"))
	}
	return out
}

func (r *ipnReceiver) attempts(orderID, status string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tries[orderID+"/"+status]
}

func (r *ipnReceiver) badHashes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bad...)
}

// waitIPNs waits until the order's accepted IPNs are exactly want (as a
// multiset) and checks that nothing arrived with a bad hash.
func (g *gateway) waitIPNs(o *orderData, want ...string) []url.Values {
	g.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var got []string
	for time.Now().Before(deadline) {
		got = g.ipn.statuses(o.ID)
		if sameMultiset(got, want) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !sameMultiset(got, want) {
		g.t.Fatalf("order %d IPNs %v, want %v", o.UID, got, want)
	}
	if bad := g.ipn.badHashes(); len(bad) > 0 {
		g.t.Fatalf("IPNs with a bad hash: %v", bad)
	}
	g.ipn.mu.Lock()
	defer g.ipn.mu.Unlock()
	return append([]url.Values(nil), g.ipn.got[o.ID]...)
}

func sameMultiset(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	n := map[string]int{}
	for _, x := range a {
		n[x]++
	}
	for _, x := range b {
		n[x]--
	}
	for _, v := range n {
		if v != 0 {
			return false
		}
	}
	return true
}

// extractData returns the data of an izi envelope.
func extractData(t *testing.T, body []byte) json.RawMessage {
	t.Helper()
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	return env.Data
}

// wrongSecret returns s with its last character changed (never s itself).
func wrongSecret(s string) string {
	last := "0"
	if s[len(s)-1] == '0' {
		last = "1"
	}
	return s[:len(s)-1] + last
}
