package lisa_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/hello-lisa/lisa-go"
	"github.com/stretchr/testify/require"
)

// FuzzSendPayload sends arbitrary bytes: Send must never panic, never send
// invalid JSON or more than the limit, and send valid JSON byte-exact with a
// signature over exactly those bytes.
func FuzzSendPayload(f *testing.F) {
	f.Add([]byte(`{"productId":"123","price":19.99}`))
	f.Add([]byte(`  [1, 2.5e10, "x", null, true]  `))
	f.Add([]byte(`{"productId":`))
	f.Add([]byte("\xff\xfe"))
	f.Add([]byte(" "))

	var mu sync.Mutex
	var got [][]byte
	var sigs []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, body)
		sigs = append(sigs, r.Header.Get(lisa.SignatureHeader))
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	f.Cleanup(srv.Close)
	c, err := lisa.NewClient(testPluginID, testAPIKey, testSecret, lisa.WithBaseURL(srv.URL), lisa.WithMaxRetries(0))
	require.NoError(f, err)
	verifier := lisa.NewSigner([]byte(testSecret))

	f.Fuzz(func(t *testing.T, payload []byte) {
		mu.Lock()
		got, sigs = nil, nil
		mu.Unlock()
		_, err := c.Send(context.Background(), payload)
		mu.Lock()
		defer mu.Unlock()
		trimmed := bytes.TrimSpace(payload)
		sendable := json.Valid(payload) && utf8.Valid(payload) && len(payload) <= lisa.MaxPayloadBytes &&
			len(trimmed) > 0 && string(trimmed) != "null"
		if !sendable {
			require.Error(t, err)
			require.True(t, errors.Is(err, lisa.ErrInvalidPayload) || errors.Is(err, lisa.ErrPayloadTooLarge), err)
			require.Empty(t, got, "nothing is sent for a bad payload")
			return
		}
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, payload, got[0], "sent byte-exact")
		require.True(t, verifier.Verify(got[0], sigs[0]))
	})
}
