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
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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

// TestNoSecretLeaks captures every log record at debug level and every
// error, across success and each kind of failure, and looks for the
// credentials in them.
func TestNoSecretLeaks(t *testing.T) {
	logs := newLogCapture()
	handler := func(w http.ResponseWriter, r *http.Request, n int) {
		switch n % 7 {
		case 0:
			w.WriteHeader(http.StatusAccepted)
		case 1: // an echoing server
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, "got %q with secret %s", r.Header.Get("Authorization"), testSecret)
		case 2:
			w.WriteHeader(http.StatusUnauthorized)
		case 3:
			w.WriteHeader(http.StatusRequestEntityTooLarge)
		case 4: // a long Retry-After: the Send stops, the client waits it out (MaxRetryAfter at most)
			w.Header().Set("Retry-After", "1")
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
		for _, verb := range []string{"%s", "%q", "%x", "%v"} {
			texts = append(texts, fmt.Sprintf(verb, err))
		}
		var apiErr *lisa.APIError
		if errors.As(err, &apiErr) {
			texts = append(texts, apiErr.Body)
			if apiErr.StatusCode == http.StatusBadRequest {
				assert.Contains(t, apiErr.Body, "[REDACTED]", "the echo was there, redacted")
			}
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

// TestEchoedCredentialsAreRedactedInEverySpelling: a server echoes the
// credentials as JSON does (escaped slashes, \uXXXX in either case, a
// surrogate pair), and one whose echo is cut by the 64 KiB read bound.
func TestEchoedCredentialsAreRedactedInEverySpelling(t *testing.T) {
	const apiKey = "k/ey+Ünï-🔑-5f2c0d1e"
	const secret = "s3cr\"et/\\ü-9d8c7b6a"
	escapeAll := func(s string, format string) string { // every UTF-16 unit as \uXXXX
		var b strings.Builder
		for _, u := range utf16.Encode([]rune(s)) {
			fmt.Fprintf(&b, format, u)
		}
		return b.String()
	}
	encoded := func(s string) string {
		b, err := json.Marshal(s)
		require.NoError(t, err)
		return string(b)
	}
	spellings := map[string]func(string) string{
		"raw":                     func(s string) string { return s },
		"encoding/json":           encoded,
		"escaped slash":           func(s string) string { return strings.ReplaceAll(encoded(s), "/", `\/`) },
		"all \\u, lower-case hex": func(s string) string { return escapeAll(s, `\u%04x`) },
		"all \\u, upper-case hex": func(s string) string { return escapeAll(s, `\u%04X`) },
	}
	for name, spell := range spellings {
		t.Run(name, func(t *testing.T) {
			rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprintf(w, `{"error":"bad key %s or secret %s"}`, spell(apiKey), spell(secret))
			})
			c, err := lisa.NewClient(testPluginID, apiKey, secret, lisa.WithBaseURL(rec.URL))
			require.NoError(t, err)
			_, err = c.Send(context.Background(), product{"1", 2})
			var apiErr *lisa.APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, 2, strings.Count(apiErr.Body, "[REDACTED]"), apiErr.Body)
			for _, cred := range []string{apiKey, secret} {
				for _, text := range []string{apiErr.Body, err.Error()} {
					assert.NotContains(t, text, spell(cred))
					assert.NotContains(t, text, spell(cred)[:12], "not even a prefix")
				}
			}
		})
	}
	t.Run("cut by the read bound", func(t *testing.T) {
		for name, spell := range spellings {
			filler := strings.Repeat("x", 64<<10-12) // the bound falls inside the credential
			rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
				w.WriteHeader(http.StatusUnauthorized)
				io.WriteString(w, filler+spell(apiKey)+" and more")
			})
			c, err := lisa.NewClient(testPluginID, apiKey, secret, lisa.WithBaseURL(rec.URL))
			require.NoError(t, err)
			_, err = c.Send(context.Background(), product{"1", 2})
			var apiErr *lisa.APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Empty(t, strings.Trim(apiErr.Body, "x"), "%s: only filler is left, no start of the key", name)
			assert.Greater(t, len(apiErr.Body), 60<<10, name)
		}
	})
}

