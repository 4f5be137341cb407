package lisa_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/stretchr/testify/require"
)

const (
	testPluginID = "plugin-42"
	testAPIKey   = "key-5f2c0d1e-aaaa-bbbb"
	testSecret   = "secret-9d8c7b6a-cccc-dddd"
)

// seen is one request as the test server received it.
type seen struct {
	Method, Path string
	Header       http.Header
	Body         []byte
	At           time.Time
}

// recorder is an httptest server that records every request and answers
// with a scripted handler; n counts requests from 1.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []seen
}

func newRecorder(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, n int)) *recorder {
	t.Helper()
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, seen{r.Method, r.URL.EscapedPath(), r.Header.Clone(), body, time.Now()})
		n := len(rec.reqs)
		rec.mu.Unlock()
		answer(w, r, n)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (rec *recorder) requests() []seen {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]seen(nil), rec.reqs...)
}

// status answers every request with code.
func status(code int) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, _ *http.Request, _ int) { w.WriteHeader(code) }
}

// newTestClient is a client for url with millisecond backoff.
func newTestClient(t *testing.T, url string, opts ...lisa.Option) *lisa.Client {
	t.Helper()
	all := append([]lisa.Option{lisa.WithBaseURL(url), lisa.WithBackoff(time.Millisecond, 4*time.Millisecond)}, opts...)
	c, err := lisa.NewClient(testPluginID, testAPIKey, testSecret, all...)
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// waitForGoroutines polls, without starting goroutines of its own, until at
// most want goroutines run; it fails the test if that takes over 10 seconds.
func waitForGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines left running: %d, want at most %d\n%s", runtime.NumGoroutine(), want, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type product struct {
	ProductID string  `json:"productId"`
	Price     float64 `json:"price"`
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// logCapture is a slog handler that keeps every record as text.
type logCapture struct {
	mu    *sync.Mutex
	lines *[]string
	attrs []slog.Attr
}

func newLogCapture() *logCapture { return &logCapture{mu: &sync.Mutex{}, lines: new([]string)} }

func (h *logCapture) Enabled(context.Context, slog.Level) bool { return true }

func (h *logCapture) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	h.mu.Lock()
	*h.lines = append(*h.lines, b.String())
	h.mu.Unlock()
	return nil
}

func (h *logCapture) WithAttrs(as []slog.Attr) slog.Handler {
	return &logCapture{mu: h.mu, lines: h.lines, attrs: append(h.attrs, as...)}
}

func (h *logCapture) WithGroup(string) slog.Handler { return h }

func (h *logCapture) all() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), *h.lines...)
}

// endlessBody answers with status and up to 1 GiB of body, counting what the
// socket took before the client hung up.
func endlessBody(status int, written *atomic.Int64) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.Header().Set("Content-Length", fmt.Sprint(1<<30))
		w.WriteHeader(status)
		chunk := []byte(strings.Repeat("x", 32<<10))
		for written.Load() < 1<<30 {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}
}

// mustJSON is v as encoding/json encodes it.
func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// notSentErr reports whether err is a *SendError of which no request was
// made.
func notSentErr(err error) bool {
	var se *lisa.SendError
	return errors.As(err, &se) && se.Attempts == 0
}
