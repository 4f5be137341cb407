package lisa_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
		{"dot plugin id", ".", "k", "s", nil, "pluginID"},
		{"dot-dot plugin id", "..", "k", "s", nil, "pluginID"},
		{"query in plugin id", "a?b=1", "k", "s", nil, "pluginID"},
		{"fragment in plugin id", "a#b", "k", "s", nil, "pluginID"},
		{"percent in plugin id", "a%2fb", "k", "s", nil, "pluginID"},
		{"space in plugin id", "a b", "k", "s", nil, "pluginID"},
		{"newline in plugin id", "a\nb", "k", "s", nil, "pluginID"},
		{"empty api key", "p", "", "s", nil, "apiKey"},
		{"newline in api key", "p", "k\r\nX-Evil: 1", "s", nil, "apiKey"},
		{"spaces around api key", "p", " k ", "s", nil, "apiKey"},
		{"empty secret", "p", "k", "", nil, "secret"},
		{"huge secret", "p", "k", strings.Repeat("s", 257), nil, "secret"},
		{"huge api key", "p", strings.Repeat("k", 257), "s", nil, "apiKey"},
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
		{"absurd concurrency", "p", "k", "s", []lisa.Option{lisa.WithConcurrency(1 << 50)}, "WithConcurrency"},
		{"concurrency one over the bound", "p", "k", "s", []lisa.Option{lisa.WithConcurrency(1025)}, "WithConcurrency"},
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

	_, err := lisa.NewClient("p", "k", "s", lisa.WithConcurrency(1024))
	assert.NoError(t, err, "1024 itself is allowed")
	for _, id := range []string{"...", ".a", "a..b", "plugin.v2"} {
		_, err := lisa.NewClient(id, "k", "s")
		assert.NoError(t, err, "%q is not a dot segment", id)
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

// TestClientValuesDoNotPrintCredentials prints a Client as a value, in a
// slice and inside a struct, under every verb fmt has: fmt's bad-verb path
// used to print the credentials struct in full.
func TestClientValuesDoNotPrintCredentials(t *testing.T) {
	c, err := lisa.NewClient(testPluginID, testAPIKey, testSecret)
	require.NoError(t, err)
	type holder struct {
		Name   string
		Client lisa.Client
		Ptr    *lisa.Client
	}
	values := map[string]any{
		"pointer":           c,
		"value":             *c,
		"slice of values":   []lisa.Client{*c},
		"struct":            holder{"h", *c, c},
		"pointer to struct": &holder{"h", *c, c},
		"map":               map[string]lisa.Client{"a": *c},
		"zero value":        lisa.Client{},
	}
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%t", "%p", "%T", "%10.3v"} {
			out := fmt.Sprintf(verb, v)
			for _, secret := range []string{testAPIKey, testSecret} {
				for _, spelled := range []string{secret, fmt.Sprintf("%x", secret), fmt.Sprintf("%X", secret), fmt.Sprint([]byte(secret))} {
					assert.NotContains(t, out, spelled, "%s printed with %s", name, verb)
				}
			}
		}
	}
}

// TestClientInAnUnexportedFieldDoesNotPrintCredentials: fmt cannot call
// Format on an unexported field and prints it by reflection; a verb that
// does not fit a pointer then printed what the pointer held.
func TestClientInAnUnexportedFieldDoesNotPrintCredentials(t *testing.T) {
	c, err := lisa.NewClient(testPluginID, testAPIKey, testSecret)
	require.NoError(t, err)
	type app struct {
		lisa lisa.Client
		name string
	}
	type wrap struct{ x any }
	for name, v := range map[string]any{
		"unexported field":     app{lisa: *c, name: "a"},
		"pointer to it":        &app{lisa: *c},
		"any in a field":       wrap{*c},
		"slice of them":        []wrap{{*c}},
		"unexported pointer":   struct{ c *lisa.Client }{c},
		"zero in a field":      app{},
		"nil pointer in field": struct{ c *lisa.Client }{},
	} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d", "%t", "%e", "%U", "%c", "%p"} {
			out := fmt.Sprintf(verb, v)
			assert.NotContains(t, out, testAPIKey, "%s with %s", name, verb)
			assert.NotContains(t, out, testSecret, "%s with %s", name, verb)
		}
	}
}

// TestNilAndZeroClientMethods: methods on a nil or zero Client do not panic.
func TestNilAndZeroClientMethods(t *testing.T) {
	var nilClient *lisa.Client
	assert.NotPanics(t, nilClient.CloseIdleConnections)
	assert.NotPanics(t, func() { _ = nilClient.String() })
	zero := &lisa.Client{}
	assert.NotPanics(t, zero.CloseIdleConnections)
	assert.NotPanics(t, func() { _ = zero.String(); _ = fmt.Sprintf("%#v", zero) })
}
