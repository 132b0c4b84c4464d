package izipay_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"github.com/kassa-pay/kassa/internal/browsertest"
	"html/template"
	"image"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kassa-pay/kassa/internal/checkout"
	"github.com/kassa-pay/kassa/internal/engine"
	"github.com/kassa-pay/kassa/internal/izipay"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/internal/processor"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/kassa-pay/kassa/internal/store/storetest"
)

// kassaGW is Kassa with the Izipay adapter and the notification engine,
// and an Izipay merchant's shop on another loopback port.
type kassaGW struct {
	url    string
	offset atomic.Int64 // added to the engine's clock
	creds  *engine.IzipayCredentials

	shopURL   string
	mu        sync.Mutex
	ipns      []received   // what the shop's urlIPN received
	posts     []received   // what the shop's redirect URLs received
	results   []received   // what the shop's page sent its server from callbackResponse
	ipnFail   atomic.Int32 // the shop's urlIPN answers the next ipnFail IPNs with 500
	ipnFailed []received   // the IPNs it refused so
}

type received struct {
	path, transactionID string
	body                []byte
	form                url.Values
}

func start(t *testing.T, dialect store.Dialect) *kassaGW {
	t.Helper()
	g := &kassaGW{}
	db := storetest.Open(t, dialect)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.url = "http://" + ln.Addr().String()
	now := func() time.Time { return time.Now().Add(time.Duration(g.offset.Load())) }
	sim := processor.NewSimulator(db.SQL(), g.url)
	eng := engine.New(db, sim, engine.Config{BaseURL: g.url, ReconcileGrace: time.Nanosecond, Now: now}, nil)
	z, err := engine.NewIzipay(eng, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	iz := izipay.New(z, nil)
	mux := http.NewServeMux()
	mux.Handle("/simulator/", sim.Handler())
	checkout.New(eng, checkout.Config{AuthorizeEmbedding: iz.AuthorizeEmbedding, FrameAncestors: iz.FrameAncestors,
		Branding: iz.Branding}, nil).Register(mux)
	iz.Register(mux)
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: mux}}
	srv.Start()
	t.Cleanup(srv.Close)

	ipn := iz.Format()
	ipn.Retries = notify.Schedule{50 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond}
	ns := notify.New(db, notify.Config{Guard: notify.Guard{AllowPrivate: true}, PollInterval: 50 * time.Millisecond,
		Formats: map[string]notify.Format{izipay.FormatName: ipn}}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ns.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	m, err := eng.CreateMerchant(context.Background(), "Tienda Izipay", "")
	if err != nil {
		t.Fatal(err)
	}
	if g.creds, err = z.IzipayCredentials(context.Background(), m.Merchant.ID); err != nil {
		t.Fatal(err)
	}
	shop := httptest.NewServer(g.shop(t))
	t.Cleanup(shop.Close)
	// localhost, not 127.0.0.1: another site, so Chrome runs Kassa's iframe
	// as a target of its own, as it does for a real shop.
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(shop.URL, "http://"))
	g.shopURL = "http://localhost:" + port
	return g
}

