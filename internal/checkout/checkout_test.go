package checkout_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa/resultsig"
)

// These tests speak HTTP to a real gateway (no browser): the security
// headers of form pages, who may embed them, and the server-side checks.

func get(t *testing.T, u string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func (g *gateway) newPayment(t *testing.T) (id, secret string) {
	var p struct {
		ID           string `json:"id"`
		ClientSecret string `json:"client_secret"`
	}
	g.api("POST", "/v1/payments", `{"amount":1050,"currency":"PEN","return_url":"https://shop.example/ok","cancel_url":"https://shop.example/back"}`, &p)
	return p.ID, p.ClientSecret
}

func TestFormPagesSecurity(t *testing.T) {
	g := startGateway(t)
	var st struct {
		Origins []string `json:"allowed_origins"`
	}
	g.api("GET", "/v1/merchant/settings", "", &st)
	var pk string
	{
		res, body := get(t, g.shopURL+"/")
		res.Body.Close()
		i := strings.Index(body, `data-pk="`)
		pk = body[i+9 : i+9+strings.Index(body[i+9:], `"`)]
	}
	_, secret := g.newPayment(t)
	iframe := func(origin, key string) string {
		return g.url + "/pay/" + secret + "?mode=embedded&locale=pt&origin=" + url.QueryEscape(origin) + "&pk=" + key
	}

	res, body := get(t, iframe(g.shopURL, pk))
	csp := res.Header.Get("Content-Security-Policy")
	if res.StatusCode != 200 || !strings.Contains(csp, "script-src 'self';") || strings.Contains(csp, "unsafe-inline") ||
		!strings.HasSuffix(csp, "frame-ancestors "+g.shopURL) {
		t.Errorf("embedded form: %d CSP %q", res.StatusCode, csp)
	}
	if res.Header.Get("Referrer-Policy") != "no-referrer" || res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("embedded form headers: %v", res.Header)
	}
	if strings.Contains(body, "<script>") || !strings.Contains(body, "PEN\u00a010,50") {
		t.Errorf("form body has an inline script or no amount in pt: %s", body)
	}
	for _, ac := range []string{`autocomplete="cc-number"`, `autocomplete="cc-exp"`, `autocomplete="cc-csc"`, `autocomplete="cc-name"`, `type="submit" id="pay-button"`} {
		if !strings.Contains(body, ac) {
			t.Errorf("form lacks %s", ac)
		}
	}

	// The hosted page may not be framed at all.
	res, _ = get(t, g.url+"/pay/"+secret)
	if csp := res.Header.Get("Content-Security-Policy"); res.StatusCode != 200 || !strings.HasSuffix(csp, "frame-ancestors 'none'") {
		t.Errorf("hosted page: %d CSP %q", res.StatusCode, csp)
	}
	// Another origin, or another merchant's key, gets no form.
	for name, u := range map[string]string{
		"origin not allowed": iframe("https://evil.example", pk),
		"origin with a path": iframe(g.shopURL+"/x", pk),
		"secret key as pk":   iframe(g.shopURL, g.secretKey),
		"unknown pk":         iframe(g.shopURL, "pk_test_nope"),
	} {
		res, body := get(t, u)
		if res.StatusCode != http.StatusBadRequest || strings.Contains(body, "card-number") ||
			!strings.HasSuffix(res.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("%s: %d, CSP %q", name, res.StatusCode, res.Header.Get("Content-Security-Policy"))
		}
	}
	if res, _ := get(t, g.url+"/pay/"+secret+"x"); res.StatusCode != http.StatusNotFound {
		t.Errorf("wrong client secret: %d", res.StatusCode)
	}

	post := func(path, body string, hdr ...string) (int, string) {
		req, _ := http.NewRequest("POST", g.url+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	// The server checks the card again (a Luhn failure never reaches the processor).
	code, out := post("/checkout/v1/confirm", `{"client_secret":"`+secret+`","locale":"es","card":{"number":"4242424242424241","exp_month":12,"exp_year":2034,"cvc":"123"}}`)
	if code != 200 || !strings.Contains(out, `"field":"number"`) || !strings.Contains(out, "incorrecto") {
		t.Errorf("bad Luhn: %d %s", code, out)
	}
	code, out = post("/checkout/v1/confirm", `{"client_secret":"`+secret+`","card":{"number":"4242424242424242","exp_month":12,"exp_year":2034,"cvc":"12"}}`)
	if code != 200 || !strings.Contains(out, `"field":"cvc"`) {
		t.Errorf("short CVC: %d %s", code, out)
	}
	// Another site cannot drive the form's endpoints.
	if code, _ := post("/checkout/v1/cancel", `{"client_secret":"`+secret+`"}`, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"); code != http.StatusForbidden {
		t.Errorf("cross-site cancel: %d", code)
	}

	// A server-side integration sends the shopper to next_action itself; the
	// 3-D Secure return then redirects, signed, to return_url.
	id, _ := g.newPayment(t)
	var p struct {
		NextAction struct {
			URL string `json:"redirect_url"`
		} `json:"next_action"`
	}
	g.api("POST", "/v1/payments/"+id+"/confirm", `{"payment_method":{"card":{"number":"4000002500003155","exp_month":12,"exp_year":2034,"cvc":"123"}}}`, &p)
	form := url.Values{"result": {"approve"}}
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).PostForm(p.NextAction.URL, form)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	res, _ = get(t, res.Header.Get("Location"), "Sec-Fetch-Dest", "document")
	loc, _ := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusSeeOther || loc == nil || loc.Host != "shop.example" || loc.Path != "/ok" {
		t.Fatalf("3-D Secure return: %d %v", res.StatusCode, loc)
	}
	if pid, status, err := resultsig.VerifyQuery(g.signing, loc.Query()); err != nil || pid != id || status != "succeeded" {
		t.Errorf("return_url query %v: %s %s %v", loc.Query(), pid, status, err)
	}

	// After the client-secret TTL the form says so and charges nothing.
	_, secret2 := g.newPayment(t)
	g.offset.Store(int64(15*time.Minute + time.Second))
	defer g.offset.Store(0)
	_, body = get(t, g.url+"/pay/"+secret2+"?locale=en")
	if !strings.Contains(body, `data-state="expired"`) {
		t.Errorf("expired form state missing")
	}
	code, out = post("/checkout/v1/confirm", `{"client_secret":"`+secret2+`","card":{"number":"4242424242424242","exp_month":12,"exp_year":2034,"cvc":"123"}}`)
	if code != 200 || !strings.Contains(out, `"state":"expired"`) || !strings.Contains(out, "checkout_expired") {
		t.Errorf("confirm after expiry: %d %s", code, out)
	}
}

func TestSettingsAPI(t *testing.T) {
	g := startGateway(t)
	var st struct {
		Origins []string `json:"allowed_origins"`
		Secret  string   `json:"result_signing_secret"`
		Accent  string   `json:"accent_color"`
	}
	g.api("POST", "/v1/merchant/settings", `{"allowed_origins":["HTTPS://Shop.Example:443/","http://localhost:8081"],"accent_color":"#ABCDEF"}`, &st)
	if strings.Join(st.Origins, ",") != "https://shop.example,http://localhost:8081" || st.Accent != "#abcdef" || st.Secret != g.signing {
		t.Errorf("settings after update: %+v", st)
	}
	for _, bad := range []string{`{"allowed_origins":["https://*.example"]}`, `{"allowed_origins":["ftp://x"]}`,
		`{"accent_color":"red"}`, `{"logo_url":"javascript:alert(1)"}`, `{"logo_url":"http://cdn.example/l.png"}`, `{"unknown":1}`} {
		req, _ := http.NewRequest("POST", g.url+"/v1/merchant/settings", strings.NewReader(bad))
		req.Header.Set("Authorization", "Bearer "+g.secretKey)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", bad, res.StatusCode)
		}
	}
	// The form shows the merchant's branding: display name, logo, accent.
	g.api("POST", "/v1/merchant/settings", `{"display_name":"Tienda <Ana> & Co","logo_url":"https://cdn.shop.example/l.png","accent_color":"#0b6e4f"}`, &st)
	_, secret := g.newPayment(t)
	res, page := get(t, g.url+"/pay/"+secret+"?locale=es")
	for _, want := range []string{`<h1 id="merchant">Tienda &lt;Ana&gt; &amp; Co</h1>`, `src="https://cdn.shop.example/l.png"`, `--accent:#0b6e4f`} {
		if !strings.Contains(page, want) {
			t.Errorf("branded form lacks %s", want)
		}
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' data: https://cdn.shop.example;") {
		t.Errorf("branded form CSP %q does not allow the logo", csp)
	}
	g.api("POST", "/v1/merchant/settings", `{"roll_result_signing_secret":true}`, &st)
	if st.Secret == g.signing || !strings.HasPrefix(st.Secret, "rss_") {
		t.Errorf("rolled secret %q", st.Secret)
	}
}

// TestScriptsPostToExactOrigins: every postMessage in the scripts the
// gateway serves names its target origin; none broadcasts with '*' (a
// result sent to '*' could be read by whatever page framed the form).
func TestScriptsPostToExactOrigins(t *testing.T) {
	g := startGateway(t)
	call := regexp.MustCompile(`postMessage\(`)
	target := regexp.MustCompile(`postMessage\((?:[^()]|\([^()]*\))*,\s*(cfg\.origin|self\.origin|window\.location\.origin)\)`)
	total := 0
	for _, path := range []string{"/js/v1/kassa.js", "/pay/assets/form.js", "/pay/assets/threeds.js"} {
		res, body := get(t, g.url+path)
		if res.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, res.StatusCode)
		}
		calls, exact := len(call.FindAllString(body, -1)), len(target.FindAllString(body, -1))
		if calls != exact || strings.Contains(body, `'*')`) || strings.Contains(body, `"*")`) {
			t.Errorf("%s: %d postMessage calls, %d to an exact origin", path, calls, exact)
		}
		total += calls
	}
	if total < 3 {
		t.Errorf("only %d postMessage calls found; the scripts changed shape", total)
	}
}
