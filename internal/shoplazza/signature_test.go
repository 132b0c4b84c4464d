package shoplazza

import (
	"testing"
	"time"
)

// The self-computed vectors of specs/shoplazza-payments-app.md §7.4
// (Python hmac, cross-checked with openssl): no public Shoplazza vector exists.
const vecSecret = "test_client_secret_123"

const vecForm = "amount=254.20&app_id=db5fc9a6-2a64-11ec-8d3d-0242ac130003&currency=CAD&id=7eb3fefb-6b43-4400-b40a-a2a0531364ae&shoplazza_order_id=2711-WFT50903&test=false"

const vecJSON = `{"app_id":"db5fc9a6-2a64-11ec-8d3d-0242ac130003","payment_id":"7eb3fefb-6b43-4400-b40a-a2a0531364ae","amount":254.2,"currency":"CAD","transaction_no":"123456789","type":"sale","test":false,"status":"paying","timestamp":"2021-09-01T18:32:20Z"}`

func TestSignatureVectors(t *testing.T) {
	tests := []struct {
		name   string
		scheme SigScheme
		key    string
		method string
		uri    string
		body   string
		want   string
	}{
		{"raw form body, hex (default)", DefaultScheme, vecSecret, "POST", "/shoplazza/payments", vecForm,
			"7cb2f8d25ecc95d0b897a685abbb129b2809a1b690848240e8c775871118cbf2"},
		{"raw form body, base64", SigScheme{Encoding: EncodingBase64}, vecSecret, "POST", "/", vecForm,
			"fLL40l7MldC4l6aFq7sSmygJobaQhIJA6Md1hxEYy/I="},
		{"raw JSON body, hex", DefaultScheme, vecSecret, "POST", "/", vecJSON,
			"4529db62357ac1ccaa859b96a4977b2fabf7c873c0ac3eb7592b238594bc86ba"},
		{"raw JSON body, base64", SigScheme{Encoding: EncodingBase64}, vecSecret, "POST", "/", vecJSON,
			"RSnbYjV6wcyqhZuWpJd7L6v3yHPArD63WSsjhZS8hro="},
		// The OAuth query canonicalisation: sorted k=v joined by &. The
		// body is given unsorted to show the sorting.
		{"sorted params, hex", SigScheme{Canonical: CanonicalSortedParams}, vecSecret, "POST", "/",
			"store_id=1339409&shop=xxx.myshoplaza.com&install_from=app_store",
			"96900661cbaeff8431db700791350a738e5398c84849c3304adae4716f0881b0"},
		{"method url body (Gen B), hex", SigScheme{KeySource: KeyMerchantKey, Canonical: CanonicalMethodURLBody}, "merchant_sign_key_abc",
			"POST", "/api/channel_proxy/webhook/online/v2/123456", vecJSON,
			"6d1d7c117b7bebd933133992d1c97b8881f6f85b41b936356c3a698a5d8cef52"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.scheme.SignRequest(tc.key, tc.method, tc.uri, []byte(tc.body))
			if err != nil || got != tc.want {
				t.Fatalf("SignRequest = %q, %v; want %q", got, err, tc.want)
			}
			if !tc.scheme.Verify(tc.key, tc.method, tc.uri, []byte(tc.body), tc.want) {
				t.Fatal("Verify refused the vector")
			}
			if tc.scheme.withDefaults().Encoding == EncodingHex && !tc.scheme.Verify(tc.key, tc.method, tc.uri, []byte(tc.body), upper(tc.want)) {
				t.Fatal("Verify refused upper-case hex")
			}
			if tc.scheme.Verify(tc.key+"x", tc.method, tc.uri, []byte(tc.body), tc.want) {
				t.Fatal("Verify accepted another key")
			}
			if tc.scheme.Verify(tc.key, tc.method, tc.uri, []byte(tc.body+"&x=1"), tc.want) {
				t.Fatal("Verify accepted another body")
			}
		})
	}
	// Outbound calls sign the exact JSON bytes.
	if got := DefaultScheme.Sign(vecSecret, "POST", "/openapi/2022-01/payments_apps/notify_callbacks", []byte(vecJSON)); got != "4529db62357ac1ccaa859b96a4977b2fabf7c873c0ac3eb7592b238594bc86ba" {
		t.Fatalf("Sign = %s", got)
	}
	for _, bad := range []string{"", "zz", "7cb2"} {
		if DefaultScheme.Verify(vecSecret, "POST", "/", []byte(vecForm), bad) {
			t.Errorf("Verify accepted %q", bad)
		}
	}
	if (SigScheme{Encoding: "rot13"}).Validate() == nil {
		t.Error("an unknown encoding validated")
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'f' {
			b[i] = c - 32
		}
	}
	return string(b)
}

func TestScheduleIs18TriesIn24h(t *testing.T) {
	if got := len(Schedule) + 1; got != 18 {
		t.Fatalf("%d attempts, want 18", got)
	}
	var total time.Duration
	for _, d := range Schedule {
		total += d
	}
	if total > 24*time.Hour || total < 23*time.Hour {
		t.Fatalf("the schedule spans %s, want just under 24h", total)
	}
	if Schedule[1] != 5*time.Second || Schedule[len(Schedule)-1] != 4*time.Hour {
		t.Fatalf("schedule %v does not follow Shoplazza's example", Schedule)
	}
	if !(&Format{}).Delivered(200, nil, nil) || (&Format{}).Delivered(204, nil, nil) {
		t.Fatal("only 200 acknowledges a notification")
	}
}

func TestParseSeedExample(t *testing.T) {
	// The seed's cards value, with its stray spaces and 4-digit year.
	c, err := parseCards(`{"first_name":"Percy ","last_name":"Parker ","card_number":"4242424242424242 ","expire_year":"2023 ","expire_month":"12 ","card_cvv":"123"}`)
	if err != nil || c.Number != "4242424242424242" || c.ExpYear != 2023 || c.ExpMonth != 12 || c.CVC != "123" || c.HolderName != "Percy Parker" {
		t.Fatalf("cards = %+v, %v", c, err)
	}
	if c, _ := parseCards(`{"card_number":"4242424242424242","expire_year":"23","expire_month":"06","card_cvv":"123"}`); c.ExpYear != 2023 || c.ExpMonth != 6 {
		t.Fatalf("2-digit year: %+v", c)
	}
	items, err := parseProducts(`[{"name":"name","quantity":"2","unit_price":"20.00","sku":"2023","url":"http://a.bc/def","desc":"desc"}]`, "CAD")
	if err != nil || len(items) != 1 || items[0].Quantity != 2 || items[0].UnitPrice != 2000 || items[0].SKU != "2023" {
		t.Fatalf("products = %+v, %v", items, err)
	}
	if _, err := parseProducts(`[{"name":"x","unit_price":"1.005"}]`, "CAD"); err == nil {
		t.Fatal("a price with 3 decimals in CAD was accepted")
	}
	if ts, ok := parseTimestamp("1697704968"); !ok || ts.Unix() != 1697704968 {
		t.Fatal("unix timestamp")
	}
	if ts, ok := parseTimestamp("2021-09-01T18:32:20Z"); !ok || ts.Unix() != 1630521140 {
		t.Fatal("ISO timestamp")
	}
}