// verify checks a result the way an Izipay merchant's server does:
// HMAC-SHA256 of payloadHttp, byte for byte, with the hash key, base64,
// compared in constant time; then the payload is parsed.
func verify(hashKey string, body []byte) (map[string]any, error) {
	var r struct {
		PayloadHTTP string `json:"payloadHttp"`
		Signature   string `json:"signature"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, err
	}
	return verifyFields(hashKey, r.PayloadHTTP, r.Signature)
}

func verifyFields(hashKey, payloadHTTP, signature string) (map[string]any, error) {
	mac := hmac.New(sha256.New, []byte(hashKey))
	mac.Write([]byte(payloadHTTP))
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(signature)) {
		return nil, fmt.Errorf("signature %q does not match payloadHttp (want %q)", signature, want)
	}
	var p map[string]any
	return p, json.Unmarshal([]byte(payloadHTTP), &p)
}

// page is the shop's checkout page, written like Izipay's public samples:
// the token comes from the shop's own server, then new Izipay and LoadForm.
var page = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Tienda</title>
<script src="{{.Gateway}}/payments/v1/js/index.js"></script></head>
<body>
<h1>Checkout</h1>
<div id="your-iframe-payment"></div>
<pre id="out"></pre>
<script>
const ORDER_NUMBER = {{.Order}};
const TRANSACTION_ID = {{.TID}};
async function getToken(amount) {
  const res = await fetch('/api/token', { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ transactionId: TRANSACTION_ID, orderNumber: ORDER_NUMBER, amount: amount }) });
  const data = await res.json();
  return data.response ? data.response.token : '';
}
async function pay(typeForm, tokenAmount, configAmount, appearance, badToken) {
  const token = badToken || await getToken(tokenAmount);
  const iziConfig = {
    transactionId: TRANSACTION_ID,
    action: 'pay',
    merchantCode: {{.MerchantCode}},
    facilitatorCode: '',
    order: { orderNumber: ORDER_NUMBER, currency: 'PEN', amount: configAmount, processType: 'AT',
      merchantBuyerId: 'mc1991', dateTimeTransaction: String(Date.now() * 1000), payMethod: 'CARD,QR,YAPE_CODE',
      installments: '', deferred: '0', channel: 'web' },
    card: { brand: '', pan: '', expirationMonth: '', expirationYear: '', cvc: '' },
    billing: { firstName: 'Juan', lastName: 'Wick', email: 'jwick@izipay.pe', phoneNumber: '989339999',
      street: 'calle el demo', city: 'lima', state: 'lima', country: 'PE', postalCode: '00001',
      documentType: 'DNI', document: '12345678', companyName: '' },
    render: { typeForm: typeForm, container: '#your-iframe-payment', showButtonProcessForm: true,
      redirectUrls: { onSuccess: location.origin + '/success', onError: location.origin + '/error', onCancel: location.origin + '/cancel' } },
    urlIPN: location.origin + '/ipn',
    appearance: appearance || { styleInput: 'normal', logo: 'https://logos.example/logo.png', theme: 'red',
      customTheme: { name: 'x', font: 'Arial', isModeAdvance: true, colors: { primary: { background: '#ff0000' } } },
      customize: { visibility: { hideOrderNumber: false, hideLogo: true, hideTestCards: true },
        elements: [{ paymentMethod: 'CARD', order: 1, fields: [{ name: 'cardNumber', order: 1, visible: true }], changeButtonText: { actionPay: 'Pagar' } }] } },
    customFields: ['campo1', 'campo2'],
    originEntry: { originCode: '', originDetail: '', entryCode: 'SDK_JAVASCRIPT' },
    language: { init: 'ESP', showControlMultiLang: false }
  };
  const callbackResponseAuthorize = (response) => {
    window.izipayResult = response;
    document.getElementById('out').textContent = JSON.stringify(response);
    fetch('/api/result', { method: 'POST', body: JSON.stringify(response) });
  };
  try {
    const checkout = new Izipay({ config: iziConfig });
    const loading = checkout && checkout.LoadForm({ authorization: token, keyRSA: 'RSA', callbackResponse: callbackResponseAuthorize });
    loading.catch((e) => { window.izipayLoadError = { name: e.name, code: e.code, message: e.message, Errors: e.Errors, date: e.date }; });
  } catch (error) {
    window.izipayError = { message: error.message, Errors: error.Errors, date: error.date };
  }
}
</script></body></html>`))