// TestIsRetryable classifies the errors Send really returns, each made
// against a loopback server, and a few made by hand.
func TestIsRetryable(t *testing.T) {
	sendTo := func(t *testing.T, answer func(http.ResponseWriter, *http.Request, int), opts ...lisa.Option) error {
		rec := newRecorder(t, answer)
		c := newTestClient(t, rec.URL, append([]lisa.Option{lisa.WithMaxRetries(0)}, opts...)...)
		_, err := c.Send(context.Background(), product{"1", 2})
		return err
	}
	cases := map[string]struct {
		err  func(t *testing.T) error
		want bool
	}{
		"nil":         {func(*testing.T) error { return nil }, false},
		"unrelated":   {func(*testing.T) error { return errors.New("x") }, false},
		"400":         {func(t *testing.T) error { return sendTo(t, status(400)) }, false},
		"401":         {func(t *testing.T) error { return sendTo(t, status(401)) }, false},
		"403":         {func(t *testing.T) error { return sendTo(t, status(403)) }, false},
		"404":         {func(t *testing.T) error { return sendTo(t, status(404)) }, false},
		"413":         {func(t *testing.T) error { return sendTo(t, status(413)) }, false},
		"429":         {func(t *testing.T) error { return sendTo(t, status(429)) }, true},
		"500":         {func(t *testing.T) error { return sendTo(t, status(500)) }, true},
		"501":         {func(t *testing.T) error { return sendTo(t, status(501)) }, false},
		"502":         {func(t *testing.T) error { return sendTo(t, status(502)) }, true},
		"503":         {func(t *testing.T) error { return sendTo(t, status(503)) }, true},
		"500 wrapped": {func(t *testing.T) error { return fmt.Errorf("sync: %w", sendTo(t, status(500))) }, true},
		"retry budget": {func(t *testing.T) error {
			return sendTo(t, status(503), lisa.WithMaxRetries(3), lisa.WithRetryBudget(1))
		}, true},
		"connection refused": {func(t *testing.T) error {
			c := newTestClient(t, "http://127.0.0.1:1", lisa.WithMaxRetries(0))
			_, err := c.Send(context.Background(), product{"1", 2})
			return err
		}, true},
		"attempt timeout": {func(t *testing.T) error {
			release := make(chan struct{})
			defer close(release)
			return sendTo(t, func(http.ResponseWriter, *http.Request, int) { <-release }, lisa.WithTimeout(50*time.Millisecond))
		}, true},
		"context canceled": {func(t *testing.T) error {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			c := newTestClient(t, "http://127.0.0.1:1")
			_, err := c.Send(ctx, product{"1", 2})
			return err
		}, false},
		"context deadline while waiting": {func(t *testing.T) error {
			release := make(chan struct{})
			defer close(release)
			rec := newRecorder(t, func(http.ResponseWriter, *http.Request, int) { <-release })
			c := newTestClient(t, rec.URL)
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			_, err := c.Send(ctx, product{"1", 2})
			return err
		}, false},
		"invalid payload": {func(t *testing.T) error {
			_, err := newTestClient(t, "http://127.0.0.1:1").Send(context.Background(), []byte("nope"))
			return err
		}, false},
		"payload too large": {func(t *testing.T) error {
			_, err := newTestClient(t, "http://127.0.0.1:1").Send(context.Background(), make([]byte, lisa.MaxPayloadBytes+1))
			return err
		}, false},
		"not sent after a 401": {func(t *testing.T) error {
			rec := newRecorder(t, status(401))
			c := newTestClient(t, rec.URL, lisa.WithConcurrency(1))
			results := c.SendAll(context.Background(), []any{product{"1", 2}, product{"2", 2}})
			require.True(t, notSentErr(results[1].Err))
			return results[1].Err
		}, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := tc.err(t)
			assert.Equal(t, tc.want, lisa.IsRetryable(err), "%v", err)
		})
	}
}

// TestRetryStopReasonsAreTyped: each reason for not retrying a retryable
// failure is matched with errors.Is, beside the answer's own sentinel.
func TestRetryStopReasonsAreTyped(t *testing.T) {
	rec := newRecorder(t, status(http.StatusBadGateway))
	c := newTestClient(t, rec.URL, lisa.WithMaxRetries(2), lisa.WithRetryBudget(3))
	_, err := c.Send(context.Background(), product{"1", 2})
	assert.ErrorIs(t, err, lisa.ErrServer)
	assert.ErrorIs(t, err, lisa.ErrRetriesExhausted)
	assert.NotErrorIs(t, err, lisa.ErrRetryBudgetExhausted)

	_, err = c.Send(context.Background(), product{"1", 2}) // one token left of three
	assert.ErrorIs(t, err, lisa.ErrServer)
	assert.ErrorIs(t, err, lisa.ErrRetryBudgetExhausted)
	assert.NotErrorIs(t, err, lisa.ErrRetriesExhausted)
	var apiErr *lisa.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, 2, apiErr.Attempts, "one retry on the last token, then none")

	dead := newTestClient(t, "http://127.0.0.1:1", lisa.WithMaxRetries(1))
	_, err = dead.Send(context.Background(), product{"1", 2})
	var sendErr *lisa.SendError
	require.ErrorAs(t, err, &sendErr)
	assert.ErrorIs(t, err, lisa.ErrRetriesExhausted)
	assert.False(t, notSentErr(err))
}

