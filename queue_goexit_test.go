package lisa_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goexitOnce calls runtime.Goexit the first time it is called, as a
// t.FailNow in a test's callback would, and does nothing after.
type goexitOnce struct{ called atomic.Bool }

func (g *goexitOnce) maybe() {
	if g.called.CompareAndSwap(false, true) {
		runtime.Goexit()
	}
}

// goexitTransport calls runtime.Goexit on its first request and sends the
// others on.
type goexitTransport struct{ once goexitOnce }

func (g *goexitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	g.once.maybe()
	return http.DefaultTransport.RoundTrip(r)
}

// goexitSpill calls runtime.Goexit on its first write.
type goexitSpill struct {
	once goexitOnce
	rec  spillRecorder
}

func (g *goexitSpill) Write(p []byte) (int, error) {
	g.once.maybe()
	return g.rec.Write(p)
}

// TestQueueCarriesOnAfterGoexitInUserCode: a runtime.Goexit in user code
// that a queue goroutine calls (the transport, Spill, OnResult, from a
// worker or from the reporter) ends that goroutine, and cannot be
// recovered; the queue carries on in another. The payload still gets its
// one result, every other payload is delivered, and Close returns.
func TestQueueCarriesOnAfterGoexitInUserCode(t *testing.T) {
	srv := lisatest.NewServer(testPluginID, testAPIKey, testSecret)
	defer srv.Close()
	unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer unavailable.Close()

	// closeWithin closes q and fails the test if Close does not return: a
	// queue goroutine gone for good would hold it forever.
	closeWithin := func(t *testing.T, q *lisa.Queue) error {
		t.Helper()
		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			done <- q.Close(ctx)
		}()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			t.Fatal("Close did not return: a queue goroutine ended and nothing took over")
			return nil
		}
	}
	const n = 4
	enqueue := func(t *testing.T, q *lisa.Queue) {
		for i := 0; i < n; i++ {
			require.NoError(t, q.Enqueue(context.Background(), update(fmt.Sprint("p", i), 1)))
		}
	}
	isGoexit := func(err error) bool {
		var gp *lisa.GoroutinePanic
		return errors.As(err, &gp) && errors.Is(err, lisa.ErrGoexit)
	}

	t.Run("OnResult", func(t *testing.T) {
		log, once := newResultLog(), &goexitOnce{}
		q, err := lisa.NewQueue(newTestClient(t, srv.URL), lisa.QueueOptions{OnResult: func(r lisa.Result) {
			log.add(r)
			once.maybe()
		}})
		require.NoError(t, err)
		enqueue(t, q)
		err = closeWithin(t, q)
		var closeErr *lisa.QueueCloseError
		require.ErrorAs(t, err, &closeErr)
		assert.Equal(t, 1, closeErr.OnResultPanics)
		assert.True(t, isGoexit(closeErr.Panic), "Close reports it: %v", closeErr.Panic)
		results, dups, _ := log.snapshot()
		assert.Len(t, results, n)
		assert.Empty(t, dups)
		for _, r := range results {
			assert.NoError(t, r.Err)
		}
		assert.EqualValues(t, n, q.Stats().Accepted)
	})

	t.Run("transport", func(t *testing.T) {
		own := lisatest.NewServer(testPluginID, testAPIKey, testSecret)
		defer own.Close()
		log, spill := newResultLog(), &spillRecorder{}
		client := newTestClient(t, own.URL, lisa.WithHTTPClient(&http.Client{Transport: &goexitTransport{}}))
		q, err := lisa.NewQueue(client, lisa.QueueOptions{OnResult: log.add, Spill: spill})
		require.NoError(t, err)
		enqueue(t, q)
		require.NoError(t, closeWithin(t, q))
		results, dups, _ := log.snapshot()
		require.Len(t, results, n)
		assert.Empty(t, dups)
		var failed []lisa.Result
		for _, r := range results {
			if r.Err != nil {
				failed = append(failed, r)
			}
		}
		require.Len(t, failed, 1, "only the payload whose send was cut short")
		assert.True(t, isGoexit(failed[0].Err), "its error says why: %v", failed[0].Err)
		assert.True(t, failed[0].Spilled, "whether it arrived is unknown, so it is spilled")
		assert.Len(t, spill.lines(t), 1)
		assert.Len(t, own.Received(), n-1)
		stats := client.Stats()
		assert.EqualValues(t, n-1, stats.Accepted, "the send cut short is not counted as accepted")
		assert.EqualValues(t, 1, stats.Failed.Transport)
	})

	t.Run("Spill", func(t *testing.T) {
		log, spill := newResultLog(), &goexitSpill{}
		q, err := lisa.NewQueue(newTestClient(t, unavailable.URL, lisa.WithMaxRetries(0)),
			lisa.QueueOptions{OnResult: log.add, Spill: spill})
		require.NoError(t, err)
		enqueue(t, q)
		err = closeWithin(t, q)
		require.Error(t, err, "a Spill write failed")
		results, dups, _ := log.snapshot()
		require.Len(t, results, n, "OnResult is still called for the payload whose spill was cut short")
		assert.Empty(t, dups)
		var notSpilled []lisa.Result
		for _, r := range results {
			assert.ErrorIs(t, r.Err, lisa.ErrServer)
			if !r.Spilled {
				notSpilled = append(notSpilled, r)
			}
		}
		require.Len(t, notSpilled, 1)
		assert.True(t, isGoexit(notSpilled[0].Err), "%v", notSpilled[0].Err)
		assert.Len(t, spill.rec.lines(t), n-1)
		assert.EqualValues(t, 1, q.Stats().SpillErrors)
	})

	t.Run("reporter", func(t *testing.T) {
		// A superseded payload is reported by the reporter goroutine: the
		// key's first payload is held in flight while two more arrive, and
		// the second is superseded by the third.
		gated := newGatedServer(t, testSecret, func(body string) bool { return body == string(update("k", 1)) })
		log, once := newResultLog(), &goexitOnce{}
		q, err := lisa.NewQueue(newTestClient(t, gated.URL), lisa.QueueOptions{OnResult: func(r lisa.Result) {
			log.add(r)
			if errors.Is(r.Err, lisa.ErrSuperseded) {
				once.maybe()
			}
		}})
		require.NoError(t, err)
		ctx := context.Background()
		require.NoError(t, q.EnqueueKey(ctx, "k", update("k", 1)))
		gated.waitArrival(t)
		require.NoError(t, q.EnqueueKey(ctx, "k", update("k", 2)))
		require.NoError(t, q.EnqueueKey(ctx, "k", update("k", 3)))
		gated.release()
		err = closeWithin(t, q)
		var closeErr *lisa.QueueCloseError
		require.ErrorAs(t, err, &closeErr)
		assert.Equal(t, 1, closeErr.OnResultPanics)
		results, dups, _ := log.snapshot()
		require.Len(t, results, 3)
		assert.Empty(t, dups)
		assert.NoError(t, results[0].Err)
		assert.ErrorIs(t, results[1].Err, lisa.ErrSuperseded)
		assert.NoError(t, results[2].Err)
	})
}
