// Package demoshop is a small merchant web shop that pays through Kassa's
// hosted checkout, the way a merchant's integration would: its server
// creates payments with the secret key over the REST API, its page loads
// kassa.js from the gateway and mounts the form in one of the three modes,
// and its server verifies the signed result. `kassa demo` runs it on a
// second origin next to the gateway, and the browser tests drive it.
package demoshop

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/resultsig"
)

//go:embed static page.html
var files embed.FS

var page = template.Must(template.ParseFS(files, "page.html"))

// Config describes the shop and the gateway it uses.
type Config struct {
	// GatewayURL is the gateway's base URL as browsers reach it (kassa.js
	// is loaded from there) and as the shop's server calls its API.
	GatewayURL     string
	SecretKey      string // sk_test_…, used only by the shop's server
	PublishableKey string // pk_test_…, given to the page
	Product        string // default "Kassa T-shirt"
	Amount         int64  // minor units; default 2500
	Currency       string // default USD
	Client         *http.Client
}

// Shop is the demo shop's HTTP handler.
type Shop struct {
	cfg     Config
	gateway string // origin of GatewayURL
	mux     *http.ServeMux

	mu            sync.Mutex
	signingSecret string
}

// New returns the shop.
func New(cfg Config) *Shop {
	cfg.GatewayURL = strings.TrimRight(cfg.GatewayURL, "/")
	if cfg.Product == "" {
		cfg.Product = "Kassa T-shirt"
	}
	if cfg.Amount == 0 {
		cfg.Amount = 2500
	}
	if cfg.Currency == "" {
		cfg.Currency = "USD"
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 60 * time.Second}
	}
	gw, _ := url.Parse(cfg.GatewayURL)
	s := &Shop{cfg: cfg, gateway: gw.Scheme + "://" + gw.Host, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /{$}", s.home)
	s.mux.HandleFunc("GET /return", s.back)
	s.mux.HandleFunc("GET /cancel", s.back)
	s.mux.Handle("GET /static/", http.FileServerFS(files))
	s.mux.HandleFunc("POST /api/payments", s.createPayment)
	s.mux.HandleFunc("POST /api/verify", s.verify)
	return s
}

func (s *Shop) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Setup makes the merchant's checkout settings fit the shop: its origins
// may embed the form and receive results, and the form shows the shop's
// name and color. It also learns the result-signing secret.
func (s *Shop) Setup(ctx context.Context, origins []string) error {
	body := map[string]any{"allowed_origins": origins, "display_name": "Kassa Demo Shop", "accent_color": "#0b6e4f"}
	var out struct {
		Secret string `json:"result_signing_secret"`
	}
	if err := s.api(ctx, http.MethodPost, "/v1/merchant/settings", body, &out); err != nil {
		return err
	}
	s.mu.Lock()
	s.signingSecret = out.Secret
	s.mu.Unlock()
	return nil
}

func (s *Shop) secret(ctx context.Context) (string, error) {
	s.mu.Lock()
	sec := s.signingSecret
	s.mu.Unlock()
	if sec != "" {
		return sec, nil
	}
	var out struct {
		Secret string `json:"result_signing_secret"`
	}
	if err := s.api(ctx, http.MethodGet, "/v1/merchant/settings", nil, &out); err != nil {
		return "", err
	}
	s.mu.Lock()
	s.signingSecret = out.Secret
	s.mu.Unlock()
	return out.Secret, nil
}

// api calls the gateway's REST API with the secret key.
func (s *Shop) api(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.cfg.GatewayURL+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.cfg.SecretKey)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := s.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, path, res.Status, bytes.TrimSpace(b))
	}
	return json.Unmarshal(b, out)
}

type pageView struct {
	Gateway, PublishableKey, Product, Price string
	Result                                  *shownResult
}

type shownResult struct {
	PaymentID, Status, APIStatus string
	Verified                     bool
}

func (s *Shop) headers(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// What a merchant page needs to host Kassa's checkout: the script and
	// the frame from the gateway's origin, nothing inline.
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self' "+s.gateway+
		"; frame-src "+s.gateway+"; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'")
}

func (s *Shop) view() pageView {
	return pageView{Gateway: s.cfg.GatewayURL, PublishableKey: s.cfg.PublishableKey, Product: s.cfg.Product,
		Price: kassa.FormatAmount(s.cfg.Amount, s.cfg.Currency) + " " + s.cfg.Currency}
}

func (s *Shop) home(w http.ResponseWriter, r *http.Request) {
	s.headers(w)
	page.Execute(w, s.view())
}

// back is the return_url and cancel_url: the shop verifies the signed
// result in the query and shows it, with the status the API reports.
func (s *Shop) back(w http.ResponseWriter, r *http.Request) {
	v := s.view()
	res := &shownResult{PaymentID: r.URL.Query().Get("payment_id"), Status: r.URL.Query().Get("status")}
	if sec, err := s.secret(r.Context()); err == nil {
		_, _, verr := resultsig.VerifyQuery(sec, r.URL.Query())
		res.Verified = verr == nil
	}
	if res.Verified {
		res.APIStatus = s.apiStatus(r.Context(), res.PaymentID)
	}
	v.Result = res
	s.headers(w)
	page.Execute(w, v)
}

func (s *Shop) apiStatus(ctx context.Context, id string) string {
	var p struct {
		Status string `json:"status"`
	}
	if err := s.api(ctx, http.MethodGet, "/v1/payments/"+url.PathEscape(id), nil, &p); err != nil {
		return "unknown"
	}
	return p.Status
}

func baseOf(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Shop) createPayment(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Mode, Locale string
	}
	json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&in)
	base := baseOf(r)
	req := map[string]any{
		"amount": s.cfg.Amount, "currency": s.cfg.Currency, "description": s.cfg.Product,
		"order_id":   "demo-" + kassa.RandomToken(6),
		"return_url": base + "/return", "cancel_url": base + "/cancel",
		"metadata": map[string]string{"mode": in.Mode, "locale": in.Locale},
	}
	var p struct {
		ID           string `json:"id"`
		ClientSecret string `json:"client_secret"`
		CheckoutURL  string `json:"checkout_url"`
	}
	if err := s.api(r.Context(), http.MethodPost, "/v1/payments", req, &p); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	writeJSON(w, map[string]string{"payment_id": p.ID, "client_secret": p.ClientSecret, "checkout_url": p.CheckoutURL})
}

// verify is what a merchant's server does with a result from onResult:
// check the signature with the result-signing secret, then (for
// fulfilment) ask the API for the payment.
func (s *Shop) verify(w http.ResponseWriter, r *http.Request) {
	var in struct {
		PaymentID string `json:"payment_id"`
		Status    string `json:"status"`
		Signature string `json:"signature"`
	}
	json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&in)
	sec, err := s.secret(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out := map[string]any{"verified": resultsig.Verify(sec, in.PaymentID, in.Status, in.Signature)}
	if out["verified"] == true {
		out["api_status"] = s.apiStatus(r.Context(), in.PaymentID)
	}
	writeJSON(w, out)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v)
}
