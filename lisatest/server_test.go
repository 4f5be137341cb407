package lisatest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	pluginID = "plugin-7"
	apiKey   = "api-key-123"
	secret   = "shh-secret"
)

// post sends a hand-built request, so that each check can be hit on its own.
func post(t *testing.T, srv *lisatest.Server, method, path string, header map[string]string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

func TestChecksInDocumentedOrder(t *testing.T) {
	srv := lisatest.NewServer(pluginID, apiKey, secret)
	defer srv.Close()
	signer := lisa.NewSigner([]byte(secret))
	body := []byte(`{"productId":"123","price":19.99}`)
	good := map[string]string{"Authorization": "ApiKey " + apiKey, lisa.SignatureHeader: signer.Sign(body), "Content-Type": "application/json"}
	with := func(k, v string) map[string]string {
		h := map[string]string{}
		for a, b := range good {
			h[a] = b
		}
		if v == "" {
			delete(h, k)
		} else {
			h[k] = v
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
		header map[string]string
		body   []byte
		status int
		reason string
	}{
		{"accepted", "POST", path, good, body, 202, "accepted"},
		{"other plugin", "POST", "/plugin-notifications/other/updates", good, body, 404, "no such endpoint"},
		{"GET", "GET", path, good, nil, 405, "POST"},
		{"too large beats bad signature", "POST", path, with(lisa.SignatureHeader, "bad"), big, 413, "192 KiB"},
		{"missing signature", "POST", path, with(lisa.SignatureHeader, ""), body, 400, "missing X-Hmac-Signature"},
		{"malformed signature beats bad key", "POST", path, map[string]string{"Authorization": "ApiKey nope", lisa.SignatureHeader: "xyz"}, body, 400, "malformed"},
		{"wrong key", "POST", path, with("Authorization", "ApiKey nope"), body, 401, "API key"},
		{"bearer instead of ApiKey", "POST", path, with("Authorization", "Bearer "+apiKey), body, 401, "API key"},
		{"python bytes bug", "POST", path, with("Authorization", "ApiKey b'"+apiKey+"'"), body, 401, "API key"},
		{"signature of other bytes", "POST", path, with(lisa.SignatureHeader, signer.Sign([]byte(`{"productId":"123", "price":19.99}`))), body, 401, "signature"},
		{"upper-case hex accepted", "POST", path, with(lisa.SignatureHeader, strings.ToUpper(signer.Sign(body))), body, 202, "accepted"},
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

func TestSDKAgainstServer(t *testing.T) {
	srv := lisatest.NewServer(pluginID, apiKey, secret)
	defer srv.Close()
	c, err := lisa.NewClient(pluginID, apiKey, secret, lisa.WithBaseURL(srv.URL))
	require.NoError(t, err)
	rcpt, err := c.Send(context.Background(), map[string]any{"productId": "1", "stock": 3})
	require.NoError(t, err)
	got := srv.Received()
	require.Len(t, got, 1)
	assert.Equal(t, rcpt.RequestID, got[0].RequestID)
	assert.JSONEq(t, `{"productId":"1","stock":3}`, string(got[0].Body))

	wrong, err := lisa.NewClient(pluginID, apiKey, "not-the-secret", lisa.WithBaseURL(srv.URL))
	require.NoError(t, err)
	_, err = wrong.Send(context.Background(), map[string]any{"productId": "1"})
	assert.ErrorIs(t, err, lisa.ErrUnauthorized)
	assert.Contains(t, err.Error(), "signature does not match")
}

func TestScriptedFaults(t *testing.T) {
	srv := lisatest.NewServer(pluginID, apiKey, secret)
	defer srv.Close()
	srv.Script(
		lisatest.Fault{Status: 503, RetryAfter: "0"},
		lisatest.Fault{Drop: true},
		lisatest.Fault{Drop: true, Process: true},
		lisatest.Fault{Delay: 900 * time.Millisecond, Process: true},
	)
	c, err := lisa.NewClient(pluginID, apiKey, secret, lisa.WithBaseURL(srv.URL),
		lisa.WithBackoff(time.Millisecond, 2*time.Millisecond), lisa.WithTimeout(300*time.Millisecond), lisa.WithMaxRetries(5))
	require.NoError(t, err)
	rcpt, err := c.Send(context.Background(), []byte(`{"productId":"9"}`))
	require.NoError(t, err)
	assert.Equal(t, 5, rcpt.Attempts)

	reqs := srv.Requests()
	require.Len(t, reqs, 5)
	kinds := []string{reqs[0].Fault, reqs[1].Fault, reqs[2].Fault, reqs[3].Fault, reqs[4].Fault}
	assert.Equal(t, []string{"Service Unavailable", "drop-before", "drop-after", "slow", ""}, kinds)
	assert.Equal(t, []int{503, 0, 0}, []int{reqs[0].Status, reqs[1].Status, reqs[2].Status})
	// Processed three times (drop-after, slow, the last), all the same notification.
	received := srv.Received()
	require.Len(t, received, 3)
	for _, n := range received {
		assert.Equal(t, rcpt.RequestID, n.RequestID)
		assert.Equal(t, `{"productId":"9"}`, string(n.Body))
	}
	assert.Equal(t, map[string]int{"Service Unavailable": 1, "drop-before": 1, "drop-after": 1, "slow": 1}, srv.FaultCounts())
}

func TestRandomFaultsAreReproducible(t *testing.T) {
	run := func(seed uint64) []string {
		srv := lisatest.NewServer(pluginID, apiKey, secret, lisatest.WithRandomFaults(lisatest.RandomFaults{
			Seed: seed, ServerError: 0.2, RateLimit: 0.1, BadGateway: 0.1, DropBefore: 0.1,
		}))
		defer srv.Close()
		c, err := lisa.NewClient(pluginID, apiKey, secret, lisa.WithBaseURL(srv.URL), lisa.WithMaxRetries(0))
		require.NoError(t, err)
		for i := 0; i < 60; i++ {
			_, _ = c.Send(context.Background(), []byte(`{}`)) // one at a time: arrival order is fixed
		}
		var kinds []string
		for _, r := range srv.Requests() {
			kinds = append(kinds, r.Fault)
		}
		return kinds
	}
	a, b, other := run(7), run(7), run(8)
	assert.Equal(t, a, b)
	assert.NotEqual(t, a, other)
	faults := 0
	for _, k := range a {
		if k != "" {
			faults++
		}
	}
	assert.Greater(t, faults, 10, "about half of 60 requests misbehave")
	assert.Less(t, faults, 50)
}

func TestBadGatewayHasHTMLBody(t *testing.T) {
	srv := lisatest.NewServer(pluginID, apiKey, secret, lisatest.WithRandomFaults(lisatest.RandomFaults{Seed: 1, BadGateway: 1}))
	defer srv.Close()
	c, err := lisa.NewClient(pluginID, apiKey, secret, lisa.WithBaseURL(srv.URL), lisa.WithMaxRetries(0))
	require.NoError(t, err)
	_, err = c.Send(context.Background(), []byte(`{}`))
	var apiErr *lisa.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 502, apiErr.StatusCode)
	assert.Contains(t, apiErr.Body, "<h1>502 Bad Gateway</h1>")
	assert.True(t, errors.Is(err, lisa.ErrServer))
}

func TestConnectionsAreCounted(t *testing.T) {
	srv := lisatest.NewServer(pluginID, apiKey, secret)
	defer srv.Close()
	c, err := lisa.NewClient(pluginID, apiKey, secret, lisa.WithBaseURL(srv.URL))
	require.NoError(t, err)
	for i := 0; i < 20; i++ {
		_, err := c.Send(context.Background(), []byte(`{}`))
		require.NoError(t, err)
	}
	assert.Equal(t, 1, srv.Connections(), "sequential sends reuse one connection")
	n, ok := srv.Counts()
	assert.Equal(t, 20, n)
	assert.Equal(t, 20, ok)
}

func TestHandlerMountsInAnotherServer(t *testing.T) {
	var observed []lisatest.Request
	h := lisatest.NewHandler(pluginID, apiKey, secret, lisatest.WithoutRecords(),
		lisatest.WithObserver(func(r lisatest.Request) { observed = append(observed, r) }))
	ts := httptest.NewServer(h)
	defer ts.Close()
	c, err := lisa.NewClient(pluginID, apiKey, secret, lisa.WithBaseURL(ts.URL))
	require.NoError(t, err)
	_, err = c.Send(context.Background(), []byte(`{"a":1}`))
	require.NoError(t, err)
	assert.Empty(t, h.Requests(), "WithoutRecords keeps no requests")
	assert.Empty(t, h.Received())
	n, ok := h.Counts()
	assert.Equal(t, []int{1, 1}, []int{n, ok})
	require.Len(t, observed, 1)
	assert.Equal(t, 202, observed[0].Status)
}

// FuzzChecks throws arbitrary requests at the handler: it must never panic,
// must answer one of the documented statuses, and must accept only a request
// that is correctly authorised, signed and JSON.
func FuzzChecks(f *testing.F) {
	signer := lisa.NewSigner([]byte(secret))
	f.Add("POST", "/plugin-notifications/"+pluginID+"/updates", "ApiKey "+apiKey, signer.Sign([]byte(`{}`)), []byte(`{}`))
	f.Add("POST", "/plugin-notifications/"+pluginID+"/updates", "ApiKey "+apiKey, "", []byte(`{}`))
	f.Add("GET", "/", "", "zz", []byte(nil))
	f.Add("POST", "/plugin-notifications/"+pluginID+"/updates", "ApiKey x", strings.Repeat("A", 64), []byte(`[1,2`))
	h := lisatest.NewHandler(pluginID, apiKey, secret, lisatest.WithoutRecords())
	f.Fuzz(func(t *testing.T, method, path, auth, sig string, body []byte) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Method = method
		req.URL.Path, req.URL.RawPath = path, ""
		req.Header.Set("Authorization", auth)
		req.Header.Set(lisa.SignatureHeader, sig)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case 202:
			require.Equal(t, "POST", method)
			require.Equal(t, "ApiKey "+apiKey, req.Header.Get("Authorization"))
			require.True(t, signer.Verify(body, sig))
			require.True(t, json.Valid(body))
		case 400, 401, 404, 405, 413:
			var e struct{ Error string }
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &e))
			require.NotEmpty(t, e.Error)
		default:
			t.Fatalf("unexpected status %d", w.Code)
		}
	})
}
