package lisatest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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

// TestDelayEndsWhenTheClientHangsUp: a long Delay before processing ends as
// soon as the client goes away, so Close does not wait out the delay.
func TestDelayEndsWhenTheClientHangsUp(t *testing.T) {
	srv := lisatest.NewServer(pluginID, apiKey, secret)
	srv.Script(lisatest.Fault{Delay: time.Hour})
	c, err := lisa.NewClient(pluginID, apiKey, secret, lisa.WithBaseURL(srv.URL), lisa.WithTimeout(100*time.Millisecond), lisa.WithMaxRetries(0))
	require.NoError(t, err)
	_, err = c.Send(context.Background(), []byte(`{"productId":"1"}`))
	require.Error(t, err)
	c.CloseIdleConnections()
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("Close is waiting out the hour-long delay of a request whose client is gone")
	}
}
