package lisa_test

// Defects a hostile review found in the rewritten send path and Queue, each
// reproduced through the public API before its fix.

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hello-lisa/lisa-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// rawServer answers every request on a bare TCP listener with the bytes
// respond returns, given the request's Authorization value.
func rawServer(t *testing.T, respond func(auth string) string) (url string, requests *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	requests = new(atomic.Int32)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
				br := bufio.NewReader(conn)
				auth := ""
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "authorization") {
						auth = strings.TrimSpace(v)
					}
					if line == "\r\n" {
						break
					}
				}
				requests.Add(1)
				_, _ = conn.Write([]byte(respond(auth)))
			}()
		}
	}()
	return "http://" + ln.Addr().String(), requests
}

// TestUnreadableAnswersAreNotResent: an answer that came but could not be
// parsed may have been a 202: over HTTP/2 (a header list over the bound)
// and over HTTP/1 (malformed lines) it was retried, and the server took
// the same notification 4 times.
func TestUnreadableAnswersAreNotResent(t *testing.T) {
	t.Run("HTTP/2 headers over 32 KiB", func(t *testing.T) {
		var calls atomic.Int32
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			for i := range 10 {
				w.Header().Set(fmt.Sprint("X-Big-", i), strings.Repeat("x", 4000))
			}
			w.WriteHeader(http.StatusAccepted)
		}))
		srv.EnableHTTP2 = true
		srv.StartTLS()
		defer srv.Close()
		pool := x509.NewCertPool()
		pool.AddCert(srv.Certificate())
		c := newTestClient(t, srv.URL, lisa.WithTLSConfig(&tls.Config{RootCAs: pool}))
		_, err := c.Send(context.Background(), product{"1", 2})
		require.Error(t, err)
		assert.EqualValues(t, 1, calls.Load(), "requests made")
		assert.False(t, lisa.IsRetryable(err), "%v", err)
		assert.Contains(t, err.Error(), "may have been accepted")
	})
	for name, answer := range map[string]string{
		"no colon":           "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nthis is not a header\r\n\r\n",
		"two content-length": "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n",
		"bad content-length": "HTTP/1.1 202 Accepted\r\nContent-Length: -3\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			url, requests := rawServer(t, func(string) string { return answer })
			_, err := newTestClient(t, url).Send(context.Background(), product{"1", 2})
			require.Error(t, err)
			assert.EqualValues(t, 1, requests.Load(), "requests made")
			assert.False(t, lisa.IsRetryable(err), "%v", err)
		})
	}
}

// TestTransportErrorsNeverShowTheAPIKey: net/http quotes a malformed
// answer in its error, and a server or proxy may echo the Authorization
// header there; the key reached SendError, the log and the Observer.
func TestTransportErrorsNeverShowTheAPIKey(t *testing.T) {
	for name, respond := range map[string]func(string) string{
		"status line": func(a string) string { return a + "\r\n\r\n" },
		"status code": func(a string) string { return "HTTP/1.1 " + a + "\r\n\r\n" },
		"header line": func(a string) string { return "HTTP/1.1 500 x\r\n" + a + "\r\n\r\n" },
	} {
		t.Run(name, func(t *testing.T) {
			url, _ := rawServer(t, respond)
			logs := newLogCapture()
			var observed []string
			obs := &lisa.Observer{AttemptDone: func(_ context.Context, a *lisa.AttemptInfo) {
				observed = append(observed, fmt.Sprint(a.Err))
			}}
			c := newTestClient(t, url, lisa.WithMaxRetries(1), lisa.WithLogger(slog.New(logs)), lisa.WithObserver(obs))
			_, err := c.Send(context.Background(), product{"1", 2})
			require.Error(t, err)
			texts := append([]string{err.Error(), fmt.Sprintf("%+v %#v", err, err)}, logs.all()...)
			require.NotEmpty(t, observed)
			for _, s := range append(texts, observed...) {
				assert.NotContains(t, s, testAPIKey)
			}
		})
	}
}

