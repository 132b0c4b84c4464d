package resultsig_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kassa-pay/kassa/resultsig"
)

// TestDocumentedExamples runs the JavaScript and PHP verification snippets
// of docs/checkout.md, as a merchant would paste them, against signatures
// made by this package: the examples in the guide must really work. Each
// runs when its interpreter (node, php) is installed and is skipped
// otherwise (the Go helper is what CI always checks).
func TestDocumentedExamples(t *testing.T) {
	doc, err := os.ReadFile("../docs/checkout.md")
	if err != nil {
		t.Fatal(err)
	}
	const secret = "rss_test_secret"
	good := resultsig.Sign(secret, "pay_123", "succeeded")
	// Each case: status and signature handed to the snippet, and its answer.
	cases := []struct {
		status, signature string
		want              bool
	}{
		{"succeeded", good, true},
		{"succeeded", strings.ToUpper(good), true}, // hex case does not matter
		{"canceled", good, false},
		{"succeeded", good[:62], false},
		{"succeeded", "", false},
	}

	snippet := func(lang string) string {
		m := regexp.MustCompile("(?s)\\*\\*" + regexp.QuoteMeta(map[string]string{"js": "JavaScript", "php": "PHP"}[lang]) +
			"\\*\\*[^`]*```" + lang + "\n(.*?)```").FindSubmatch(doc)
		if m == nil {
			t.Fatalf("docs/checkout.md has no %s example", lang)
		}
		return string(m[1])
	}
	runScript := func(t *testing.T, interpreter, name, src string) string {
		path, err := exec.LookPath(interpreter)
		if err != nil {
			t.Skipf("%s not installed", interpreter)
		}
		file := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(path, file).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", interpreter, name, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	var want []string
	for _, c := range cases {
		want = append(want, map[bool]string{true: "true", false: "false"}[c.want])
	}

	t.Run("JavaScript", func(t *testing.T) {
		src := snippet("js")
		for _, c := range cases {
			src += "console.log(String(verifyKassaResult(" + quote(secret) + ", {payment_id: 'pay_123', status: " + quote(c.status) +
				", signature: " + quote(c.signature) + "})));\n"
		}
		if got := runScript(t, "node", "verify.js", src); got != strings.Join(want, "\n") {
			t.Errorf("JavaScript example answers\n%s\nwant\n%s", got, strings.Join(want, "\n"))
		}
	})
	t.Run("PHP", func(t *testing.T) {
		src := "<?php\n" + snippet("php")
		for _, c := range cases {
			src += "echo kassa_verify_result(" + quote(secret) + ", 'pay_123', " + quote(c.status) + ", " + quote(c.signature) +
				") ? \"true\\n\" : \"false\\n\";\n"
		}
		if got := runScript(t, "php", "verify.php", src); got != strings.Join(want, "\n") {
			t.Errorf("PHP example answers\n%s\nwant\n%s", got, strings.Join(want, "\n"))
		}
	})
}

// quote makes a single-quoted literal valid in both JavaScript and PHP
// (the values here have no quotes or backslashes).
func quote(s string) string { return "'" + s + "'" }
