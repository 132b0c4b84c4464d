package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi/datamodel"

	"github.com/kassa-pay/kassa/internal/api"
)

// spec is the OpenAPI document loaded into libopenapi-validator, which
// checks the document against the OpenAPI 3.1 meta-schema and HTTP
// exchanges against the document's operations and JSON Schemas.
type spec struct {
	mu sync.Mutex // the validator's caches are not documented as goroutine-safe
	v  validator.Validator
	// lax is v without strict mode, for GET /openapi.json, whose body (the
	// document itself) is declared only as an object.
	lax validator.Validator
	// checked counts the exchanges validated, so a test can tell the
	// checks ran.
	checked atomic.Int64
}

var (
	specOnce sync.Once
	specV    *spec
	specErr  error
)

// loadSpec parses api.OpenAPI once per test binary.
func loadSpec(t testing.TB) *spec {
	t.Helper()
	specOnce.Do(func() {
		v, err := newValidator(api.OpenAPI, true)
		if err != nil {
			specErr = err
			return
		}
		lax, err := newValidator(api.OpenAPI, false)
		specV, specErr = &spec{v: v, lax: lax}, err
	})
	if specErr != nil {
		t.Fatalf("OpenAPI document: %v", specErr)
	}
	return specV
}

func newValidator(doc []byte, strict bool) (validator.Validator, error) {
	// Its logger would print what the returned errors already say.
	d, err := libopenapi.NewDocumentWithConfiguration(doc, &datamodel.DocumentConfiguration{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, err
	}
	var opts []config.Option
	if strict {
		// Strict mode reports properties the document does not declare, in
		// responses too, so every field the server sends must be documented.
		// Metadata maps are declared by additionalProperties, which strict
		// mode would report key by key.
		opts = append(opts, config.WithStrictMode(),
			config.WithStrictIgnorePaths("$.body.metadata.*", "$.body.**.metadata.*"))
	}
	v, errs := validator.NewValidator(d, opts...)
	if len(errs) > 0 {
		return nil, fmt.Errorf("building the validator: %v", errs)
	}
	return v, nil
}

func describe(errs []*verrors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "\n  - %s: %s", e.Message, e.Reason)
		for _, s := range e.SchemaValidationErrors {
			fmt.Fprintf(&b, "\n      %s %s: %s", s.FieldPath, s.KeywordLocation, s.Reason)
		}
	}
	return b.String()
}

// TestOpenAPIDocumentValid checks the document against the OpenAPI 3.1
// specification's schema, and that the validator notices a broken one (so
// the first check is not vacuous).
func TestOpenAPIDocumentValid(t *testing.T) {
	var head struct {
		OpenAPI string `json:"openapi"`
	}
	if err := json.Unmarshal(api.OpenAPI, &head); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	if head.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", head.OpenAPI)
	}
	s := loadSpec(t)
	if ok, errs := s.v.ValidateDocument(); !ok {
		t.Fatalf("openapi.json does not validate against the OpenAPI 3.1 schema:%s", describe(errs))
	}

	broken := bytes.Replace(api.OpenAPI, []byte(`"description": "A page of payments."`), []byte(`"description": 5`), 1)
	if bytes.Equal(broken, api.OpenAPI) {
		t.Fatal("mutation target not found; update the test")
	}
	bv, err := newValidator(broken, false)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := bv.ValidateDocument(); ok {
		t.Error("a document with a numeric response description passed validation")
	}
	if _, err := newValidator(bytes.Replace(api.OpenAPI, []byte(`"#/components/schemas/CardSummary"`), []byte(`"#/components/schemas/Nope"`), 1), false); err == nil {
		t.Error("a document with a dangling $ref built a validator")
	}
}