// TestSendSeqLoopBodyThatNeverReturnsLeavesNoGoroutine: a panic (recovered
// by the caller) or runtime.Goexit (t.FailNow) in the body of a range over
// SendSeq left its workers and feeder blocked for good.
func TestSendSeqLoopBodyThatNeverReturnsLeavesNoGoroutine(t *testing.T) {
	rec := newRecorder(t, status(http.StatusAccepted))
	c := newTestClient(t, rec.URL)
	seq := func(yield func(any) bool) {
		for i := range 100 {
			if !yield(product{fmt.Sprint(i), 1}) {
				return
			}
		}
	}
	ignore := goleak.IgnoreCurrent()
	func() {
		defer func() { _ = recover() }()
		for range c.SendSeq(context.Background(), seq) {
			panic("a bug in the loop body")
		}
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range c.SendSeq(context.Background(), seq) {
			runtime.Goexit()
		}
	}()
	<-done
	c.CloseIdleConnections()
	require.NoError(t, goleak.Find(ignore, goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"), goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"), goleak.IgnoreTopFunction("internal/poll.runtime_pollWait")))
}

// TestObserverCannotDoubleTheClientsHeaders: a header added at
// AttemptStart in another case than net/http's was sent beside the
// client's own: two Authorization, two signatures, two Content-Length.
func TestObserverCannotDoubleTheClientsHeaders(t *testing.T) {
	raw := make(chan string, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		var b strings.Builder
		for {
			line, err := br.ReadString('\n')
			b.WriteString(line)
			if err != nil || line == "\r\n" {
				break
			}
		}
		raw <- strings.ToLower(b.String())
		_, _ = conn.Write([]byte("HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
	}()
	obs := &lisa.Observer{AttemptStart: func(ctx context.Context, a *lisa.AttemptInfo) context.Context {
		a.Header["authorization"] = []string{"ApiKey someone-else"}
		a.Header["x-hmac-signature"] = []string{"0000"}
		a.Header["content-length"] = []string{"3"}
		a.Header["traceparent"] = []string{"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
		return ctx
	}}
	c := newTestClient(t, "http://"+ln.Addr().String(), lisa.WithObserver(obs), lisa.WithMaxRetries(0))
	_, err = c.Send(context.Background(), product{"1", 2})
	require.NoError(t, err)
	req := <-raw
	for _, h := range []string{"authorization", "x-hmac-signature", "content-length", "traceparent"} {
		assert.Equal(t, 1, strings.Count(req, "\n"+h+":"), "%s headers sent:\n%s", h, req)
	}
	assert.NotContains(t, req, "someone-else")
}

// TestThrottledRetry: a retry that the rate limit holds back kept the
// retry-budget token it took, and after a transport failure the error lost
// that failure.
func TestThrottledRetry(t *testing.T) {
	t.Run("gives its token back", func(t *testing.T) {
		rec := newRecorder(t, status(http.StatusServiceUnavailable))
		c := newTestClient(t, rec.URL, lisa.WithRateLimit(1, 1), lisa.WithRetryBudget(3))
		for range 3 {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			_, err := c.Send(ctx, product{"1", 2})
			cancel()
			require.ErrorIs(t, err, lisa.ErrThrottled)
			time.Sleep(time.Second) // the next first attempt gets its token
		}
		assert.Zero(t, c.Stats().Retries)
		assert.Equal(t, 3, c.Stats().RetryBudget, "no retry ran, so no token is spent")
	})
	t.Run("keeps the transport failure", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}))
		defer srv.Close()
		c := newTestClient(t, srv.URL, lisa.WithRateLimit(0.5, 1))
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := c.Send(ctx, product{"1", 2})
		require.ErrorIs(t, err, lisa.ErrThrottled)
		var urlErr *url.Error
		assert.ErrorAs(t, err, &urlErr, "the dropped connection is the cause: %v", err)
	})
}

// TestObserverContextKeepsTheAttemptTimeout: a context returned by
// AttemptStart that is not derived from the one it got (a tracer re-rooting
// a span) dropped WithTimeout: the attempt waited for the server.
func TestObserverContextKeepsTheAttemptTimeout(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		select {
		case <-r.Context().Done():
		case <-time.After(3 * time.Second): // a 202, long after the attempt's timeout
		}
	})
	obs := &lisa.Observer{AttemptStart: func(context.Context, *lisa.AttemptInfo) context.Context {
		return context.WithValue(context.Background(), spanKey{}, "a span")
	}}
	c := newTestClient(t, rec.URL, lisa.WithObserver(obs), lisa.WithTimeout(100*time.Millisecond), lisa.WithMaxRetries(0))
	_, err := c.Send(context.Background(), product{"1", 2})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, fmt.Sprint(err), "attempt timed out after 100ms")
}

