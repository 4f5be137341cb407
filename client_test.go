package lisa_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hello-lisa/lisa-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type product struct {
	ProductID string  `json:"productId"`
	Price     float64 `json:"price"`
}

func TestSendSignsTheExactBytesSent(t *testing.T) {
	rec := newRecorder(t, status(http.StatusAccepted))
	c := newTestClient(t, rec.URL)
	verifier := lisa.NewSigner([]byte(testSecret))

	cases := []struct {
		name    string
		payload any
		want    []byte
	}{
		// Raw bytes go out as given: spacing, key order and escapes kept.
		{"bytes kept as given", []byte(`{ "productId" : "123",  "price": 19.99 }`), []byte(`{ "productId" : "123",  "price": 19.99 }`)},
		{"raw message kept as given", json.RawMessage("[1, 2,\n3]"), []byte("[1, 2,\n3]")},
		{"struct encoded once", product{"123", 19.99}, []byte(`{"productId":"123","price":19.99}`)},
		{"map encoded once", map[string]any{"productId": "9", "stock": 0}, []byte(`{"productId":"9","stock":0}`)},
		{"string is a JSON string", "plain", []byte(`"plain"`)},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rcpt, err := c.Send(context.Background(), tc.payload)
			require.NoError(t, err)
			got := rec.requests()[i]
			assert.Equal(t, http.MethodPost, got.Method)
			assert.Equal(t, "/plugin-notifications/"+testPluginID+"/updates", got.Path)
			assert.Equal(t, tc.want, got.Body)
			assert.Equal(t, "ApiKey "+testAPIKey, got.Header.Get("Authorization"))
			assert.Equal(t, "application/json", got.Header.Get("Content-Type"))
			sig := got.Header.Get(lisa.SignatureHeader)
			assert.Regexp(t, `^[0-9a-f]{64}$`, sig, "lowercase hex")
			assert.True(t, verifier.Verify(got.Body, sig), "signature covers the bytes received")
			id, err := uuid.Parse(got.Header.Get(lisa.RequestIDHeader))
			require.NoError(t, err)
			assert.Equal(t, &lisa.Receipt{StatusCode: 202, RequestID: id.String(), Attempts: 1, Size: len(tc.want)}, rcpt)
			assert.True(t, strings.HasPrefix(got.Header.Get("User-Agent"), "lisa-go/"+lisa.Version+" go"), got.Header.Get("User-Agent"))
		})
	}
}

func TestEveryAttemptSendsTheSameRequest(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	c := newTestClient(t, rec.URL)
	rcpt, err := c.Send(context.Background(), product{"123", 19.99})
	require.NoError(t, err)
	assert.Equal(t, 3, rcpt.Attempts)
	reqs := rec.requests()
	require.Len(t, reqs, 3)
	for _, r := range reqs[1:] {
		assert.Equal(t, reqs[0].Body, r.Body)
		for _, h := range []string{lisa.SignatureHeader, lisa.RequestIDHeader, "Authorization", "Content-Type", "User-Agent"} {
			assert.Equal(t, reqs[0].Header.Get(h), r.Header.Get(h), h)
		}
	}
	assert.Equal(t, rcpt.RequestID, reqs[0].Header.Get(lisa.RequestIDHeader))

	// A second Send gets a new request id.
	rcpt2, err := c.Send(context.Background(), product{"123", 19.99})
	require.NoError(t, err)
	assert.NotEqual(t, rcpt.RequestID, rcpt2.RequestID)
}

func TestSizeLimitIsCheckedBeforeSending(t *testing.T) {
	rec := newRecorder(t, status(http.StatusAccepted))
	c := newTestClient(t, rec.URL)

	// A JSON string of exactly n bytes, quotes included.
	body := func(n int) []byte { return []byte(`"` + strings.Repeat("a", n-2) + `"`) }

	rcpt, err := c.Send(context.Background(), body(lisa.MaxPayloadBytes))
	require.NoError(t, err, "a body of exactly the limit is sent")
	assert.Equal(t, lisa.MaxPayloadBytes, rcpt.Size)
	require.Len(t, rec.requests(), 1)
	assert.Len(t, rec.requests()[0].Body, lisa.MaxPayloadBytes)

	for name, payload := range map[string]any{
		"bytes":   body(lisa.MaxPayloadBytes + 1),
		"encoded": strings.Repeat("a", lisa.MaxPayloadBytes-1), // + 2 quotes
		"invalid": bytes.Repeat([]byte("x"), 1<<20),            // size is checked first
	} {
		t.Run(name, func(t *testing.T) {
			_, err := c.Send(context.Background(), payload)
			require.Error(t, err)
			assert.ErrorIs(t, err, lisa.ErrPayloadTooLarge)
			var tooLarge *lisa.PayloadTooLargeError
			require.ErrorAs(t, err, &tooLarge)
			assert.Greater(t, tooLarge.Size, lisa.MaxPayloadBytes)
			assert.Equal(t, lisa.MaxPayloadBytes, tooLarge.Limit)
			assert.True(t, strings.HasPrefix(err.Error(), "lisa: "), err.Error())
		})
	}
	assert.Len(t, rec.requests(), 1, "nothing else was sent")
}

