package lisatest_test

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestChecksInDocumentedOrder(t *testing.T) {
	srv := lisatest.NewServer(pluginID, apiKey, secret)
	defer srv.Close()
	signer := lisa.NewSigner([]byte(secret))
	body := []byte(`{"productId":"123","price":19.99}`)
	good := http.Header{"Authorization": {"ApiKey " + apiKey}, lisa.SignatureHeader: {signer.Sign(body)}, "Content-Type": {"application/json"}}
	with := func(k string, v ...string) http.Header { // k set to v, or removed
		h := good.Clone()
		if len(v) == 0 {
			h.Del(k)
		} else {
			h[http.CanonicalHeaderKey(k)] = v
		}
		return h
	}
	path := "/plugin-notifications/" + pluginID + "/updates"
	big := []byte(`"` + strings.Repeat("a", lisa.MaxPayloadBytes) + `"`)
	notJSON := []byte(`{"productId":`)

	cases := []struct {
		name   string
		method string
		path   string
		header http.Header
		body   []byte
		status int
		reason string
	}{
		{"accepted", "POST", path, good, body, 202, "accepted"},
		{"other plugin", "POST", "/plugin-notifications/other/updates", good, body, 404, "no such endpoint"},
		{"GET", "GET", path, good, nil, 405, "POST"},
		{"too large beats bad signature", "POST", path, with(lisa.SignatureHeader, "bad"), big, 413, "192 KiB"},
		{"missing signature", "POST", path, with(lisa.SignatureHeader), body, 400, "missing X-Hmac-Signature"},
		{"malformed signature beats bad key", "POST", path, http.Header{"Authorization": {"ApiKey nope"}, lisa.SignatureHeader: {"xyz"}}, body, 400, "malformed"},
		{"upper-case hex", "POST", path, with(lisa.SignatureHeader, strings.ToUpper(signer.Sign(body))), body, 400, "lower-case"},
		{"two signatures, the good one first", "POST", path, with(lisa.SignatureHeader, signer.Sign(body), strings.Repeat("0", 64)), body, 400, "more than one X-Hmac-Signature"},
		{"two Authorization headers, the good one first", "POST", path, with("Authorization", "ApiKey "+apiKey, "ApiKey other"), body, 401, "more than one Authorization"},
		{"no Authorization", "POST", path, with("Authorization"), body, 401, "API key"},
		{"wrong key", "POST", path, with("Authorization", "ApiKey nope"), body, 401, "API key"},
		{"bearer instead of ApiKey", "POST", path, with("Authorization", "Bearer "+apiKey), body, 401, "API key"},
		{"python bytes bug", "POST", path, with("Authorization", "ApiKey b'"+apiKey+"'"), body, 401, "API key"},
		{"signature of other bytes", "POST", path, with(lisa.SignatureHeader, signer.Sign([]byte(`{"productId":"123", "price":19.99}`))), body, 401, "signature"},
		{"no Content-Type", "POST", path, with("Content-Type"), body, 415, "application/json"},
		{"text/plain", "POST", path, with("Content-Type", "text/plain"), body, 415, "application/json"},
		{"two Content-Types", "POST", path, with("Content-Type", "application/json", "text/plain"), body, 415, "application/json"},
		{"charset parameter accepted", "POST", path, with("Content-Type", "application/json; charset=utf-8"), body, 202, "accepted"},
		{"not JSON", "POST", path, with(lisa.SignatureHeader, signer.Sign(notJSON)), notJSON, 400, "not valid JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, out := post(t, srv, tc.method, tc.path, tc.header, tc.body)
			assert.Equal(t, tc.status, status)
			if status != 202 {
				var e struct{ Error string }
				require.NoError(t, json.Unmarshal([]byte(out), &e), out)
				assert.Contains(t, e.Error, tc.reason)
			}
		})
	}
	reqs := srv.Requests()
	require.Len(t, reqs, len(cases))
	assert.Len(t, srv.Received(), 2)
	assert.Equal(t, body, srv.Received()[0].Body)
	for i, tc := range cases {
		assert.Equal(t, tc.status, reqs[i].Status, tc.name)
	}
}

// FuzzChecks throws arbitrary requests at the handler: it must never panic,
// must answer one of the documented statuses, and must accept only a request
// that is correctly authorised, signed with lower-case hex, and JSON, with
// exactly one Authorization, X-Hmac-Signature and JSON Content-Type header.
// An empty sig2, auth2 or ctype2 sends no second header of that name.
func FuzzChecks(f *testing.F) {
	signer := lisa.NewSigner([]byte(secret))
	path := "/plugin-notifications/" + pluginID + "/updates"
	good := signer.Sign([]byte(`{}`))
	f.Add("POST", path, "ApiKey "+apiKey, "", good, "", "application/json", "", []byte(`{}`))
	f.Add("POST", path, "ApiKey "+apiKey, "", good, "", "application/json; charset=utf-8", "", []byte(`{}`))
	f.Add("POST", path, "ApiKey "+apiKey, "", "", "", "application/json", "", []byte(`{}`))
	f.Add("POST", path, "ApiKey "+apiKey, "", strings.ToUpper(good), "", "application/json", "", []byte(`{}`))
	f.Add("POST", path, "ApiKey "+apiKey, "", good, good, "application/json", "", []byte(`{}`))
	f.Add("POST", path, "ApiKey "+apiKey, "ApiKey "+apiKey, good, "", "application/json", "", []byte(`{}`))
	f.Add("POST", path, "ApiKey "+apiKey, "", good, "", "text/plain", "", []byte(`{}`))
	f.Add("POST", path, "ApiKey "+apiKey, "", good, "", "", "", []byte(`{}`))
	f.Add("POST", path, "ApiKey "+apiKey, "", good, "", "application/json", "application/json", []byte(`{}`))
	f.Add("GET", "/", "", "", "zz", "", "", "", []byte(nil))
	f.Add("POST", path, "ApiKey x", "", strings.Repeat("A", 64), "", "application/json", "", []byte(`[1,2`))
	h := lisatest.NewHandler(pluginID, apiKey, secret, lisatest.WithoutRecords())
	f.Fuzz(func(t *testing.T, method, path, auth, auth2, sig, sig2, ctype, ctype2 string, body []byte) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Method = method
		req.URL.Path, req.URL.RawPath = path, ""
		req.Header = http.Header{}
		for name, values := range map[string][]string{
			"Authorization": {auth, auth2}, lisa.SignatureHeader: {sig, sig2}, "Content-Type": {ctype, ctype2},
		} {
			for _, v := range values {
				if v != "" {
					req.Header.Add(name, v)
				}
			}
		}
		sent := req.Header.Clone() // what the checks may not have changed
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case 202:
			require.Equal(t, "POST", method)
			require.Equal(t, []string{"ApiKey " + apiKey}, sent.Values("Authorization"))
			require.Len(t, sent.Values(lisa.SignatureHeader), 1)
			require.True(t, signer.Verify(body, sig))
			require.Equal(t, strings.ToLower(sig), sig, "lower-case hex only")
			require.Len(t, sent.Values("Content-Type"), 1)
			mt, _, err := mime.ParseMediaType(ctype)
			require.NoError(t, err)
			require.Equal(t, "application/json", mt)
			require.True(t, json.Valid(body))
		case 400, 401, 404, 405, 413, 415:
			var e struct{ Error string }
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &e))
			require.NotEmpty(t, e.Error)
		default:
			t.Fatalf("unexpected status %d", w.Code)
		}
	})
}
