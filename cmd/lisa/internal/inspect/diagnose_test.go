package inspect_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/cmd/lisa/internal/inspect"
)

func sign(key string, body []byte) string { return lisa.NewSigner([]byte(key)).Sign(body) }

// The body as sent, and what careless clients sign instead. The Python forms
// are what CPython 3.11 prints for json.dumps(v) and json.dumps(v, indent=4)
// of the same object (run once; pasted here).
var (
	sentBody      = []byte(`{"productId":"123","price":19.99,"name":"Café <b>&","tags":["a","😀"],"n":{}}`)
	pythonDefault = `{"productId": "123", "price": 19.99, "name": "Caf\u00e9 <b>&", "tags": ["a", "\ud83d\ude00"], "n": {}}`
	pythonIndent4 = "{\n    \"productId\": \"123\",\n    \"price\": 19.99,\n    \"name\": \"Caf\\u00e9 <b>&\",\n    \"tags\": [\n        \"a\",\n        \"\\ud83d\\ude00\"\n    ],\n    \"n\": {}\n}"
)

func TestSignatureDiagnoses(t *testing.T) {
	sha1Of := func(b []byte) string {
		m := hmac.New(sha1.New, []byte(secret))
		m.Write(b)
		return hex.EncodeToString(m.Sum(nil))
	}
	b64Of := func(b []byte) string {
		raw, _ := hex.DecodeString(sign(secret, b))
		return base64.StdEncoding.EncodeToString(raw)
	}
	for _, tc := range []struct {
		name      string
		signature string
		status    int
		kind      string
		title     string
		inDetail  string
	}{
		{"missing", "", 400, "missing", "signature missing", "no X-Hmac-Signature"},
		{"malformed", "0123456789abcdez", 400, "malformed", "signature malformed", "16 characters, the one at position 16"},
		{"sha256 prefix", "sha256=" + sign(secret, sentBody), 400, "malformed", "sha256= prefix", "Without it, the signature matches"},
		{"base64", b64Of(sentBody), 400, "malformed", "base64, not hex", "base64"},
		{"sha1", sha1Of(sentBody), 400, "malformed", "HMAC-SHA1, not SHA-256", "right secret"},
		{"another secret", sign("an-old-secret", sentBody), 401, "other-secret", "signed with another secret", "another secret"},
		{"api key as secret", sign(apiKey, sentBody), 401, "api-key", "signed with the API key", "API key"},
		{"python default separators", sign(secret, []byte(pythonDefault)), 401, "body-changed", "body changed after signing", "Python json.dumps(v) defaults"},
		{"python indent 4 with newline", sign(secret, []byte(pythonIndent4+"\n")), 401, "body-changed", "body changed after signing", "indented with 4 spaces"},
		{"JSON.stringify indent 2", sign(secret, []byte("{\n  \"productId\": \"123\",\n  \"price\": 19.99,\n  \"name\": \"Café <b>&\",\n  \"tags\": [\n    \"a\",\n    \"😀\"\n  ],\n  \"n\": {}\n}")), 401, "body-changed", "body changed after signing", "2 spaces"},
		{"sorted keys compact", sign(secret, []byte(`{"n":{},"name":"Café <b>&","price":19.99,"productId":"123","tags":["a","😀"]}`)), 401, "body-changed", "body changed after signing", "keys sorted, compact"},
		{"go map marshal", sign(secret, []byte(`{"n":{},"name":"Café \u003cb\u003e\u0026","price":19.99,"productId":"123","tags":["a","😀"]}`)), 401, "body-changed", "body changed after signing", "json.Marshal"},
		{"trailing newline", sign(secret, append([]byte(string(sentBody)), '\n')), 401, "body-changed", "body changed after signing", "trailing newline added"},
		{"empty body", sign(secret, nil), 401, "body-changed", "body changed after signing", "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, inspect.Config{})
			require.Equal(t, tc.status, f.post(sentBody, signed(sentBody, map[string]string{lisa.SignatureHeader: tc.signature})))
			d := f.last()
			got := d.finding(t, lisa.SignatureHeader)
			assert.Equal(t, tc.kind, got.Kind)
			assert.Equal(t, tc.title, got.Title)
			assert.Contains(t, strings.ToLower(got.Detail), strings.ToLower(tc.inDetail))
			assert.False(t, got.OK)
			assert.Equal(t, tc.title, d.Diagnosis, "the row names the problem")
			if tc.kind == "body-changed" && tc.name != "empty body" {
				assert.NotEmpty(t, got.Signed, "the bytes that were signed are shown")
			}
		})
	}
}

func TestUpperCaseHexIsDiagnosedEvenWhenAccepted(t *testing.T) {
	f := setup(t, inspect.Config{})
	upper := strings.ToUpper(sign(secret, sentBody))
	status := f.post(sentBody, signed(sentBody, map[string]string{lisa.SignatureHeader: upper}))
	got := f.last().finding(t, lisa.SignatureHeader)
	assert.Equal(t, "upper-case", got.Kind)
	assert.Equal(t, "upper-case hex", got.Title)
	assert.False(t, got.OK, "a warning: the docs show lower case only (this server answered %d)", status)
}

func TestAuthorizationDiagnoses(t *testing.T) {
	for _, tc := range []struct {
		name, value, kind string
	}{
		{"right", "ApiKey " + apiKey, "ok"},
		{"python bytes", "ApiKey b'" + apiKey + "'", "python-bytes"},
		{"scala array", "ApiKey [B@1b6d3586", "array-ref"},
		{"bearer", "Bearer " + apiKey, "scheme"},
		{"no scheme", apiKey, "scheme"},
		{"secret instead", "ApiKey " + secret, "secret"},
		{"other key", "ApiKey some-other-key", "other-key"},
		{"other form", "Basic dXNlcjpwYXNz", "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, inspect.Config{})
			f.post(sentBody, signed(sentBody, map[string]string{"Authorization": tc.value}))
			d := f.last()
			got := d.finding(t, "Authorization")
			assert.Equal(t, tc.kind, got.Kind)
			assert.Equal(t, tc.kind == "ok", got.OK)
			if tc.kind != "ok" {
				assert.Equal(t, got.Title, d.Diagnosis)
			}
		})
	}
	f := setup(t, inspect.Config{})
	hdr := signed(sentBody, nil)
	delete(hdr, "Authorization")
	require.Equal(t, http.StatusUnauthorized, f.post(sentBody, hdr))
	assert.Equal(t, "missing", f.last().finding(t, "Authorization").Kind)
}
