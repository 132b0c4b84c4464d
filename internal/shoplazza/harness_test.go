package shoplazza_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"html"
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

	"github.com/kassa-pay/kassa/internal/api"
	"github.com/kassa-pay/kassa/internal/checkout"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/internal/processor"
	"github.com/kassa-pay/kassa/internal/shoplazza"
	"github.com/kassa-pay/kassa/internal/store"
)

const (
	appID        = "db5fc9a6-2a64-11ec-8d3d-0242ac130003"
	accountID    = "TIOnETZE"
	clientSecret = "test_client_secret_123"
	accessToken  = "shop-access-token-xyz"
	shopDomain   = "developer.myshoplaza.com"
)

// call is one request the stand-in shop received.
type call struct {
	Path string
	Body map[string]any
	Raw  string
}

// shop plays Shoplazza: it signs payment and refund requests as §7 of the
// spec does (hex HMAC-SHA256 of the raw body with the client secret), and
// serves the complete and notify endpoints, which check the signature and
// Access-Token of Kassa's calls and record them.
type shop struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	calls  []call
	failN  int // answer the next failN notify calls with 500
	badSig int
}

func newShop(t *testing.T) *shop {
	s := &shop{t: t}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /openapi/2022-01/payments_apps/complete_callbacks", func(w http.ResponseWriter, r *http.Request) {
		if !s.record(w, r) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"redirect_url":"`+s.srv.URL+`/checkout/thanks?order=1"}`)
	})
	mux.HandleFunc("POST /openapi/2022-01/payments_apps/notify_callbacks", func(w http.ResponseWriter, r *http.Request) {
		if !s.record(w, r) {
			return
		}
		s.mu.Lock()
		fail := s.failN > 0
		if fail {
			s.failN--
		}
		s.mu.Unlock()
		if fail {
			http.Error(w, "busy", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, `{}`)
	})
	// The shop's checkout page of the iframe model: Shoplazza loads the
	// redirect_url in an iframe of the size the app answered.
	mux.HandleFunc("GET /checkout/iframe", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, `<!doctype html><title>shop checkout</title><h1 id="shop-checkout">Checkout</h1><iframe id="pay" src="`+
			html.EscapeString(q.Get("src"))+`" width="`+html.EscapeString(q.Get("w"))+`" height="`+html.EscapeString(q.Get("h"))+`"></iframe>`)
	})
	mux.HandleFunc("GET /checkout/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, `<!doctype html><title>shop</title><h1 id="shop-page">`+r.URL.Path+`</h1>`)
	})
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	return s
}

func (s *shop) record(w http.ResponseWriter, r *http.Request) bool {
	b, _ := io.ReadAll(r.Body)
	m := hmac.New(sha256.New, []byte(clientSecret))
	m.Write(b)
	if r.Header.Get("Shoplazza-Hmac-Sha256") != hex.EncodeToString(m.Sum(nil)) || r.Header.Get("Access-Token") != accessToken ||
		r.Header.Get("Shoplazza-Shop-Domain") != shopDomain || r.Header.Get("Content-Type") != "application/json" {
		s.mu.Lock()
		s.badSig++
		s.mu.Unlock()
		http.Error(w, `{}`, http.StatusUnauthorized)
		return false
	}
	var body map[string]any
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	if err := d.Decode(&body); err != nil {
		http.Error(w, `{}`, http.StatusBadRequest)
		return false
	}
	s.mu.Lock()
	s.calls = append(s.calls, call{Path: r.URL.Path, Body: body, Raw: string(b)})
	s.mu.Unlock()
	return true
}

func (s *shop) callsTo(suffix string) []call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []call
	for _, c := range s.calls {
		if strings.HasSuffix(c.Path, suffix) {
			out = append(out, c)
		}
	}
	return out
}

