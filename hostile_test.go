package lisa_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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

func TestHostileServerHugeBody(t *testing.T) {
	for _, code := range []int{http.StatusBadRequest, http.StatusAccepted} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			var written atomic.Int64
			rec := newRecorder(t, endlessBody(code, &written))
			c := newTestClient(t, rec.URL)
			rcpt, err := c.Send(context.Background(), []byte(`{}`))
			if code == http.StatusAccepted {
				require.NoError(t, err)
				assert.Equal(t, 202, rcpt.StatusCode)
			} else {
				var apiErr *lisa.APIError
				require.ErrorAs(t, err, &apiErr)
				assert.LessOrEqual(t, len(apiErr.Body), 64<<10, "the client reads at most its bound")
			}
			rec.Close() // waits for the handler: the client has hung up
			assert.Less(t, written.Load(), int64(64<<20), "the 1 GiB body was not read")
		})
	}
}

func TestHostileServerNeverAnswers(t *testing.T) {
	hang := func(w http.ResponseWriter, r *http.Request, _ int) { <-r.Context().Done() }
	t.Run("the per-attempt timeout fires and is retried", func(t *testing.T) {
		rec := newRecorder(t, hang)
		c := newTestClient(t, rec.URL, lisa.WithTimeout(30*time.Millisecond), lisa.WithMaxRetries(2))
		_, err := c.Send(context.Background(), []byte(`{}`))
		var netErr net.Error
		require.ErrorAs(t, err, &netErr)
		assert.True(t, netErr.Timeout())
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Contains(t, err.Error(), "attempt timed out after 30ms")
		var sendErr *lisa.SendError
		require.ErrorAs(t, err, &sendErr)
		assert.Equal(t, 3, sendErr.Attempts)
		assert.Len(t, rec.requests(), 3)
	})
	t.Run("the context ends it", func(t *testing.T) {
		rec := newRecorder(t, hang)
		c := newTestClient(t, rec.URL) // 30s per attempt
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := c.Send(ctx, []byte(`{}`))
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Len(t, rec.requests(), 1, "no retry after the context ended")
	})
}

func TestHostileServerClosesMidBody(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				req, err := http.ReadRequest(bufio.NewReader(conn))
				if err != nil {
					return
				}
				_ = req.Body.Close()
				// 202, a promise of 100 bytes, 10 of them, and gone.
				fmt.Fprint(conn, "HTTP/1.1 202 Accepted\r\nContent-Length: 100\r\nContent-Type: application/json\r\n\r\n{\"status\":")
			}()
		}
	}()
	c := newTestClient(t, "http://"+ln.Addr().String())
	rcpt, err := c.Send(context.Background(), []byte(`{"productId":"1"}`))
	require.NoError(t, err, "the answer was 202: a body cut short does not undo it")
	assert.Equal(t, 1, rcpt.Attempts, "not sent again")
}

func TestHostileServerUnauthorizedEveryTime(t *testing.T) {
	rec := newRecorder(t, status(http.StatusUnauthorized))
	c := newTestClient(t, rec.URL, lisa.WithMaxRetries(10))
	for i := 0; i < 5; i++ {
		_, err := c.Send(context.Background(), []byte(`{}`))
		require.ErrorIs(t, err, lisa.ErrUnauthorized)
	}
	assert.Len(t, rec.requests(), 5, "exactly one attempt each: no retry storm")
}

func TestHostileServerRetryAfterValues(t *testing.T) {
	cases := []struct {
		value    string
		giveUp   bool          // answered at once with the APIError
		wantWait time.Duration // RetryAfter on the error
	}{
		{"garbage", false, 0},
		{"-30", false, 0},
		{"", false, 0},
		{"0", false, 0},
		{"1e9", false, 0},
		{"18446744073709551616", true, time.Duration(1<<63 - 1)},
		{"86400", true, 24 * time.Hour},
		{time.Now().Add(-24 * time.Hour).UTC().Format(http.TimeFormat), false, 0},
		{time.Now().Add(30 * 24 * time.Hour).UTC().Format(http.TimeFormat), true, 30 * 24 * time.Hour},
		{time.Now().Add(30 * 24 * time.Hour).UTC().Format(time.RFC850), true, 30 * 24 * time.Hour},
	}
	for _, tc := range cases {
		t.Run(tc.value, func(t *testing.T) {
			rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
				w.Header().Set("Retry-After", tc.value)
				w.WriteHeader(http.StatusTooManyRequests)
			})
			c := newTestClient(t, rec.URL, lisa.WithMaxRetries(2))
			_, err := c.Send(context.Background(), []byte(`{}`))
			var apiErr *lisa.APIError
			require.ErrorAs(t, err, &apiErr)
			assert.ErrorIs(t, err, lisa.ErrRateLimited)
			if tc.giveUp {
				assert.Equal(t, 1, apiErr.Attempts)
				assert.InDelta(t, float64(tc.wantWait), float64(apiErr.RetryAfter), float64(2*time.Second))
			} else {
				assert.Equal(t, 3, apiErr.Attempts, "unusable or past values fall back to the backoff")
			}
		})
	}
}

// TestNoSecretLeaks captures every log record at debug level and every
// error, across success and each kind of failure, and looks for the
// credentials in them.
func TestNoSecretLeaks(t *testing.T) {
	logs := newLogCapture()
	handler := func(w http.ResponseWriter, r *http.Request, n int) {
		switch n % 7 {
		case 0:
			w.WriteHeader(http.StatusAccepted)
		case 1:
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, "got %s", r.Header.Get("Authorization")) // an echoing server
		case 2:
			w.WriteHeader(http.StatusUnauthorized)
		case 3:
			w.WriteHeader(http.StatusRequestEntityTooLarge)
		case 4:
			w.Header().Set("Retry-After", "9999")
			w.WriteHeader(http.StatusTooManyRequests)
		case 5:
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			hj, _ := w.(http.Hijacker)
			conn, _, _ := hj.Hijack()
			conn.Close()
		}
	}
	rec := newRecorder(t, handler)
	c := newTestClient(t, rec.URL, lisa.WithLogger(slog.New(logs)), lisa.WithMaxRetries(1), lisa.WithTimeout(time.Second))
	var errs []error
	for i := 0; i < 14; i++ {
		_, err := c.Send(context.Background(), []byte(`{"productId":"`+fmt.Sprint(i)+`"}`))
		errs = append(errs, err)
	}
	for _, p := range []any{[]byte("nope"), make([]byte, lisa.MaxPayloadBytes+1)} {
		_, err := c.Send(context.Background(), p)
		errs = append(errs, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Send(ctx, []byte(`{}`))
	errs = append(errs, err)
	dead := newTestClient(t, "http://127.0.0.1:1", lisa.WithLogger(slog.New(logs)), lisa.WithMaxRetries(1))
	_, err = dead.Send(context.Background(), []byte(`{}`))
	errs = append(errs, err)

	var texts []string
	nonNil := 0
	for _, err := range errs {
		if err == nil {
			continue
		}
		nonNil++
		texts = append(texts, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
		var apiErr *lisa.APIError
		if errors.As(err, &apiErr) {
			texts = append(texts, apiErr.Body)
		}
	}
	texts = append(texts, logs.all()...)
	texts = append(texts, fmt.Sprintf("%+v %#v %v", c, c, c))
	require.Greater(t, nonNil, 10)
	require.NotEmpty(t, logs.all())
	for _, s := range texts {
		assert.NotContains(t, s, testAPIKey)
		assert.NotContains(t, s, testSecret)
	}
}