func TestInvalidPayloadsAreNotSent(t *testing.T) {
	rec := newRecorder(t, status(http.StatusAccepted))
	c := newTestClient(t, rec.URL)
	for name, payload := range map[string]any{
		"nil":            nil,
		"nil bytes":      []byte(nil),
		"empty bytes":    []byte{},
		"blank bytes":    []byte(" \n\t"),
		"truncated JSON": []byte(`{"productId":`),
		"two values":     []byte(`{} {}`),
		"raw garbage":    json.RawMessage("nope"),
		"NaN":            map[string]float64{"price": math.NaN()},
		"infinity":       math.Inf(1),
		"channel":        make(chan int),
		"func":           func() {},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := c.Send(context.Background(), payload)
			require.Error(t, err)
			assert.ErrorIs(t, err, lisa.ErrInvalidPayload)
			assert.True(t, strings.HasPrefix(err.Error(), "lisa: invalid payload"), err.Error())
		})
	}
	assert.Empty(t, rec.requests(), "nothing was sent")
}

func TestStatusMapping(t *testing.T) {
	sentinels := []error{lisa.ErrBadRequest, lisa.ErrUnauthorized, lisa.ErrPayloadTooLarge, lisa.ErrRateLimited, lisa.ErrServer}
	cases := []struct {
		status   int
		want     error // nil: no sentinel
		attempts int   // with 2 retries allowed
	}{
		{400, lisa.ErrBadRequest, 1},
		{401, lisa.ErrUnauthorized, 1},
		{413, lisa.ErrPayloadTooLarge, 1},
		{429, lisa.ErrRateLimited, 3},
		{500, lisa.ErrServer, 3},
		{502, lisa.ErrServer, 3},
		{503, lisa.ErrServer, 3},
		{504, lisa.ErrServer, 3},
		{501, lisa.ErrServer, 1}, // not implemented: retrying cannot help
		{403, nil, 1},
		{404, nil, 1},
		{409, nil, 1},
		{422, nil, 1},
		{301, nil, 1},
		{307, nil, 1},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
				if tc.status >= 300 && tc.status < 400 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				fmt.Fprintf(w, `{"error":"answer %d"}`, tc.status)
			})
			c := newTestClient(t, rec.URL, lisa.WithMaxRetries(2))
			rcpt, err := c.Send(context.Background(), product{"1", 2})
			require.Nil(t, rcpt)
			var apiErr *lisa.APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, tc.status, apiErr.StatusCode)
			assert.Equal(t, tc.attempts, apiErr.Attempts)
			assert.Len(t, rec.requests(), tc.attempts)
			assert.Equal(t, fmt.Sprintf(`{"error":"answer %d"}`, tc.status), apiErr.Body)
			assert.Equal(t, rec.requests()[0].Header.Get(lisa.RequestIDHeader), apiErr.RequestID)
			assert.Contains(t, err.Error(), fmt.Sprintf("answer %d", tc.status))
			assert.True(t, strings.HasPrefix(err.Error(), "lisa: "), err.Error())
			for _, s := range sentinels {
				assert.Equal(t, s == tc.want, errors.Is(err, s), "errors.Is(%v)", s)
			}
		})
	}
}

func TestAny2xxIsSuccess(t *testing.T) {
	for _, code := range []int{200, 201, 202, 204} {
		rec := newRecorder(t, status(code))
		c := newTestClient(t, rec.URL)
		rcpt, err := c.Send(context.Background(), product{"1", 2})
		require.NoError(t, err, code)
		assert.Equal(t, code, rcpt.StatusCode)
	}
}