// waitCalls polls until n calls reached suffix.
func (s *shop) waitCalls(t *testing.T, suffix string, n int) []call {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if c := s.callsTo(suffix); len(c) >= n {
			return c
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s got %d calls, want %d: %+v", suffix, len(s.callsTo(suffix)), n, s.calls)
	return nil
}

// gateway is Kassa with the Shoplazza adapter, its checkout and a notify
// worker, on a loopback port.
type gateway struct {
	t          *testing.T
	db         *store.DB
	url        string
	eng        *engine.Engine
	merchantID string
	secretKey  string
	shop       *shop
	h          *shoplazza.Handler
	// customDomain is sent as Custom-Domain ("localhost" unless set).
	customDomain string
}

func startGateway(t *testing.T, db *store.DB, model string, cfg shoplazza.Config) *gateway {
	t.Helper()
	g := &gateway{t: t, db: db, shop: newShop(t)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.url = "http://" + ln.Addr().String()
	sim := processor.NewSimulator(db.SQL(), g.url)
	g.eng = engine.New(db, sim, engine.Config{BaseURL: g.url, ReconcileGrace: time.Nanosecond}, nil)
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	s, err := engine.NewShoplazza(g.eng, key)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/simulator/", sim.Handler())
	mux.Handle("/", api.New(g.eng, nil))
	g.h, err = shoplazza.New(s, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	g.h.Register(mux)
	checkout.New(g.eng, checkout.Config{FrameAncestors: g.h.FrameAncestors}, nil).Register(mux)
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: mux}}
	srv.Start()
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithCancel(context.Background())
	n := notify.New(db, notify.Config{Formats: map[string]notify.Format{shoplazza.FormatName: g.h.Format()},
		Guard: notify.Guard{AllowPrivate: true}, PollInterval: 50 * time.Millisecond}, nil)
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	creds, err := g.eng.CreateMerchant(context.Background(), "Shoplazza Test Shop", "")
	if err != nil {
		t.Fatal(err)
	}
	g.merchantID, g.secretKey = creds.Merchant.ID, creds.SecretKey
	if _, err := s.Bind(context.Background(), engine.ShoplazzaBindParams{MerchantID: g.merchantID, AppID: appID,
		ClientSecret: clientSecret, ShopDomain: shopDomain, AccessToken: accessToken, AccountID: accountID,
		Model: model, IframeWidth: 100, IframeHeight: 5000}); err != nil {
		t.Fatal(err)
	}
	return g
}

// paymentForm is the seed's example request, with its stray spaces, for
// order and card, URLs pointing at the stand-in shop and a fresh timestamp.
func (g *gateway) paymentForm(id, order, typ, cardNumber string) url.Values {
	shopURL := g.shop.srv.URL
	v := url.Values{}
	for k, s := range map[string]string{
		"id": id, "app_id": appID, "account_id": accountID, "shoplazza_order_id": order, "amount": "254.20", "currency": "CAD",
		"products":       `[{"name":"name","quantity":"2","unit_price":"20.00","sku":"2023","url":"http://a.bc/def","desc":"desc"}]`,
		"cancel_url":     shopURL + "/checkout/3444-222GOA08029",
		"complete_url":   shopURL + "/openapi/2022-01/payments_apps/complete_callbacks?version=1.0",
		"callback_url":   shopURL + "/openapi/2022-01/payments_apps/notify_callbacks?version=1.0",
		"customer_email": "[email protected]", "customer_phone_number": "18202787518",
		"customer_billing_address1": "Address detail 1", "customer_billing_address2": "Address detail 2",
		"customer_billing_last_name": "lv", "customer_billing_first_name": "jianxing", "customer_billing_province": "Liaoning",
		"customer_billing_city": "Heishan County", "customer_billing_postal_code": "123123", "customer_billing_country_code": "CN",
		"customer_billing_company": "shoplazza", "customer_billing_state": "LN", "customer_billing_phone": "13922235670",
		"customer_shipping_address1": "Shipping_address 1", "customer_shipping_address2": "Shipping_address 2",
		"customer_shipping_last_name": "jiaxing", "customer_shipping_first_name": "lv", "customer_shipping_province": "Liaoning",
		"customer_shipping_city": "Heishan County", "customer_shipping_postal_code": "123123", "customer_shipping_country_code": "CN",
		"customer_shipping_company": "Shoplazza", "customer_shipping_state": "LN", "customer_shipping_phone": "13922235670",
		"test": "false", "type": typ, "timestamp": strconv.FormatInt(time.Now().Unix(), 10),
		"x_future_field": "kept",
	} {
		v.Set(k, s)
	}
	if typ == "card" {
		v.Set("cards", `{"first_name":"Percy ","last_name":"Parker ","card_number":"`+cardNumber+` ","expire_year":"2034 ","expire_month":"12 ","card_cvv":"123"}`)
	}
	return v
}

type answer struct {
	Status int
	Body   map[string]any
	Raw    string
}

// post sends a form signed as Shoplazza signs it (sig "" signs correctly).
func (g *gateway) post(path string, form url.Values, sig string) answer {
	g.t.Helper()
	return g.send(path, "application/x-www-form-urlencoded", form.Encode(), sig)
}

// postRaw sends body as contentType, signed correctly.
func (g *gateway) postRaw(path, contentType, body string) answer {
	g.t.Helper()
	return g.send(path, contentType, body, "")
}

func (g *gateway) send(path, contentType, body, sig string) answer {
	g.t.Helper()
	if sig == "" {
		m := hmac.New(sha256.New, []byte(clientSecret))
		m.Write([]byte(body))
		sig = hex.EncodeToString(m.Sum(nil))
	}
	req, _ := http.NewRequest("POST", g.url+path, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Shoplazza-Shop-Id", "1339409")
	req.Header.Set("Shoplazza-Shop-Domain", shopDomain)
	cd := g.customDomain
	if cd == "" {
		cd = "localhost"
	}
	req.Header.Set("Custom-Domain", cd)
	req.Header.Set("Custom-Ip", "203.0.113.7")
	req.Header.Set("User-Agent", "Mozilla/5.0 test")
	req.Header.Set("Shoplazza-Request-Id", "444fac0a-2115-11ec-9621-0242ac130002")
	req.Header.Set("Shoplazza-Api-Version", "2022-01")
	req.Header.Set("Customer-Cpf", "11111111111-11")
	if sig != "-" {
		req.Header.Set("Shoplazza-Hmac-Sha256", sig)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	a := answer{Status: res.StatusCode, Raw: string(b)}
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	if err := d.Decode(&a.Body); err != nil {
		g.t.Fatalf("%s answered %d, not JSON: %s", path, res.StatusCode, b)
	}
	return a
}

// count returns how many rows a query counts.
func (g *gateway) count(q string, args ...any) int {
	g.t.Helper()
	var n int
	if err := g.db.SQL().QueryRow(q, args...).Scan(&n); err != nil {
		g.t.Fatal(err)
	}
	return n
}

func (g *gateway) refundForm(id, paymentID, amount string) url.Values {
	return url.Values{"id": {id}, "app_id": {appID}, "account_id": {accountID}, "payment_id": {paymentID}, "amount": {amount},
		"currency": {"CAD"}, "callback_url": {g.shop.srv.URL + "/openapi/2022-01/payments_apps/notify_callbacks?version=1.0"},
		"test": {"false"}, "type": {"refund"}, "extra": {"625598363623041156"}, "timestamp": {time.Now().UTC().Format(time.RFC3339)}}
}