func ExampleIsRetryable() {
	srv := lisatest.NewServer("my-plugin", "my-api-key", "my-secret")
	defer srv.Close()
	client, _ := lisa.NewClient("my-plugin", "my-api-key", "my-secret",
		lisa.WithBaseURL(srv.URL), lisa.WithMaxRetries(1), lisa.WithBackoff(time.Millisecond, time.Millisecond))

	// The service fails twice: the one retry allowed is spent.
	srv.Script(lisatest.Fault{Status: 503}, lisatest.Fault{Status: 503})
	_, err := client.Send(context.Background(), []byte(`{"productId":"123"}`))
	fmt.Println("503 twice, retryable later:", lisa.IsRetryable(err), errors.Is(err, lisa.ErrRetriesExhausted))

	// A refused body will be refused again: keep it out of the retry queue.
	srv.Script(lisatest.Fault{Status: 400})
	_, err = client.Send(context.Background(), []byte(`{"productId":"123"}`))
	fmt.Println("400, retryable later:", lisa.IsRetryable(err))
	// Output:
	// 503 twice, retryable later: true true
	// 400, retryable later: false
}

// TestRedactionOfNestedAndSplicedCredentials: a secret that contains the
// API key is redacted whole, and invalid UTF-8 inside an echoed credential
// cannot put it back together in Error (which drops invalid bytes).
func TestRedactionOfNestedAndSplicedCredentials(t *testing.T) {
	for name, tc := range map[string]struct{ key, secret, echo string }{
		"secret starts with the key": {"abc123", "abc123-SECRETTAIL-xyz", "abc123-SECRETTAIL-xyz"},
		"key contains the secret":    {"KEYHEAD-s3cr3t", "s3cr3t", "KEYHEAD-s3cr3t and s3cr3t"},
		"invalid byte inside":        {"some-api-key", "s3cr3t-value-000", "s3cr3t-\xffvalue-000"},
	} {
		t.Run(name, func(t *testing.T) {
			rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `{"echo":"`+tc.echo+`"}`)
			})
			c, err := lisa.NewClient(testPluginID, tc.key, tc.secret, lisa.WithBaseURL(rec.URL))
			require.NoError(t, err)
			_, err = c.Send(context.Background(), product{"1", 2})
			var apiErr *lisa.APIError
			require.ErrorAs(t, err, &apiErr)
			for _, text := range []string{err.Error(), apiErr.Body} {
				assert.NotContains(t, text, "SECRETTAIL")
				assert.NotContains(t, text, tc.secret)
				assert.NotContains(t, text, tc.key)
			}
		})
	}
}

// TestAnEchoCutShortByADroppedConnectionIsRedacted: a server echoes the API
// key in an error answer and the connection drops partway through the key.
// The body read ends early with an error, and the start of the key it ends
// with is dropped, as when the read stops at its limit; both for a final
// answer and for the answer to a retry that the rate limit holds back.
func TestAnEchoCutShortByADroppedConnectionIsRedacted(t *testing.T) {
	partial := testAPIKey[:len(testAPIKey)/2]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		body := `{"seen":"ApiKey ` + partial
		fmt.Fprintf(buf, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body)+100, body)
		_ = buf.Flush()
	}))
	defer srv.Close()
	check := func(t *testing.T, err error) {
		t.Helper()
		var apiErr *lisa.APIError
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, http.StatusServiceUnavailable, apiErr.StatusCode)
		for _, s := range []string{apiErr.Body, err.Error(), fmt.Sprintf("%+v", err)} {
			assert.NotContains(t, s, partial[:6], "the start of the key")
		}
	}
	t.Run("final answer", func(t *testing.T) {
		_, err := newTestClient(t, srv.URL, lisa.WithMaxRetries(0)).Send(context.Background(), []byte(`{}`))
		check(t, err)
	})
	t.Run("retry held back", func(t *testing.T) {
		c := newTestClient(t, srv.URL, lisa.WithRateLimit(0.1, 1), lisa.WithBackoff(time.Millisecond, time.Millisecond))
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err := c.Send(ctx, []byte(`{}`))
		require.ErrorIs(t, err, lisa.ErrThrottled)
		check(t, err)
	})
}