func TestErrorBodyIsBounded(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.WriteHeader(http.StatusBadRequest)
		chunk := bytes.Repeat([]byte("e\x01"), 4096)
		for i := 0; i < 64; i++ { // 512 KiB
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	c := newTestClient(t, rec.URL)
	_, err := c.Send(context.Background(), product{"1", 2})
	var apiErr *lisa.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.LessOrEqual(t, len(apiErr.Body), 64<<10, "at most 64 KiB is read")
	assert.Greater(t, len(apiErr.Body), 60<<10, "all but a tail that could hold a cut credential")
	assert.Less(t, len(err.Error()), 600, "the message shows a short excerpt")
	assert.NotContains(t, err.Error(), "\x01", "control characters are not printed")
}

func TestRetryAfter(t *testing.T) {
	t.Run("honoured past the backoff max", func(t *testing.T) {
		rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, n int) {
			if n == 1 {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			w.WriteHeader(http.StatusAccepted)
		})
		c := newTestClient(t, rec.URL) // backoff max is 4ms
		rcpt, err := c.Send(context.Background(), product{"1", 2})
		require.NoError(t, err)
		assert.Equal(t, 2, rcpt.Attempts)
		reqs := rec.requests()
		assert.GreaterOrEqual(t, reqs[1].At.Sub(reqs[0].At), 900*time.Millisecond, "waited for Retry-After")
	})

	giveUp := []struct {
		name       string
		retryAfter string
		ctxTimeout time.Duration
		want       time.Duration
		reason     error
	}{
		{"longer than two minutes", "300", 0, 300 * time.Second, lisa.ErrRetryAfterTooLong},
		{"past the context deadline", "30", 5 * time.Second, 30 * time.Second, lisa.ErrRetryPastDeadline},
		{"HTTP date far ahead", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat), 0, time.Hour, lisa.ErrRetryAfterTooLong},
		{"huge", "99999999999999999999999", 0, time.Duration(math.MaxInt64), lisa.ErrRetryAfterTooLong},
	}
	for _, tc := range giveUp {
		t.Run("gives up at once: "+tc.name, func(t *testing.T) {
			rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
				w.Header().Set("Retry-After", tc.retryAfter)
				w.WriteHeader(http.StatusServiceUnavailable)
			})
			c := newTestClient(t, rec.URL)
			ctx := context.Background()
			if tc.ctxTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.ctxTimeout)
				defer cancel()
			}
			done := make(chan error, 1)
			go func() { _, err := c.Send(ctx, product{"1", 2}); done <- err }()
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Send is waiting for the Retry-After instead of giving up")
			}
			var apiErr *lisa.APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, 1, apiErr.Attempts)
			assert.InDelta(t, float64(tc.want), float64(apiErr.RetryAfter), float64(2*time.Second))
			assert.ErrorIs(t, err, tc.reason)
			assert.ErrorIs(t, err, lisa.ErrServer)
			assert.True(t, lisa.IsRetryable(err))
		})
	}

	for _, v := range []string{"soon", "-5", "1.5", time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)} {
		t.Run("unusable or past value retries promptly: "+v, func(t *testing.T) {
			rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, n int) {
				if n <= 2 {
					w.Header().Set("Retry-After", v)
					w.WriteHeader(http.StatusTooManyRequests)
					return
				}
				w.WriteHeader(http.StatusAccepted)
			})
			c := newTestClient(t, rec.URL)
			rcpt, err := c.Send(context.Background(), product{"1", 2})
			require.NoError(t, err)
			assert.Equal(t, 3, rcpt.Attempts)
		})
	}
}

func TestContextEndsTheSend(t *testing.T) {
	t.Run("during a backoff wait", func(t *testing.T) {
		rec := newRecorder(t, status(http.StatusServiceUnavailable))
		c := newTestClient(t, rec.URL, lisa.WithBackoff(time.Hour, time.Hour))
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		done := make(chan error, 1)
		go func() { _, err := c.Send(ctx, product{"1", 2}); done <- err }()
		select {
		case err := <-done:
			assert.ErrorIs(t, err, context.Canceled)
			assert.False(t, lisa.IsRetryable(err), "the caller ended it")
			var sendErr *lisa.SendError
			assert.ErrorAs(t, err, &sendErr)
			var apiErr *lisa.APIError
			assert.False(t, errors.As(err, &apiErr))
		case <-time.After(time.Minute):
			t.Fatal("Send slept through the context's end")
		}
		assert.Len(t, rec.requests(), 1)
	})
	t.Run("while the server does not answer", func(t *testing.T) {
		release := make(chan struct{})
		rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, _ int) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		defer close(release)
		c := newTestClient(t, rec.URL)
		ctx, cancel := context.WithCancel(context.Background())
		go func() { time.Sleep(20 * time.Millisecond); cancel() }()
		_, err := c.Send(ctx, product{"1", 2})
		assert.ErrorIs(t, err, context.Canceled)
	})
	t.Run("already ended", func(t *testing.T) {
		rec := newRecorder(t, status(http.StatusAccepted))
		c := newTestClient(t, rec.URL)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := c.Send(ctx, product{"1", 2})
		assert.ErrorIs(t, err, context.Canceled)
		assert.Empty(t, rec.requests())
	})
}