// TestOpenAPIDocumentMatchesRoutes compares the API's routes with the
// document's operations, both ways. Routes outside /v1, /healthz and
// /openapi.json are browser pages (HTML) and need not be documented.
func TestOpenAPIDocumentMatchesRoutes(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(api.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	methods := []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}
	documented := map[string]string{} // normalized → as written
	for path, item := range doc.Paths {
		for m := range item {
			if slices.Contains(methods, m) {
				documented[normRoute(strings.ToUpper(m), path)] = strings.ToUpper(m) + " " + path
			}
		}
	}

	srv := api.New(nil, nil) // routes only; no request is served
	served := map[string]string{}
	var all []string
	for _, pattern := range srv.Routes() {
		method, path, ok := strings.Cut(pattern, " ")
		if !ok || strings.HasPrefix(method, "/") {
			t.Errorf("route %q has no method: register one pattern per method so each can be documented", pattern)
			continue
		}
		all = append(all, normRoute(method, path))
		if documentedPrefix(path) {
			served[normRoute(method, path)] = pattern
		}
	}

	var missing, extra []string
	for n, p := range served {
		if _, ok := documented[n]; !ok {
			missing = append(missing, p)
		}
	}
	for n, p := range documented {
		_, path, _ := strings.Cut(p, " ")
		if _, ok := served[n]; !ok && (documentedPrefix(path) || !slices.Contains(all, n)) {
			extra = append(extra, p)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	for _, p := range missing {
		t.Errorf("route %q is served but missing from internal/api/openapi.json: document it (paths → method → requestBody, responses)", p)
	}
	for _, p := range extra {
		t.Errorf("operation %q is in internal/api/openapi.json but no route serves it (Server.Routes)", p)
	}
	if len(served) < 14 {
		t.Errorf("only %d routes found: %v", len(served), srv.Routes())
	}
}

func documentedPrefix(path string) bool {
	return path == "/healthz" || path == "/openapi.json" || path == "/v1" || strings.HasPrefix(path, "/v1/")
}

var wildcard = regexp.MustCompile(`\{[^}]*\}`)

// normRoute makes a ServeMux pattern and an OpenAPI path comparable:
// wildcard names do not matter ({id} = {payment_id}), {$} and {x...} are
// ordinary wildcards, and a trailing slash is kept.
func normRoute(method, path string) string {
	path = strings.TrimSuffix(path, "{$}")
	return method + " " + wildcard.ReplaceAllString(path, "{}")
}

// notInSpecKey marks a request to a route the document deliberately lacks
// (the unknown-route tests).
type notInSpecKey struct{}

// specTransport checks every exchange with the API against the document:
// each response (status, headers, body schema) must be one the document
// declares for the operation, and each request the server accepted (2xx)
// must be valid for the document too. Browser routes are not checked.
type specTransport struct {
	base http.RoundTripper
	spec *spec
	t    testing.TB
}

func (st *specTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		var err error
		if reqBody, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	res, err := st.base.RoundTrip(req)
	if err != nil || !documentedPrefix(req.URL.Path) || req.Context().Value(notInSpecKey{}) != nil {
		return res, err
	}
	resBody, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(resBody))
	st.spec.check(st.t, req, reqBody, res, resBody)
	return res, nil
}

func (s *spec) check(t testing.TB, req *http.Request, reqBody []byte, res *http.Response, resBody []byte) {
	clone := func() *http.Request {
		r := req.Clone(context.Background())
		r.Body = io.NopCloser(bytes.NewReader(reqBody))
		return r
	}
	resCopy := *res
	resCopy.Body = io.NopCloser(bytes.NewReader(resBody))
	v := s.v
	if req.URL.Path == "/openapi.json" {
		v = s.lax
	}
	s.mu.Lock()
	okRes, resErrs := v.ValidateHttpResponse(clone(), &resCopy)
	okReq, reqErrs := true, []*verrors.ValidationError(nil)
	if res.StatusCode < 300 {
		okReq, reqErrs = v.ValidateHttpRequest(clone())
	}
	s.mu.Unlock()
	s.checked.Add(1)
	if !okRes {
		t.Errorf("OpenAPI: the answer to %s %s (%d %s) does not match the document:%s",
			req.Method, req.URL.RequestURI(), res.StatusCode, clip(resBody), describe(resErrs))
	}
	if !okReq {
		t.Errorf("OpenAPI: the server accepted %s %s %s, which the document refuses:%s",
			req.Method, req.URL.RequestURI(), clip(reqBody), describe(reqErrs))
	}
}

func clip(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 400 {
		return string(b[:400]) + "…"
	}
	return string(b)
}

// requestRefused reports whether the document refuses a request, for the
// tests that check the document's request schemas refuse what the server refuses.
func (s *spec) requestRefused(method, path, contentType, body string) (bool, string) {
	req, _ := http.NewRequest(method, "http://127.0.0.1:8080"+path, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer sk_test_x")
	s.mu.Lock()
	defer s.mu.Unlock()
	ok, errs := s.v.ValidateHttpRequest(req)
	return !ok, describe(errs)
}

// TestOpenAPIServed checks GET /openapi.json serves the embedded document.
func TestOpenAPIServed(t *testing.T) {
	h := api.New(nil, nil)
	for _, path := range []string{"/openapi.json", "/healthz"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Errorf("GET %s: %d %q", path, rec.Code, rec.Header().Get("Content-Type"))
		}
		if path == "/openapi.json" && !bytes.Equal(rec.Body.Bytes(), api.OpenAPI) {
			t.Errorf("GET /openapi.json does not serve the embedded document")
		}
	}
}