// shop is the merchant's server: its page, its token call to Kassa (with
// the merchant's credentials, server to server), its urlIPN and its
// redirect URLs.
func (g *kassaGW) shop(t *testing.T) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /checkout", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		page.Execute(w, map[string]string{"Gateway": g.url, "Order": r.URL.Query().Get("order"),
			"TID": r.URL.Query().Get("tid"), "MerchantCode": g.creds.MerchantCode})
	})
	mux.HandleFunc("POST /api/token", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ TransactionID, OrderNumber, Amount string }
		json.NewDecoder(r.Body).Decode(&in)
		body, _ := json.Marshal(map[string]string{"requestSource": "ECOMMERCE", "merchantCode": g.creds.MerchantCode,
			"orderNumber": in.OrderNumber, "publicKey": g.creds.PublicKey, "amount": in.Amount})
		req, _ := http.NewRequest("POST", g.url+"/security/v1/Token/Generate", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("transactionId", in.TransactionID)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), 502)
			return
		}
		defer res.Body.Close()
		w.Header().Set("Content-Type", "application/json")
		io.Copy(w, res.Body)
	})
	record := func(list *[]received) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			rec := received{path: r.URL.Path, transactionID: r.Header.Get("transactionId"), body: b}
			if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
				rec.form, _ = url.ParseQuery(string(b))
			}
			g.mu.Lock()
			*list = append(*list, rec)
			g.mu.Unlock()
			fmt.Fprintf(w, "<p id=received>%s</p>", r.URL.Path)
		}
	}
	mux.HandleFunc("GET /logo.png", func(w http.ResponseWriter, r *http.Request) {
		img := image.NewRGBA(image.Rect(0, 0, 8, 8))
		w.Header().Set("Content-Type", "image/png")
		png.Encode(w, img)
	})
	mux.HandleFunc("POST /ipn", func(w http.ResponseWriter, r *http.Request) {
		if g.ipnFail.Add(-1) >= 0 {
			b, _ := io.ReadAll(r.Body)
			g.mu.Lock()
			g.ipnFailed = append(g.ipnFailed, received{path: r.URL.Path, transactionID: r.Header.Get("transactionId"), body: b})
			g.mu.Unlock()
			http.Error(w, "busy", http.StatusInternalServerError)
			return
		}
		g.ipnFail.Store(0)
		record(&g.ipns)(w, r)
	})
	mux.HandleFunc("POST /api/result", record(&g.results))
	for _, p := range []string{"/success", "/error", "/cancel"} {
		mux.HandleFunc("POST "+p, record(&g.posts))
	}
	return mux
}

func (g *kassaGW) waitFor(t *testing.T, what string, list *[]received) received {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		g.mu.Lock()
		if len(*list) > 0 {
			r := (*list)[0]
			g.mu.Unlock()
			return r
		}
		g.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %s arrived", what)
	return received{}
}

// payCard enters the card and pays. The values are set as the form's input
// events see them (typing into a cross-site frame loses keystrokes when
// the machine is loaded: CDP key events go to whichever frame has focus);
// how the form reacts to typing is tested by package checkout. The click
// is a real one, so the frame has a user activation.
func payCard(t *testing.T, form context.Context, number string) {
	t.Helper()
	browsertest.Do(t, form, chromedp.WaitVisible(chromedp.CSS("#card-number")))
	fill := `((n) => {
		const set = (id, v) => { const el = document.getElementById(id); el.value = v; el.dispatchEvent(new Event('input', { bubbles: true })); };
		set('card-number', n); set('card-expiry', '12 / 34'); set('card-cvc', '123');
		return document.getElementById('card-number').value.replace(/\s/g, '') === n;
	})(` + "'" + number + "'" + `)`
	if ok, err := chromedp.Run(form, chromedp.Evaluate[bool](fill)); err != nil || !ok {
		t.Fatalf("entering the card: %v", err)
	}
	browsertest.Do(t, form, chromedp.Click(chromedp.CSS("#pay-button")))
}

// checkPayload checks a verified payload against the order, as a merchant
// does before marking it paid.
func checkPayload(t *testing.T, where string, p map[string]any, tid, order, code string) {
	t.Helper()
	resp, _ := p["response"].(map[string]any)
	orders, _ := resp["order"].([]any)
	if p["code"] != code || p["transactionId"] != tid || len(orders) != 1 {
		t.Fatalf("%s: payload %v: want code %s for transaction %s", where, p, code, tid)
	}
	o := orders[0].(map[string]any)
	if o["orderNumber"] != order || o["amount"] != "10.50" || o["currency"] != "PEN" {
		t.Fatalf("%s: order %v: want %s PEN 10.50", where, o, order)
	}
	card, _ := resp["card"].(map[string]any)
	if code == "00" && (card["brand"] != "VS" || card["pan"] != "******4242" || o["stateMessage"] != "Autorizado") {
		t.Fatalf("%s: card %v / order %v", where, card, o)
	}
	billing, _ := resp["billing"].(map[string]any)
	if billing["firstName"] != "Juan" || billing["document"] != "12345678" {
		t.Fatalf("%s: billing %v not echoed", where, billing)
	}
}

