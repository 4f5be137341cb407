package lisa_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestClientStats sends one notification per kind of outcome against
// scripted faults and checks every counter.
func TestClientStats(t *testing.T) {
	srv := lisatest.NewServer(testPluginID, testAPIKey, testSecret)
	defer srv.Close()
	client := newTestClient(t, srv.URL, lisa.WithRetryBudget(10), lisa.WithTimeout(5*time.Second))
	assert.Equal(t, lisa.ClientStats{RetryBudget: 10}, client.Stats())

	send := func(ctx context.Context, faults ...lisatest.Fault) error {
		srv.Script(faults...)
		_, err := client.Send(ctx, []byte(`{"productId":"1"}`))
		return err
	}
	times := func(n int, f lisatest.Fault) []lisatest.Fault {
		out := make([]lisatest.Fault, n)
		for i := range out {
			out[i] = f
		}
		return out
	}
	bg := context.Background()
	require.NoError(t, send(bg))                                                        // 1 attempt
	require.NoError(t, send(bg, lisatest.Fault{Status: http.StatusServiceUnavailable})) // 2 attempts, budget 9 then 10
	require.ErrorIs(t, send(bg, times(4, lisatest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "0"})...), lisa.ErrRateLimited)
	require.ErrorIs(t, send(bg, times(4, lisatest.Fault{Status: http.StatusInternalServerError})...), lisa.ErrServer)
	require.ErrorIs(t, send(bg, lisatest.Fault{Status: http.StatusBadRequest}), lisa.ErrBadRequest)
	require.ErrorIs(t, send(bg, lisatest.Fault{Status: http.StatusUnauthorized}), lisa.ErrUnauthorized)
	require.Error(t, send(bg, times(4, lisatest.Fault{Drop: true})...)) // transport
	ctx, cancel := context.WithTimeout(bg, 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, send(ctx, lisatest.Fault{Delay: 300 * time.Millisecond}), context.DeadlineExceeded)
	cancel()
	// Refused before sending: not counted.
	_, err := client.Send(bg, []byte(`not json`))
	require.ErrorIs(t, err, lisa.ErrInvalidPayload)

	assert.Equal(t, lisa.ClientStats{
		Sends:    8,
		Attempts: 1 + 2 + 4 + 4 + 1 + 1 + 4 + 1,
		Retries:  1 + 3 + 3 + 3,
		Accepted: 2,
		Failed: lisa.FailureCounts{
			Unauthorized: 1, Rejected: 1, RateLimited: 1, Server: 1, Transport: 1, Canceled: 1,
		},
		// 10, -1 +1 for the 503 then 202, -3 -3 for the 429s and 500s,
		// -3 for the drops.
		RetryBudget: 1,
	}, client.Stats())
	assert.Equal(t, int64(6), client.Stats().Failed.Total())

	off := newTestClient(t, srv.URL, lisa.WithRetryBudget(0))
	assert.Equal(t, -1, off.Stats().RetryBudget)
	var zero *lisa.Client
	assert.Equal(t, lisa.ClientStats{}, zero.Stats())
}

// TestQueueStatsWhileSending: the gauges show what waits and what is in
// flight.
func TestQueueStatsWhileSending(t *testing.T) {
	srv := newGatedServer(t, testSecret, holdAll)
	q := newQueue(t, newTestClient(t, srv.URL, lisa.WithConcurrency(2)), lisa.QueueOptions{})
	ctx := context.Background()
	require.NoError(t, q.EnqueueKey(ctx, "k", update("k", 0)))
	srv.waitArrival(t)
	for i := 1; i < 5; i++ { // k1 to k3 superseded, k4 parked behind k0
		require.NoError(t, q.EnqueueKey(ctx, "k", update("k", i)))
	}
	require.NoError(t, q.Enqueue(ctx, update("a", 0)))
	srv.waitArrival(t)
	require.NoError(t, q.Enqueue(ctx, update("b", 0)))
	st := q.Stats()
	assert.Equal(t, int64(7), st.Enqueued)
	assert.Equal(t, 2, st.InFlight, "k0 and a0")
	assert.Equal(t, 2, st.Waiting, "k4, parked, and b0")
	assert.Equal(t, int64(len(update("k", 4))+len(update("b", 0))), st.WaitingBytes)
	assert.Equal(t, int64(3), st.Superseded)
	srv.release()
	require.NoError(t, q.Flush(ctx))
	st = q.Stats()
	assert.Equal(t, lisa.QueueStats{Enqueued: 7, Accepted: 4, Superseded: 3}, st)
}