type spanKey struct{}

// TestCookieJarCookiesAreNotRepeated: every attempt of a Send shared one
// header map, to which net/http adds the jar's cookies: each retry carried
// them once more.
func TestCookieJarCookiesAreNotRepeated(t *testing.T) {
	var mu sync.Mutex
	var cookies []string
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		mu.Lock()
		cookies = append(cookies, r.Header.Get("Cookie"))
		mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: "lb", Value: "node7", Path: "/"})
		if n < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	c := newTestClient(t, rec.URL, lisa.WithHTTPClient(&http.Client{Jar: jar}))
	_, err = c.Send(context.Background(), product{"1", 2})
	require.NoError(t, err)
	assert.Equal(t, []string{"", "lb=node7", "lb=node7"}, cookies)
}

// TestACutErrorBodyIsValidUTF8: the tail dropped from a body cut at the
// read bound was cut by bytes, leaving half a character.
func TestACutErrorBodyIsValidUTF8(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.WriteHeader(http.StatusUnprocessableEntity)
		_, _ = w.Write([]byte("x" + strings.Repeat("é", 40<<10)))
	})
	_, err := newTestClient(t, rec.URL).Send(context.Background(), product{"1", 2})
	var apiErr *lisa.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.True(t, utf8.ValidString(apiErr.Body))
}

// TestQueueResultsWaitingForOnResultCountInMaxBytes: results waiting for a
// slow OnResult kept their bodies outside MaxBytes: 184 MiB held with a
// MaxBytes of 384 KiB.
func TestQueueResultsWaitingForOnResultCountInMaxBytes(t *testing.T) {
	rec := newRecorder(t, status(http.StatusAccepted))
	c := newTestClient(t, rec.URL, lisa.WithConcurrency(64))
	const maxBytes = 2 * lisa.MaxPayloadBytes
	var reported atomic.Int64
	q := newQueue(t, c, lisa.QueueOptions{Workers: 16, MaxItems: 100, MaxBytes: maxBytes, Block: true,
		OnResult: func(lisa.Result) { time.Sleep(2 * time.Millisecond); reported.Add(1) }})
	body := []byte(`{"pad":"` + strings.Repeat("x", 150<<10) + `"}`)
	var peak int64
	for range 100 {
		require.NoError(t, q.Enqueue(context.Background(), body))
		st := q.Stats()
		peak = max(peak, st.Enqueued-reported.Load()-int64(st.InFlight))
	}
	require.NoError(t, q.Close(context.Background()))
	held := peak * int64(len(body))
	t.Logf("peak payloads held, waiting or waiting for OnResult: %d (%d KiB)", peak, held>>10)
	// One result may be in OnResult's hands, outside the count.
	assert.LessOrEqual(t, held, int64(maxBytes+len(body)))
}

// TestNewQueueRefusesMoreWorkersThanConnections: workers beyond the
// client's connections per host waited for one inside their attempt's
// timeout, which then expired: duplicates and failures.
func TestNewQueueRefusesMoreWorkersThanConnections(t *testing.T) {
	c := newTestClient(t, "http://127.0.0.1:1")
	_, err := lisa.NewQueue(c, lisa.QueueOptions{Workers: 65})
	require.ErrorContains(t, err, "WithConcurrency")
	q, err := lisa.NewQueue(newTestClient(t, "http://127.0.0.1:1", lisa.WithConcurrency(200)), lisa.QueueOptions{Workers: 200})
	require.NoError(t, err)
	require.NoError(t, q.Close(context.Background()))
	own := newTestClient(t, "http://127.0.0.1:1", lisa.WithHTTPClient(&http.Client{}))
	q, err = lisa.NewQueue(own, lisa.QueueOptions{Workers: 200})
	require.NoError(t, err, "a transport of the user's own: its limits are the user's")
	require.NoError(t, q.Close(context.Background()))
}