func TestPerAttemptTimeoutRetries(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			select { // the first attempt hangs past the timeout
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	c := newTestClient(t, rec.URL, lisa.WithTimeout(300*time.Millisecond))
	rcpt, err := c.Send(context.Background(), product{"1", 2})
	require.NoError(t, err)
	assert.Equal(t, 2, rcpt.Attempts)
	reqs := rec.requests()
	assert.Equal(t, reqs[0].Header.Get(lisa.RequestIDHeader), reqs[1].Header.Get(lisa.RequestIDHeader))
}

func TestTransportErrorsAreWrappedAndRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var accepted atomic.Int32
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			conn.Close() // drop every connection without an answer
		}
	}()
	defer ln.Close()
	c := newTestClient(t, "http://"+ln.Addr().String(), lisa.WithMaxRetries(2))
	_, err = c.Send(context.Background(), product{"1", 2})
	require.Error(t, err)
	var urlErr *url.Error
	assert.ErrorAs(t, err, &urlErr)
	var netErr net.Error
	assert.ErrorAs(t, err, &netErr)
	var apiErr *lisa.APIError
	assert.False(t, errors.As(err, &apiErr), "a transport failure is not an APIError")
	var sendErr *lisa.SendError
	require.ErrorAs(t, err, &sendErr)
	assert.Equal(t, 3, sendErr.Attempts)
	assert.EqualValues(t, 3, accepted.Load())
	assert.True(t, strings.HasPrefix(err.Error(), "lisa: "), err.Error())
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	other := newRecorder(t, status(http.StatusAccepted))
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
	})
	c := newTestClient(t, rec.URL)
	_, err := c.Send(context.Background(), product{"1", 2})
	var apiErr *lisa.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusTemporaryRedirect, apiErr.StatusCode)
	assert.Empty(t, other.requests(), "the API key never went to the other server")
}

func TestNewClientValidates(t *testing.T) {
	cases := []struct {
		name                     string
		pluginID, apiKey, secret string
		opts                     []lisa.Option
		field                    string
	}{
		{"empty plugin id", "", "k", "s", nil, "pluginID"},
		{"slash in plugin id", "a/b", "k", "s", nil, "pluginID"},
		{"dot-dot path", "../x", "k", "s", nil, "pluginID"},
		{"query in plugin id", "a?b=1", "k", "s", nil, "pluginID"},
		{"fragment in plugin id", "a#b", "k", "s", nil, "pluginID"},
		{"percent in plugin id", "a%2fb", "k", "s", nil, "pluginID"},
		{"space in plugin id", "a b", "k", "s", nil, "pluginID"},
		{"newline in plugin id", "a\nb", "k", "s", nil, "pluginID"},
		{"empty api key", "p", "", "s", nil, "apiKey"},
		{"newline in api key", "p", "k\r\nX-Evil: 1", "s", nil, "apiKey"},
		{"spaces around api key", "p", " k ", "s", nil, "apiKey"},
		{"empty secret", "p", "k", "", nil, "secret"},
		{"relative base URL", "p", "k", "s", []lisa.Option{lisa.WithBaseURL("/x")}, "base URL"},
		{"plain http to a remote host", "p", "k", "s", []lisa.Option{lisa.WithBaseURL("http://ingest.hello-lisa.com")}, "https"},
		{"ftp base URL", "p", "k", "s", []lisa.Option{lisa.WithBaseURL("ftp://127.0.0.1")}, "scheme"},
		{"user info in base URL", "p", "k", "s", []lisa.Option{lisa.WithBaseURL("https://u:pw@x.example")}, "user information"},
		{"query in base URL", "p", "k", "s", []lisa.Option{lisa.WithBaseURL("https://x.example/?a=1")}, "query"},
		{"nil option", "p", "k", "s", []lisa.Option{nil}, "option"},
		{"nil http client", "p", "k", "s", []lisa.Option{lisa.WithHTTPClient(nil)}, "WithHTTPClient"},
		{"negative retries", "p", "k", "s", []lisa.Option{lisa.WithMaxRetries(-1)}, "WithMaxRetries"},
		{"zero backoff", "p", "k", "s", []lisa.Option{lisa.WithBackoff(0, time.Second)}, "WithBackoff"},
		{"backoff max below min", "p", "k", "s", []lisa.Option{lisa.WithBackoff(time.Second, time.Millisecond)}, "WithBackoff"},
		{"zero timeout", "p", "k", "s", []lisa.Option{lisa.WithTimeout(0)}, "WithTimeout"},
		{"zero concurrency", "p", "k", "s", []lisa.Option{lisa.WithConcurrency(0)}, "WithConcurrency"},
		{"control character in user agent", "p", "k", "s", []lisa.Option{lisa.WithUserAgent("x\ny")}, "WithUserAgent"},
		{"negative retry budget", "p", "k", "s", []lisa.Option{lisa.WithRetryBudget(-1)}, "WithRetryBudget"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := lisa.NewClient(tc.pluginID, tc.apiKey, tc.secret, tc.opts...)
			require.Error(t, err)
			assert.Nil(t, c)
			assert.Contains(t, err.Error(), tc.field)
			assert.True(t, strings.HasPrefix(err.Error(), "lisa: "), err.Error())
			if tc.apiKey != "" && tc.apiKey != "k" {
				assert.NotContains(t, err.Error(), strings.TrimSpace(tc.apiKey), "the key's value is not in the error")
			}
		})
	}

	for _, base := range []string{"https://ingest.hello-lisa.com", "https://proxy.example/lisa/", "http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9"} {
		_, err := lisa.NewClient("p", "k", "s", lisa.WithBaseURL(base))
		assert.NoError(t, err, base)
	}
}

