package lisa_test

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSendAllOneResultPerPayloadInOrder(t *testing.T) {
	var inFlight, peak atomic.Int32
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		now := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if now <= p || peak.CompareAndSwap(p, now) {
				break
			}
		}
		time.Sleep(2 * time.Millisecond) // let the workers overlap
		var p product
		_ = json.NewDecoder(r.Body).Decode(&p)
		if n%7 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable) // retried
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	c := newTestClient(t, rec.URL, lisa.WithConcurrency(3), lisa.WithMaxRetries(5))

	payloads := make([]any, 60)
	for i := range payloads {
		payloads[i] = product{fmt.Sprint(i), float64(i)}
	}
	payloads[10] = []byte("not json")
	payloads[20] = nil
	results := c.SendAll(context.Background(), payloads)

	require.Len(t, results, len(payloads))
	for i, r := range results {
		assert.Equal(t, i, r.Index)
		assert.Equal(t, payloads[i], r.Payload)
		assert.True(t, (r.Receipt == nil) != (r.Err == nil), "result %d has exactly one of receipt and error", i)
		switch i {
		case 10, 20:
			assert.ErrorIs(t, r.Err, lisa.ErrInvalidPayload)
		default:
			assert.NoError(t, r.Err, i)
		}
	}
	assert.LessOrEqual(t, peak.Load(), int32(3), "never more than WithConcurrency in flight")
	assert.Greater(t, peak.Load(), int32(1), "sends did overlap")
}

func TestSendAllEmpty(t *testing.T) {
	c := newTestClient(t, "http://127.0.0.1:1")
	assert.Empty(t, c.SendAll(context.Background(), nil))
}

func TestSendAllContextEndAccountsForEveryPayload(t *testing.T) {
	release := make(chan struct{})
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusAccepted)
	})
	defer close(release)
	c := newTestClient(t, rec.URL, lisa.WithConcurrency(2))
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for len(rec.requests()) < 2 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	payloads := make([]any, 50)
	for i := range payloads {
		payloads[i] = product{fmt.Sprint(i), 1}
	}
	results := c.SendAll(ctx, payloads)
	require.Len(t, results, 50)
	for i, r := range results {
		assert.Equal(t, i, r.Index)
		assert.Nil(t, r.Receipt)
		assert.ErrorIs(t, r.Err, context.Canceled, i)
	}
	assert.LessOrEqual(t, len(rec.requests()), 2, "nothing was sent after the context ended")
}

func TestSendSeqStreamsAndStopsEarly(t *testing.T) {
	rec := newRecorder(t, status(http.StatusAccepted))
	c := newTestClient(t, rec.URL, lisa.WithConcurrency(4))
	before := runtime.NumGoroutine()

	var produced atomic.Int32
	endless := iter.Seq[any](func(yield func(any) bool) {
		for i := 0; ; i++ {
			produced.Add(1)
			if !yield([]byte(fmt.Sprintf(`{"productId":"%d"}`, i))) {
				return
			}
		}
	})
	got := 0
	for r := range c.SendSeq(context.Background(), endless) {
		require.NoError(t, r.Err)
		got++
		if got == 25 {
			break
		}
	}
	assert.Equal(t, 25, got)
	// Reading stopped soon after: past the 25 consumed, at most the result
	// buffer, the workers and the job buffer (each the concurrency, 4), the
	// payload in the feeder's hand and the one being produced.
	assert.LessOrEqual(t, int(produced.Load()), 25+3*4+2)

	c.CloseIdleConnections()
	waitForGoroutines(t, before)
}

func TestSendSeqYieldsEveryInput(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n%3 == 0 {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	c := newTestClient(t, rec.URL, lisa.WithConcurrency(5))
	const n = 200
	seen := make([]int, n)
	for r := range c.SendSeq(context.Background(), func(yield func(any) bool) {
		for i := 0; i < n; i++ {
			if !yield(product{fmt.Sprint(i), 1}) {
				return
			}
		}
	}) {
		seen[r.Index]++
		assert.True(t, (r.Receipt == nil) != (r.Err == nil))
		assert.Equal(t, product{fmt.Sprint(r.Index), 1}, r.Payload)
	}
	for i, k := range seen {
		assert.Equal(t, 1, k, "payload %d", i)
	}
	assert.Len(t, rec.requests(), n, "400 is not retried")
}
