package shoplazza

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kassa-pay/kassa"
)

// paymentFields are the body fields of a payment request, from the seed
// table (seeds 001 and 004), with whether each is required ("Y"). A
// required field must be present; the ones in nonEmpty must also carry a
// value (an empty billing company, say, is accepted: shops have none).
var paymentFields = []struct {
	name     string
	required bool
}{
	{"id", true}, {"app_id", true}, {"account_id", true}, {"shoplazza_order_id", true}, {"amount", true},
	{"currency", true}, {"products", true}, {"cancel_url", true}, {"complete_url", true}, {"callback_url", true},
	{"customer_email", false}, {"customer_phone_number", false},
	{"customer_billing_address1", true}, {"customer_billing_address2", false}, {"customer_billing_last_name", true},
	{"customer_billing_first_name", true}, {"customer_billing_province", true}, {"customer_billing_city", true},
	{"customer_billing_postal_code", true}, {"customer_billing_country_code", true}, {"customer_billing_company", true},
	{"customer_billing_state", true}, {"customer_billing_phone", true},
	{"customer_shipping_address1", true}, {"customer_shipping_address2", false}, {"customer_shipping_last_name", true},
	{"customer_shipping_first_name", true}, {"customer_shipping_province", true}, {"customer_shipping_city", true},
	{"customer_shipping_postal_code", true}, {"customer_shipping_country_code", true}, {"customer_shipping_company", true},
	{"customer_shipping_state", true}, {"customer_shipping_phone", false},
	{"test", false}, {"type", true}, {"cards", false}, {"timestamp", true},
}

var nonEmpty = map[string]bool{"id": true, "app_id": true, "account_id": true, "shoplazza_order_id": true, "amount": true,
	"currency": true, "products": true, "cancel_url": true, "complete_url": true, "callback_url": true, "type": true, "timestamp": true}

// refundFields are the body fields of a refund request (DOC-REFUND example).
var refundFields = []struct {
	name     string
	required bool
}{
	{"id", true}, {"app_id", true}, {"account_id", false}, {"payment_id", true}, {"amount", true}, {"currency", true},
	{"callback_url", true}, {"test", false}, {"type", false}, {"extra", false}, {"timestamp", false},
}

// requestHeaders are the headers of a payment request, kept with it.
var requestHeaders = []string{"Shoplazza-Shop-Id", "Shoplazza-Shop-Domain", "Custom-Domain", "Custom-Ip", "User-Agent",
	"Shoplazza-Request-Id", "Shoplazza-Api-Version", "Customer-Cpf"}

// fields is a parsed request body: every value trimmed of the stray spaces
// Shoplazza's examples carry.
type fields map[string]string

// parseBody reads a form body (the documented encoding) or, with
// Content-Type application/json, a flat JSON object (the docs display the
// example that way).
func parseBody(contentType string, body []byte) (fields, error) {
	mt, _, _ := mime.ParseMediaType(contentType)
	f := fields{}
	if mt == "application/json" {
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, fmt.Errorf("the body is not valid JSON: %v", err)
		}
		for k, v := range m {
			switch x := v.(type) {
			case string:
				f[k] = strings.TrimSpace(x)
			case nil:
				f[k] = ""
			default:
				b, _ := json.Marshal(x)
				f[k] = string(b)
			}
		}
		return f, nil
	}
	q, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("the body is not form-encoded: %v", err)
	}
	for k, v := range q {
		f[k] = strings.TrimSpace(v[0])
	}
	return f, nil
}

// check returns the first missing required field.
func (f fields) check(list []struct {
	name     string
	required bool
}) error {
	for _, fd := range list {
		v, ok := f[fd.name]
		if fd.required && (!ok || nonEmpty[fd.name] && v == "") {
			return kassa.Invalid(fd.name, "parameter_missing", "%s is required", fd.name)
		}
	}
	return nil
}

// unknown returns the fields not in list, to keep with the payment.
func (f fields) unknown(list []struct {
	name     string
	required bool
}) map[string]string {
	known := map[string]bool{}
	for _, fd := range list {
		known[fd.name] = true
	}
	out := map[string]string{}
	for k, v := range f {
		if !known[k] {
			out[k] = v
		}
	}
	return out
}