func TestBrowserIzipayModes(t *testing.T) {
	g := start(t, store.SQLite)
	b := browsertest.New(t, 60*time.Second)
	for i, typeForm := range []string{"embedded", "pop-up", "redirect"} {
		t.Run(typeForm, func(t *testing.T) {
			ctx, closeTab := chromedp.NewContext(b) // a tab of its own, closed at the end
			t.Cleanup(closeTab)
			g.mu.Lock()
			g.ipns, g.posts, g.results = nil, nil, nil
			g.mu.Unlock()
			tid := fmt.Sprintf("1688150082%04d", i)
			order := fmt.Sprintf("ORD%06d", i)
			browsertest.Do(t, ctx, chromedp.Navigate(g.shopURL+"/checkout?order="+order+"&tid="+tid))
			if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](fmt.Sprintf(`pay(%q, "10.50", "10.50"), true`, typeForm))); err != nil {
				t.Fatal(err)
			}
			payCard(t, browsertest.Form(t, ctx, g.url, typeForm), "4242424242424242")

			if typeForm == "redirect" {
				post := g.waitFor(t, "redirect POST", &g.posts)
				if post.path != "/success" {
					t.Fatalf("redirect POSTed to %s, want /success", post.path)
				}
				p, err := verifyFields(g.creds.HashKey, post.form.Get("payloadHttp"), post.form.Get("signature"))
				if err != nil {
					t.Fatalf("redirect POST: %v", err)
				}
				checkPayload(t, "redirect POST", p, tid, order, "00")
			} else {
				browsertest.WaitJS(t, ctx, `window.izipayResult !== undefined`)
				res := g.waitFor(t, "callbackResponse result", &g.results)
				p, err := verify(g.creds.HashKey, res.body)
				if err != nil {
					t.Fatalf("callbackResponse: %v (%s)", err, res.body)
				}
				checkPayload(t, "callbackResponse", p, tid, order, "00")
				if typeForm == "pop-up" {
					browsertest.WaitJS(t, ctx, `document.querySelector('[data-kassa-overlay]') === null`)
				}
			}
			ipn := g.waitFor(t, "IPN", &g.ipns)
			if ipn.transactionID != tid {
				t.Fatalf("IPN header transactionId = %q, want %q", ipn.transactionID, tid)
			}
			p, err := verify(g.creds.HashKey, ipn.body)
			if err != nil {
				t.Fatalf("IPN: %v", err)
			}
			checkPayload(t, "IPN", p, tid, order, "00")
		})
	}
}

func TestBrowserIzipayBadConfig(t *testing.T) {
	g := start(t, store.SQLite)
	ctx := browsertest.New(t, 60*time.Second)
	browsertest.Do(t, ctx, chromedp.Navigate(g.shopURL+"/checkout?order=ORD1&tid=12"))
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`pay("sideways", "10.50", "10.50"), true`)); err != nil {
		t.Fatal(err)
	}
	browsertest.WaitJS(t, ctx, `window.izipayError !== undefined`)
	e, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`window.izipayError`))
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]bool{}
	for _, x := range e["Errors"].([]any) {
		fields[x.(map[string]any)["field"].(string)] = true
	}
	if !fields["transactionId"] || !fields["order.orderNumber"] || !fields["render.typeForm"] || e["date"] == "" ||
		!strings.Contains(e["message"].(string), "invalid config") {
		t.Fatalf("constructor error %v: want transactionId, order.orderNumber and render.typeForm named", e)
	}
}
