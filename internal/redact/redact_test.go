package redact

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf16"
)

func TestSecretsEverySpelling(t *testing.T) {
	const key = `k/ey"Ü-🔑\1`
	escapeAll := func(s, format string) string {
		var b strings.Builder
		for _, u := range utf16.Encode([]rune(s)) {
			fmt.Fprintf(&b, format, u)
		}
		return b.String()
	}
	for name, body := range map[string]string{
		"literal":          "x " + key + " y",
		"short escapes":    `x k\/ey\"Ü-🔑\\1 y`,
		"lower hex":        "x " + escapeAll(key, `\u%04x`) + " y",
		"upper hex":        "x " + escapeAll(key, `\u%04X`) + " y",
		"escaped twice":    `x k\\\/ey\\\"Ü-🔑\\\\1 y`,
		"mixed":            `x k\u002fey\"\u00dc-🔑\\1 y`,
		"twice, with hex":  `x \\u006b/ey\\"Ü-🔑\\\\1 y`,
		"in a long string": strings.Repeat("a", 1000) + key + strings.Repeat("b", 1000),
	} {
		t.Run(name, func(t *testing.T) {
			got := Secrets(body, "***", key)
			if strings.Contains(got, "ey") || !strings.Contains(got, "***") {
				t.Errorf("Secrets(%q) = %q: the key is still there", body, got)
			}
		})
	}
}

func TestSecretsKeepsTheRest(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"a":"b\n","k":"s3cret"}`, `{"a":"b\n","k":"***"}`},
		{`no secret \u0041 here`, `no secret \u0041 here`},
		{`s3cr\u0065t and s3cret`, `*** and ***`},
		{`trailing \`, `trailing \`},
		{`bad \uZZZZ escape s3cret`, `bad \uZZZZ escape ***`},
		{`the longer s3cret-and-more wins`, `the longer *** wins`},
	} {
		if got := Secrets(tc.in, "***", "s3cret", "s3cret-and-more"); got != tc.want {
			t.Errorf("Secrets(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := Secrets("nothing", "***", "", ""); got != "nothing" {
		t.Errorf("empty secrets changed the text: %q", got)
	}
}

func TestAuthorization(t *testing.T) {
	for in, want := range map[string]string{
		"ApiKey abc":   "ApiKey ****",
		"Bearer x y z": "Bearer ****",
		"justakey":     "****",
		"":             "****",
	} {
		if got := Authorization(in); got != want {
			t.Errorf("Authorization(%q) = %q, want %q", in, got, want)
		}
	}
}

// The hostile bodies that made the former regular expressions cost 125 ms
// per 64 KiB; compare with BenchmarkSecrets/plain in the same run.
func BenchmarkSecrets(b *testing.B) {
	key, secret := strings.Repeat("k", 40), strings.Repeat("s", 64)
	for name, body := range map[string]string{
		"plain":       strings.Repeat("plain text ", 64<<10/11),
		"backslashes": strings.Repeat(`\`, 64<<10),
		"u-escapes":   strings.Repeat(`\u006b`, 64<<10/6),
		"near-miss":   strings.Repeat(`\u0073`, 63) + strings.Repeat(`x\u0073`, 64<<10/7),
	} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for range b.N {
				Secrets(body, "[REDACTED]", key, secret)
			}
		})
	}
}
