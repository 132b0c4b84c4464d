package webhook_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kassa-pay/kassa"
	"github.com/kassa-pay/kassa/internal/izi"
	"github.com/kassa-pay/kassa/internal/notify"
	"github.com/kassa-pay/kassa/webhook"
)

// The verification snippets merchants copy from docs/webhooks.md and
// docs/orders.md are run here, as written, with Node.js, PHP and Python
// against what Kassa sends. An interpreter that is not installed skips its
// language (apt-get install nodejs php-cli python3 to run them all).

// docBlocks returns the fenced code blocks of lang ("js", "php", "python")
// in the section of a docs file that starts at heading.
func docBlocks(t *testing.T, file, heading, lang string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", file))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, heading)
	if i < 0 {
		t.Fatalf("%s has no %q", file, heading)
	}
	section := doc[i+len(heading):]
	if j := strings.Index(section, "\n## "); j >= 0 {
		section = section[:j]
	}
	re := regexp.MustCompile("(?s)```" + lang + "\n(.*?)```")
	m := re.FindAllStringSubmatch(section, -1)
	if len(m) == 0 {
		t.Fatalf("%s, section %q: no ```%s block", file, heading, lang)
	}
	var out []string
	for _, x := range m {
		out = append(out, x[1])
	}
	return strings.Join(out, "\n")
}

// interpreter returns the command that runs a script file of lang.
func interpreter(t *testing.T, lang string) []string {
	t.Helper()
	cmd := map[string][]string{"js": {"node"}, "php": {"php", "-n"}, "python": {"python3"}}[lang]
	if _, err := exec.LookPath(cmd[0]); err != nil {
		t.Skipf("%s is not installed; its documented snippet is not run", cmd[0])
	}
	return cmd
}

// runScript writes src to a file and runs it with env, returning stdout.
func runScript(t *testing.T, lang, src string, env map[string]string) string {
	t.Helper()
	ext := map[string]string{"js": ".js", "php": ".php", "python": ".py"}[lang]
	path := filepath.Join(t.TempDir(), "verify"+ext)
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	argv := append(interpreter(t, lang), path)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", lang, err, out)
	}
	return strings.TrimSpace(string(out))
}

// Drivers call the documented function with SECRET, HEADERS (JSON) and the
// body in BODY_FILE, and print "OK <event id>" or "ERR <reason>".
var webhookDrivers = map[string]string{
	"js": `
const headers = JSON.parse(process.env.HEADERS);
const body = require("node:fs").readFileSync(process.env.BODY_FILE);
try { console.log("OK " + verifyKassaWebhook(process.env.SECRET, headers, body).id); }
catch (e) { console.log("ERR " + e.message); }
`,
	"php": `
$headers = json_decode(getenv('HEADERS'), true);
$body = file_get_contents(getenv('BODY_FILE'));
try { echo 'OK ' . verify_kassa_webhook(getenv('SECRET'), $headers, $body)['id'], "\n"; }
catch (Throwable $e) { echo 'ERR ' . $e->getMessage(), "\n"; }
`,
	"python": `
import json, os
headers = json.loads(os.environ["HEADERS"])
body = open(os.environ["BODY_FILE"], "rb").read()
try:
    print("OK " + verify_kassa_webhook(os.environ["SECRET"], headers, body)["id"])
except Exception as e:
    print("ERR", e)
`,
}