func TestBaseURLPathPrefixIsKept(t *testing.T) {
	rec := newRecorder(t, status(http.StatusAccepted))
	c, err := lisa.NewClient("Abc-123_x.y~z", testAPIKey, testSecret, lisa.WithBaseURL(rec.URL+"/prefix/"))
	require.NoError(t, err)
	_, err = c.Send(context.Background(), product{"1", 2})
	require.NoError(t, err)
	assert.Equal(t, "/prefix/plugin-notifications/Abc-123_x.y~z/updates", rec.requests()[0].Path)
}

func TestHTTPClientIsCopiedNotMutated(t *testing.T) {
	var roundTrips atomic.Int32
	rec := newRecorder(t, status(http.StatusAccepted))
	user := &http.Client{
		Timeout: 42 * time.Second,
		Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			roundTrips.Add(1)
			return http.DefaultTransport.RoundTrip(r)
		}),
	}
	before := *user
	c := newTestClient(t, rec.URL, lisa.WithHTTPClient(user))
	_, err := c.Send(context.Background(), product{"1", 2})
	require.NoError(t, err)
	assert.EqualValues(t, 1, roundTrips.Load(), "the caller's transport is used")
	assert.Equal(t, before.Timeout, user.Timeout)
	assert.Nil(t, user.CheckRedirect)
	assert.Equal(t, fmt.Sprintf("%p", before.Transport), fmt.Sprintf("%p", user.Transport))
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestUserAgentOption(t *testing.T) {
	rec := newRecorder(t, status(http.StatusAccepted))
	c := newTestClient(t, rec.URL, lisa.WithUserAgent("shop-sync/2.1"))
	_, err := c.Send(context.Background(), product{"1", 2})
	require.NoError(t, err)
	ua := rec.requests()[0].Header.Get("User-Agent")
	assert.Regexp(t, `^lisa-go/\d+\.\d+\.\d+ go\S+ shop-sync/2\.1$`, ua)
}

// TestQuietByDefault runs successes, retries and failures with stdout and
// stderr redirected, and expects nothing written to them.
func TestQuietByDefault(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		switch n % 3 {
		case 0:
			w.WriteHeader(http.StatusAccepted)
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusUnauthorized)
		}
	})
	r, w, err := os.Pipe()
	require.NoError(t, err)
	stdout, stderr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = w, w
	func() {
		defer func() { os.Stdout, os.Stderr = stdout, stderr }()
		c := newTestClient(t, rec.URL, lisa.WithMaxRetries(1))
		for i := 0; i < 6; i++ {
			_, _ = c.Send(context.Background(), product{"1", 2})
		}
		_, _ = c.Send(context.Background(), []byte("not json"))
		dead := newTestClient(t, "http://127.0.0.1:1", lisa.WithMaxRetries(1))
		_, _ = dead.Send(context.Background(), product{"1", 2})
	}()
	require.NoError(t, w.Close())
	out, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Empty(t, string(out))
	assert.NotEmpty(t, rec.requests())
}

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

