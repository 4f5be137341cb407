package lisa_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/hello-lisa/lisa-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
			assert.Equal(t, &lisa.Receipt{StatusCode: 202, RequestID: id.String(), Attempts: 1, Size: len(tc.want), RateLimitRemaining: -1}, rcpt)
			assert.True(t, strings.HasPrefix(got.Header.Get("User-Agent"), "lisa-go/"+lisa.Version+" go"), got.Header.Get("User-Agent"))
			assert.Empty(t, got.Header.Get("Accept-Encoding"), "no transparent compression: answers are tiny")
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
			assert.Contains(t, err.Error(), fmt.Sprintf("over the limit of %d bytes", lisa.MaxPayloadBytes))
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
		"null bytes":     []byte("null"),
		"padded null":    json.RawMessage(" null\n"),
		"nil map":        map[string]any(nil),
		"nil pointer":    (*product)(nil),
		"invalid UTF-8":  []byte("{\"productId\":\"\xff\"}"),
		"invalid UTF-8 via RawMessage field": struct {
			P json.RawMessage `json:"p"`
		}{json.RawMessage("\"\xfe\"")},
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

// FuzzSendPayload sends arbitrary bytes: Send must never panic, never send
// invalid JSON or more than the limit, and send valid JSON byte-exact with a
// signature over exactly those bytes.
func FuzzSendPayload(f *testing.F) {
	f.Add([]byte(`{"productId":"123","price":19.99}`))
	f.Add([]byte(`  [1, 2.5e10, "x", null, true]  `))
	f.Add([]byte(`{"productId":`))
	f.Add([]byte("\xff\xfe"))
	f.Add([]byte(" "))

	var mu sync.Mutex
	var got [][]byte
	var sigs []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, body)
		sigs = append(sigs, r.Header.Get(lisa.SignatureHeader))
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	f.Cleanup(srv.Close)
	c, err := lisa.NewClient(testPluginID, testAPIKey, testSecret, lisa.WithBaseURL(srv.URL), lisa.WithMaxRetries(0))
	require.NoError(f, err)
	verifier := lisa.NewSigner([]byte(testSecret))

	f.Fuzz(func(t *testing.T, payload []byte) {
		mu.Lock()
		got, sigs = nil, nil
		mu.Unlock()
		_, err := c.Send(context.Background(), payload)
		mu.Lock()
		defer mu.Unlock()
		trimmed := bytes.TrimSpace(payload)
		sendable := json.Valid(payload) && utf8.Valid(payload) && len(payload) <= lisa.MaxPayloadBytes &&
			len(trimmed) > 0 && string(trimmed) != "null"
		if !sendable {
			require.Error(t, err)
			require.True(t, errors.Is(err, lisa.ErrInvalidPayload) || errors.Is(err, lisa.ErrPayloadTooLarge), err)
			require.Empty(t, got, "nothing is sent for a bad payload")
			return
		}
		require.NoError(t, err)
		require.Len(t, got, 1)
		require.Equal(t, payload, got[0], "sent byte-exact")
		require.True(t, verifier.Verify(got[0], sigs[0]))
	})
}

// TestAnAnswerThatArrivedWinsOverALateCancel: the context ends just after
// the 202 has arrived (the transport cancels it before returning the
// answer). The server accepted the notification, so Send reports success.
func TestAnAnswerThatArrivedWinsOverALateCancel(t *testing.T) {
	rec := newRecorder(t, status(http.StatusAccepted))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(base.CloseIdleConnections)
	cancelAfterAnswer := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := base.RoundTrip(r)
		cancel()
		return resp, err
	})
	c := newTestClient(t, rec.URL, lisa.WithHTTPClient(&http.Client{Transport: cancelAfterAnswer}))
	rcpt, err := c.Send(ctx, product{"1", 2})
	require.NoError(t, err)
	assert.Equal(t, http.StatusAccepted, rcpt.StatusCode)
	assert.Len(t, rec.requests(), 1)
}

// TestResponseHeadersAreBounded: an answer with a 1 MiB header is refused
// by the transport instead of being held in memory (net/http's default
// allows 10 MiB per answer).
func TestResponseHeadersAreBounded(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.Header().Set("X-Padding", strings.Repeat("p", 1<<20))
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	c := newTestClient(t, rec.URL, lisa.WithMaxRetries(0))
	_, err := c.Send(context.Background(), product{"1", 2})
	var apiErr *lisa.APIError
	assert.False(t, errors.As(err, &apiErr), "the oversize answer was not read as an answer: %v", err)
	var sendErr *lisa.SendError
	assert.ErrorAs(t, err, &sendErr)
}