// fingerprint identifies a request's parameters for idempotency. The
// timestamp is left out: a retry of the same request is signed again at a
// later time.
func (f fields) fingerprint(path string) string {
	keys := make([]string, 0, len(f))
	for k := range f {
		if k != "timestamp" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	h := sha256.New()
	h.Write([]byte(path + "\n"))
	for _, k := range keys {
		fmt.Fprintf(h, "%d:%s=%d:%s\n", len(k), k, len(f[k]), f[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// parseTimestamp reads "timestamp": unix seconds (the seed: 1697704968),
// unix milliseconds, or ISO 8601 (the refund example: 2021-09-01T18:32:20Z).
func parseTimestamp(s string) (time.Time, bool) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > 1e12 {
			return time.UnixMilli(n), true
		}
		return time.Unix(n, 0), true
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// flexString is a JSON string or number (product quantities come as "2").
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = flexString(strings.TrimSpace(v))
		return nil
	}
	if string(b) == "null" {
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*s = flexString(n.String())
	return nil
}

type product struct {
	Name      flexString `json:"name"`
	Quantity  flexString `json:"quantity"`
	UnitPrice flexString `json:"unit_price"`
	SKU       flexString `json:"sku"`
	URL       flexString `json:"url"`
	Desc      flexString `json:"desc"`
}

// parseProducts reads the products JSON string into order items; prices
// are parsed exactly in the currency's minor units.
func parseProducts(s, currency string) ([]kassa.Item, error) {
	var ps []product
	if err := json.Unmarshal([]byte(s), &ps); err != nil {
		return nil, kassa.Invalid("products", "parameter_invalid", "products is not a JSON array of products: %v", err)
	}
	items := make([]kassa.Item, 0, len(ps))
	for i, p := range ps {
		param := fmt.Sprintf("products[%d]", i)
		q := int64(1)
		if p.Quantity != "" {
			n, err := strconv.ParseInt(string(p.Quantity), 10, 64)
			if err != nil || n <= 0 {
				return nil, kassa.Invalid(param+".quantity", "parameter_invalid", "quantity %q is not a positive integer", p.Quantity)
			}
			q = n
		}
		var price int64
		if p.UnitPrice != "" {
			v, err := kassa.ParseAmount(param+".unit_price", string(p.UnitPrice), currency)
			if err != nil {
				return nil, err
			}
			price = v
		}
		name := strings.TrimSpace(string(p.Name))
		if name == "" {
			name = strings.TrimSpace(string(p.SKU))
		}
		if name == "" {
			name = "Item " + strconv.Itoa(i+1)
		}
		items = append(items, kassa.Item{Name: name, Quantity: q, UnitPrice: price, SKU: string(p.SKU)})
	}
	return items, nil
}

type cardsJSON struct {
	FirstName   flexString `json:"first_name"`
	LastName    flexString `json:"last_name"`
	CardNumber  flexString `json:"card_number"`
	ExpireYear  flexString `json:"expire_year"`
	ExpireMonth flexString `json:"expire_month"`
	CardCVV     flexString `json:"card_cvv"`
}

// parseCards reads the cards JSON string of a direct card payment. The
// year may have 2 digits (the table) or 4 (the example); every value may
// carry stray spaces. The card goes to the engine only, never to logs.
func parseCards(s string) (*kassa.Card, error) {
	if strings.TrimSpace(s) == "" {
		return nil, kassa.Invalid("cards", "parameter_missing", "cards is required for type card")
	}
	var c cardsJSON
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		return nil, kassa.Invalid("cards", "parameter_invalid", "cards is not a JSON object")
	}
	month, err1 := strconv.Atoi(string(c.ExpireMonth))
	year, err2 := strconv.Atoi(string(c.ExpireYear))
	if err1 != nil || err2 != nil {
		return nil, kassa.Invalid("cards", "parameter_invalid", "cards.expire_month and cards.expire_year must be numbers")
	}
	if year < 100 {
		year += 2000
	}
	holder := strings.TrimSpace(string(c.FirstName) + " " + string(c.LastName))
	return &kassa.Card{Number: strings.ReplaceAll(string(c.CardNumber), " ", ""), ExpMonth: month, ExpYear: year,
		CVC: string(c.CardCVV), HolderName: holder}, nil
}

// address maps the customer_<kind>_* fields.
func (f fields) address(kind string) *kassa.Address {
	p := "customer_" + kind + "_"
	state := f[p+"state"]
	if state == "" {
		state = f[p+"province"]
	}
	country := strings.ToUpper(f[p+"country_code"])
	if len(country) != 2 {
		country = ""
	}
	a := &kassa.Address{Line1: f[p+"address1"], Line2: f[p+"address2"], City: f[p+"city"], State: state,
		PostalCode: f[p+"postal_code"], Country: country, Phone: f[p+"phone"],
		Name: strings.TrimSpace(f[p+"first_name"] + " " + f[p+"last_name"])}
	for _, s := range []*string{&a.Line1, &a.Line2, &a.City, &a.State, &a.PostalCode, &a.Phone, &a.Name} {
		*s = clip(*s, 255)
	}
	a.Phone = clip(a.Phone, 255)
	return a
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}

// plausibleEmail keeps obviously broken addresses (the docs' own example
// is a mangled "[email protected]") from refusing a payment over a field
// that is optional.
func plausibleEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	return at > 0 && at < len(s)-3 && strings.Contains(s[at:], ".") && !strings.ContainsAny(s, " \t\r\n<>") && len(s) <= 254
}
