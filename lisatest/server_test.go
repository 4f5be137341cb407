package lisatest_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