func TestLoggerLogsAttemptsWithoutSecrets(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	logs := newLogCapture()
	c := newTestClient(t, rec.URL, lisa.WithLogger(slog.New(logs)))
	rcpt, err := c.Send(context.Background(), product{"secret-product", 2})
	require.NoError(t, err)
	lines := logs.all()
	require.Len(t, lines, 3, "%q", lines)
	assert.Contains(t, lines[0], "DEBUG lisa: attempt request_id="+rcpt.RequestID+" attempt=1 duration=")
	assert.Contains(t, lines[0], "status=503")
	assert.Contains(t, lines[1], "WARN lisa: retrying")
	assert.Contains(t, lines[1], "reason=status 503")
	assert.Contains(t, lines[2], "attempt=2")
	assert.Contains(t, lines[2], "status=202")
	sig := rec.requests()[0].Header.Get(lisa.SignatureHeader)
	for _, l := range lines {
		for _, secret := range []string{testAPIKey, testSecret, sig, "secret-product"} {
			assert.NotContains(t, l, secret)
		}
	}
}

func TestErrorsDoNotLeakCredentials(t *testing.T) {
	// A hostile server echoes the request's credentials back.
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, "bad auth %q with secret %s", r.Header.Get("Authorization"), testSecret)
	})
	c := newTestClient(t, rec.URL)
	_, err := c.Send(context.Background(), product{"1", 2})
	var apiErr *lisa.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Contains(t, apiErr.Body, "[REDACTED]")
	for _, s := range []string{err.Error(), apiErr.Body, fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", apiErr)} {
		assert.NotContains(t, s, testAPIKey)
		assert.NotContains(t, s, testSecret)
	}
}

func TestClientDoesNotPrintCredentials(t *testing.T) {
	c, err := lisa.NewClient(testPluginID, testAPIKey, testSecret)
	require.NoError(t, err)
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		out := fmt.Sprintf(format, c)
		assert.NotContains(t, out, testAPIKey, format)
		assert.NotContains(t, out, testSecret, format)
		assert.NotContains(t, out, fmt.Sprintf("%x", testAPIKey), format)
	}
	assert.Contains(t, fmt.Sprint(c), testPluginID)
}

func TestNilAndZeroClient(t *testing.T) {
	var nilClient *lisa.Client
	_, err := nilClient.Send(context.Background(), product{"1", 2})
	assert.Error(t, err)
	var zero lisa.Client
	_, err = zero.Send(context.Background(), product{"1", 2})
	assert.Error(t, err)
	c, err := lisa.NewClient("p", "k", "s")
	require.NoError(t, err)
	var noCtx context.Context
	_, err = c.Send(noCtx, product{"1", 2})
	assert.ErrorContains(t, err, "ctx")
}

func TestConcurrentSendsShareOneClient(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n%5 == 0 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	c := newTestClient(t, rec.URL, lisa.WithMaxRetries(5))
	var wg sync.WaitGroup
	ids := make(chan string, 80)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				rcpt, err := c.Send(context.Background(), product{fmt.Sprint(g, "-", i), float64(i)})
				if assert.NoError(t, err) {
					ids <- rcpt.RequestID
				}
			}
		}(g)
	}
	wg.Wait()
	close(ids)
	unique := map[string]bool{}
	for id := range ids {
		unique[id] = true
	}
	assert.Len(t, unique, 80, "one request id per Send")
}

func TestBackoffWaitsAtLeastTheMinimum(t *testing.T) {
	rec := newRecorder(t, status(http.StatusBadGateway))
	c := newTestClient(t, rec.URL, lisa.WithBackoff(40*time.Millisecond, 40*time.Millisecond), lisa.WithMaxRetries(2))
	_, err := c.Send(context.Background(), product{"1", 2})
	require.ErrorIs(t, err, lisa.ErrServer)
	reqs := rec.requests()
	require.Len(t, reqs, 3)
	for i := 1; i < len(reqs); i++ {
		assert.GreaterOrEqual(t, reqs[i].At.Sub(reqs[i-1].At), 40*time.Millisecond, "retry %d", i)
	}
}
