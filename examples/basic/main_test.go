package main

import (
	"context"
	"testing"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBasicSendsOneUpdate(t *testing.T) {
	srv := lisatest.NewServer("p", "k", "s")
	defer srv.Close()
	t.Setenv("LISA_PLUGIN_ID", "p")
	t.Setenv("LISA_API_KEY", "k")
	t.Setenv("LISA_SECRET", "s")
	rcpt, err := send(context.Background(), srv.URL, map[string]any{"productId": "123", "price": 19.99})
	require.NoError(t, err)
	assert.Equal(t, 202, rcpt.StatusCode)
	require.Len(t, srv.Received(), 1)
	assert.JSONEq(t, `{"productId":"123","price":19.99}`, string(srv.Received()[0].Body))
}

func TestBasicNeedsCredentials(t *testing.T) {
	t.Setenv("LISA_PLUGIN_ID", "")
	_, err := send(context.Background(), lisa.DefaultBaseURL, map[string]any{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "LISA_PLUGIN_ID")
}
