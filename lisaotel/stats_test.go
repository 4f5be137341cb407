package lisaotel_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisaotel"
	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func TestObserveClient(t *testing.T) {
	r := newRig(t, []lisa.Option{lisa.WithMaxRetries(1), lisa.WithRetryBudget(10)})
	reg, err := lisaotel.ObserveClient(r.client, append(r.opts, lisaotel.WithAttributes(attribute.String("client", "main")))...)
	require.NoError(t, err)
	ctx := context.Background()
	r.srv.Script(
		lisatest.Fault{Status: http.StatusServiceUnavailable}, lisatest.Fault{}, // a token taken, then given back
		lisatest.Fault{Status: http.StatusUnauthorized},
		lisatest.Fault{Status: http.StatusInternalServerError}, lisatest.Fault{Status: http.StatusInternalServerError},
	)
	_, err = r.client.Send(ctx, []byte(`{}`))
	require.NoError(t, err)
	_, err = r.client.Send(ctx, []byte(`{}`))
	require.ErrorIs(t, err, lisa.ErrUnauthorized)
	_, err = r.client.Send(ctx, []byte(`{}`))
	require.ErrorIs(t, err, lisa.ErrServer)

	m := r.collect(t)
	assert.Equal(t, map[string]int64{
		"accepted": 1, "unauthorized": 1, "server_error": 1,
		"rejected": 0, "rate_limited": 0, "transport_error": 0, "throttled": 0, "canceled": 0,
	}, sums(t, m["lisa.client.sends"], "lisa.result"))
	assert.Equal(t, map[string]int64{"main": 5}, sums(t, m["lisa.client.attempts"], "client"))
	assert.True(t, m["lisa.client.attempts"].Data.(metricdata.Sum[int64]).IsMonotonic)
	assert.Equal(t, "{attempt}", m["lisa.client.attempts"].Unit)
	assert.Equal(t, int64(9), gauge(t, m["lisa.client.retry_budget.remaining"]))
	cooldown := m["lisa.client.cooldown.remaining"].Data.(metricdata.Gauge[float64])
	require.Len(t, cooldown.DataPoints, 1)
	assert.Zero(t, cooldown.DataPoints[0].Value)
	// Retries are ClientOption's, by reason, and not counted twice.
	assert.Equal(t, map[string]int64{"503": 1, "500": 1}, sums(t, m["lisa.client.retries"], "error.type"))

	require.NoError(t, reg.Unregister())
	_, ok := r.collect(t)["lisa.client.sends"]
	assert.False(t, ok)

	_, err = lisaotel.ObserveClient(nil)
	require.EqualError(t, err, "lisa: lisaotel.ObserveClient: client is nil")
}

func TestObserveQueue(t *testing.T) {
	r := newRig(t, []lisa.Option{lisa.WithConcurrency(1), lisa.WithMaxRetries(0)})
	var spill bytes.Buffer
	q, err := lisa.NewQueue(r.client, lisa.QueueOptions{Workers: 1, Spill: &spill})
	require.NoError(t, err)
	reg, err := lisaotel.ObserveQueue(q, r.opts...)
	require.NoError(t, err)
	defer reg.Unregister()
	r.srv.Script(lisatest.Fault{Delay: 300 * time.Millisecond, Process: true}, lisatest.Fault{Status: http.StatusInternalServerError})
	ctx := context.Background()
	require.NoError(t, q.Enqueue(ctx, []byte(`{"slow":true}`)))
	require.Eventually(t, func() bool { return q.Stats().InFlight == 1 }, 5*time.Second, time.Millisecond)
	require.NoError(t, q.EnqueueKey(ctx, "k", []byte(`{"v":1}`)))
	require.NoError(t, q.EnqueueKey(ctx, "k", []byte(`{"v":22}`)))
	require.ErrorIs(t, q.Enqueue(ctx, []byte(`{`)), lisa.ErrInvalidPayload)

	m := r.collect(t)
	assert.Equal(t, map[string]int64{"": 1}, sums(t, m["lisa.queue.waiting"], ""))
	assert.False(t, m["lisa.queue.waiting"].Data.(metricdata.Sum[int64]).IsMonotonic)
	assert.Equal(t, map[string]int64{"": 8}, sums(t, m["lisa.queue.waiting.size"], ""))
	assert.Equal(t, "By", m["lisa.queue.waiting.size"].Unit)
	assert.Equal(t, map[string]int64{"": 1}, sums(t, m["lisa.queue.in_flight"], ""))

	require.NoError(t, q.Close(ctx))
	m = r.collect(t)
	assert.Equal(t, map[string]int64{"": 3}, sums(t, m["lisa.queue.enqueued"], ""))
	assert.Equal(t, map[string]int64{"full": 0, "invalid": 1}, sums(t, m["lisa.queue.refused"], "lisa.result"))
	assert.Equal(t, map[string]int64{"accepted": 1, "failed": 1, "superseded": 1}, sums(t, m["lisa.queue.results"], "lisa.result"))
	assert.Equal(t, map[string]int64{"": 1}, sums(t, m["lisa.queue.spilled"], ""))
	assert.Equal(t, `{"v":22}`, strings.TrimSpace(spill.String()))
	assert.Equal(t, map[string]int64{"": 0}, sums(t, m["lisa.queue.spill.errors"], ""))
	assert.Equal(t, map[string]int64{"": 0}, sums(t, m["lisa.queue.waiting"], ""))
	assert.Equal(t, int64(0), gauge(t, m["lisa.queue.stopped"]))

	_, err = lisaotel.ObserveQueue(nil)
	require.EqualError(t, err, "lisa: lisaotel.ObserveQueue: queue is nil")
}