func TestDocsWebhookVerificationSnippets(t *testing.T) {
	secret, old, other := notify.NewSecret(), notify.NewSecret(), notify.NewSecret()
	ev := kassa.NewEvent(kassa.EventPaymentSucceeded, "mer_1", false, "pay_1",
		map[string]any{"id": "pay_1", "object": "payment", "amount": 1999, "description": "café ☕"}, time.Now())
	body, err := json.Marshal(ev.Object())
	if err != nil {
		t.Fatal(err)
	}
	// The headers exactly as the delivery workers build them.
	sign := func(ts time.Time, secrets ...string) http.Header {
		h, err := notify.StandardSigner{}.Sign(ev.ID, ts, body, secrets)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	now := time.Now()
	cases := []struct {
		name   string
		secret string // the receiver's
		header http.Header
		body   []byte
		ok     bool
	}{
		{"signed", secret, sign(now, secret), body, true},
		{"during a roll, receiver has the old secret", old, sign(now, secret, old), body, true},
		{"during a roll, receiver has the new secret", secret, sign(now, secret, old), body, true},
		{"another secret", other, sign(now, secret), body, false},
		{"body changed", secret, sign(now, secret), []byte(strings.Replace(string(body), "1999", "1", 1)), false},
		{"stale timestamp", secret, sign(now.Add(-10*time.Minute), secret), body, false},
		{"no signature", secret, func() http.Header { h := sign(now, secret); h.Del("webhook-signature"); return h }(), body, false},
	}
	for _, lang := range []string{"js", "php", "python"} {
		t.Run(lang, func(t *testing.T) {
			interpreter(t, lang)
			src := docBlocks(t, "webhooks.md", "## Verifying signatures", lang) + webhookDrivers[lang]
			for _, c := range cases {
				// Header names as a server framework hands them over (lower case, one value each).
				hs := map[string]string{}
				for k := range c.header {
					hs[strings.ToLower(k)] = c.header.Get(k)
				}
				hj, _ := json.Marshal(hs)
				bodyFile := filepath.Join(t.TempDir(), "body")
				if err := os.WriteFile(bodyFile, c.body, 0o600); err != nil {
					t.Fatal(err)
				}
				out := runScript(t, lang, src, map[string]string{"SECRET": c.secret, "HEADERS": string(hj), "BODY_FILE": bodyFile})
				if got := out == "OK "+ev.ID; got != c.ok {
					t.Errorf("%s: %q, want accepted=%t", c.name, out, c.ok)
				}
			}
		})
	}
}

// IPN drivers call the documented function with the form (JSON object),
// IPN_SECRET and MAX_AGE ("" for no check), and print "true" or "false".
var ipnDrivers = map[string]string{
	"js": `
const maxAge = process.env.MAX_AGE === "" ? null : Number(process.env.MAX_AGE);
console.log(String(verifyIziIpn(JSON.parse(process.env.FORM), process.env.IPN_SECRET, maxAge)));
`,
	"php": `
$maxAge = getenv('MAX_AGE') === '' ? null : (int)getenv('MAX_AGE');
echo verify_izi_ipn(json_decode(getenv('FORM'), true), getenv('IPN_SECRET'), $maxAge) ? 'true' : 'false', "\n";
`,
	"python": `
import json, os
max_age = None if os.environ["MAX_AGE"] == "" else int(os.environ["MAX_AGE"])
print("true" if verify_izi_ipn(json.loads(os.environ["FORM"]), os.environ["IPN_SECRET"], max_age) else "false")
`,
}

func TestDocsIziIPNVerificationSnippets(t *testing.T) {
	seed := url.Values{"orderId": {"5d8e6002b80b7b4cd75a6424"}, "newStatus": {"inProgress"}, "inAmount": {"2"}, "outAmount": {"317.42"},
		"xml_from": {"ETH"}, "xml_to": {"WMZ"}, "timestamp": {"1571328406072"}, "hash": {"af3acf947e6f0e0f2c267e300b8582e504dba12d1f2d058652b7414163c09f48"}}
	// An IPN as the gateway sends it now.
	fresh := izi.Form(&kassa.OrderObject{ID: "ord_01m7ya75mn3k0czp45168p0jdp", UID: 1001, Status: kassa.OrderDone,
		InAmount: "100.00", OutAmount: "26.73", XMLFrom: "PEN", XMLTo: "USD",
		ToValues: []kassa.OrderValue{{Key: "account", Name: "Recipient account", Value: "ACC12345678"}}}, time.Now(), "s3cr3t-ü")
	old := izi.Form(&kassa.OrderObject{ID: "ord_1", Status: kassa.OrderDone, InAmount: "1", OutAmount: "1", XMLFrom: "PEN", XMLTo: "USD"},
		time.Now().Add(-time.Hour), "s3cr3t")
	changed := url.Values{}
	for k, v := range fresh {
		changed[k] = v
	}
	changed.Set("outAmount", "26.74")
	cases := []struct {
		name   string
		form   url.Values
		secret string
		maxAge string
		hashOK bool // the hash matches
		ok     bool // and the IPN is fresh enough
	}{
		{"seed's worked example", seed, "SECRET123", "", true, true},
		{"seed's example, wrong secret", seed, "SECRET124", "", false, false},
		{"seed's example is stale", seed, "SECRET123", "600000", true, false},
		{"Kassa's IPN", fresh, "s3cr3t-ü", "600000", true, true},
		{"Kassa's IPN, amount changed", changed, "s3cr3t-ü", "600000", false, false},
		{"an hour-old IPN", old, "s3cr3t", "600000", true, false},
	}
	for _, c := range cases { // the Go package checks the hash the same way
		if got := webhook.VerifyIziIPN(c.form, c.secret); got != c.hashOK {
			t.Errorf("Go, %s: %t, want %t", c.name, got, c.hashOK)
		}
	}
	for _, lang := range []string{"js", "php", "python"} {
		t.Run(lang, func(t *testing.T) {
			interpreter(t, lang)
			src := docBlocks(t, "orders.md", "## 5. IPN", lang) + ipnDrivers[lang]
			for _, c := range cases {
				flat := map[string]string{}
				for k := range c.form {
					flat[k] = c.form.Get(k)
				}
				fj, _ := json.Marshal(flat)
				out := runScript(t, lang, src, map[string]string{"FORM": string(fj), "IPN_SECRET": c.secret, "MAX_AGE": c.maxAge})
				if out != strconv.FormatBool(c.ok) {
					t.Errorf("%s: %q, want %t", c.name, out, c.ok)
				}
			}
		})
	}
}
