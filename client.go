package lisa

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// DefaultBaseURL is the LiSA ingest service.
const DefaultBaseURL = "https://ingest.hello-lisa.com"

// MaxPayloadBytes is the largest body the ingest service takes: 192 KiB.
// Larger bodies are refused before anything is sent.
const MaxPayloadBytes = 192 << 10

// Version is the SDK's version, sent in the User-Agent.
const Version = "0.1.0"

// maxSuccessDrain bounds how much of a 2xx body is read so that the
// connection can be reused; a longer body is closed unread.
const maxSuccessDrain = 64 << 10

// Client sends product-update notifications for one plugin integration. It is
// safe for concurrent use by many goroutines; create one and share it.
type Client struct {
	url      *url.URL // the endpoint notifications are POSTed to
	pluginID string
	// creds is a closure: fmt prints a func as an address under every verb,
	// even through reflection (a Client in an unexported field), where a
	// pointer's target would be printed by a verb that does not fit it.
	creds       func() *credentials
	signer      *Signer
	userAgent   []string // header values shared, read-only, by every request
	contentType []string
	retry       *retryablehttp.Client
	transport   http.RoundTripper // the transport under the per-attempt wrapper
	logger      *slog.Logger
	budget      *retryBudget // nil when disabled
	throttle    *throttle    // rate limit and Retry-After cooldown (ratelimit.go)
	stats       *clientStats // counters for Stats (stats.go)
	cfg         config
	now         func() time.Time
	jitter      func(n int64) int64 // a random number in [0, n)
}

// credentials holds what must never be printed or logged.
type credentials struct {
	authorization []string // the Authorization header value, "ApiKey <key>"
	apiKey        string
	secret        string
	byLength      []string         // apiKey and secret, the longer first
	echoes        []*regexp.Regexp // every JSON spelling of byLength's, for redact
}

// maxCredentialBytes bounds the API key and the secret (real ones are tens
// of bytes), which also bounds the cost of redacting them from error bodies.
const maxCredentialBytes = 256

// newCredentials keeps the credentials and the patterns that find them in
// an echo, the longer credential first: redacting a secret that contains
// the API key must not leave the rest of the secret behind.
func newCredentials(apiKey, secret string) *credentials {
	cr := &credentials{authorization: []string{"ApiKey " + apiKey}, apiKey: apiKey, secret: secret}
	cr.byLength = []string{secret, apiKey}
	if len(apiKey) > len(secret) {
		cr.byLength = []string{apiKey, secret}
	}
	for _, v := range cr.byLength {
		cr.echoes = append(cr.echoes, jsonSpellings(v))
	}
	return cr
}

// Format prints a fixed text under every verb: a value that holds
// credentials, however it is printed, never shows them.
func (credentials) Format(f fmt.State, _ rune) { io.WriteString(f, "[REDACTED]") }

// Receipt describes an accepted notification.
type Receipt struct {
	// StatusCode is the 2xx status the server answered (202 in the
	// documented API). Acceptance means the server will process the update
	// asynchronously, not that it has been applied.
	StatusCode int
	// RequestID is the X-Request-Id the notification carried.
	RequestID string
	// Attempts is how many requests it took, the first included.
	Attempts int
	// Size is the body's length in bytes.
	Size int
}

// NewClient returns a Client for the plugin integration pluginID (shown on
// the plugins page of the LiSA Console), authenticated with apiKey and
// signing with secret. All three are required. Errors name the field that is
// wrong, never its value.
func NewClient(pluginID, apiKey, secret string, opts ...Option) (*Client, error) {
	if err := validatePluginID(pluginID); err != nil {
		return nil, err
	}
	if apiKey == "" {
		return nil, errors.New("lisa: apiKey is empty")
	}
	if hasControl(apiKey) || strings.TrimSpace(apiKey) != apiKey {
		return nil, errors.New("lisa: apiKey contains control characters or surrounding spaces")
	}
	if secret == "" {
		return nil, errors.New("lisa: secret is empty")
	}
	if len(apiKey) > maxCredentialBytes || len(secret) > maxCredentialBytes {
		return nil, fmt.Errorf("lisa: apiKey and secret must be at most %d bytes", maxCredentialBytes)
	}
	cfg := defaultConfig()
	for i, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("lisa: option %d is nil", i)
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	base, err := parseBaseURL(cfg.baseURL)
	if err != nil {
		return nil, err
	}

	endpoint := base + "/plugin-notifications/" + url.PathEscape(pluginID) + "/updates"
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, errors.New("lisa: base URL and pluginID do not make a valid URL")
	}
	creds := newCredentials(apiKey, secret)
	c := &Client{
		url:         u,
		pluginID:    pluginID,
		creds:       func() *credentials { return creds },
		signer:      NewSigner([]byte(secret)),
		userAgent:   []string{userAgent(cfg.userAgent)},
		contentType: []string{"application/json"},
		logger:      cfg.logger,
		cfg:         cfg,
		now:         time.Now,
		jitter:      rand.Int64N,
	}
	if cfg.retryBudget > 0 {
		c.budget = newRetryBudget(cfg.retryBudget)
	}
	c.throttle = newThrottle(cfg)
	c.stats = &clientStats{}
	hc := c.httpClient()
	c.retry = &retryablehttp.Client{
		HTTPClient: hc,
		Logger:     nil, // retryablehttp's default logger writes to stderr
		RetryMax:   cfg.maxRetries,
		CheckRetry: c.checkRetry, // decides, and waits before a retry
		Backoff:    func(time.Duration, time.Duration, int, *http.Response) time.Duration { return 0 },
		// The default handler closes the last answer and returns a generic
		// error; we map the answer ourselves.
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
		PrepareRetry: prepareRetry,
	}
	if c.logger != nil || cfg.observer != nil {
		c.retry.RequestLogHook = c.logAttemptStart
	}
	return c, nil
}

// validatePluginID refuses ids that could change the request path.
func validatePluginID(id string) error {
	if id == "" {
		return errors.New("lisa: pluginID is empty")
	}
	if id == "." || id == ".." { // dot segments: a proxy may normalise the path elsewhere
		return errors.New("lisa: pluginID must not be '.' or '..'")
	}
	if strings.ContainsAny(id, "/?#%\\") || strings.IndexFunc(id, isSpaceOrControl) >= 0 {
		return errors.New(`lisa: pluginID must not contain '/', '?', '#', '%', '\', spaces or control characters`)
	}
	return nil
}

func isSpaceOrControl(r rune) bool {
	return r <= ' ' || r == 0x7f || r == 0x85 || r == 0xa0 || (r >= 0x2000 && r <= 0x200b) || r == 0x2028 || r == 0x2029 || r == 0x3000 || r == 0xfeff
}

// parseBaseURL checks a base URL and returns it without a trailing slash.
func parseBaseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", errors.New("lisa: base URL must be an absolute URL such as https://ingest.hello-lisa.com")
	}
	if u.User != nil {
		return "", errors.New("lisa: base URL must not contain user information")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "", errors.New("lisa: base URL must not have a query or fragment")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return "", fmt.Errorf("lisa: base URL must use https; plain http is allowed only for a loopback host, not %q", u.Hostname())
		}
	default:
		return "", fmt.Errorf("lisa: base URL scheme must be https, not %q", u.Scheme)
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"), nil
}

// isLoopback reports whether host is localhost or a loopback IP address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func userAgent(extra string) string {
	ua := "lisa-go/" + Version + " " + runtime.Version()
	if extra = strings.TrimSpace(extra); extra != "" {
		ua += " " + extra
	}
	return ua
}

// httpClient builds the http.Client the retry loop uses: never following
// redirects, with the per-attempt timeout in its transport.
func (c *Client) httpClient() *http.Client {
	var hc http.Client
	if c.cfg.httpClient != nil {
		hc = *c.cfg.httpClient // a copy: the caller's client is not modified
	}
	base := hc.Transport
	if base == nil {
		base = defaultTransport(c.cfg.concurrency)
	}
	c.transport = base
	hc.Transport = &attemptTransport{base: base, watch: newAttemptWatch(c.cfg.timeout)}
	hc.Timeout = 0 // the per-attempt timeout lives in attemptTransport
	hc.CheckRedirect = func(*http.Request, []*http.Request) error {
		// A POST carrying the API key never goes to another server.
		return http.ErrUseLastResponse
	}
	return &hc
}

// maxResponseHeaderBytes bounds the headers of an answer; the ingest
// service's are a few hundred bytes (net/http would allow 10 MiB).
const maxResponseHeaderBytes = 32 << 10

// defaultTransport is net/http's default transport with enough idle
// connections per host for concurrent senders (net/http keeps only 2),
// answers' headers bounded, and no transparent compression.
func defaultTransport(concurrency int) http.RoundTripper {
	idle := max(64, concurrency)
	var t *http.Transport
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		t = dt.Clone()
	} else { // a program replaced http.DefaultTransport: start from its defaults
		t = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
		}
	}
	t.MaxIdleConns = max(t.MaxIdleConns, idle)
	t.MaxIdleConnsPerHost = idle
	t.MaxResponseHeaderBytes = maxResponseHeaderBytes
	// The answers are a few bytes: asking for gzip would only add a header
	// to every request for the server to parse.
	t.DisableCompression = true
	return t
}

// CloseIdleConnections closes the idle connections of the client's
// transport. Call it when the client is no longer needed.
func (c *Client) CloseIdleConnections() {
	if c == nil {
		return
	}
	if ci, ok := c.transport.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// String describes the client without its credentials.
func (c *Client) String() string {
	if c == nil {
		return "lisa.Client(nil)"
	}
	if c.url == nil {
		return "lisa.Client{} (zero: use NewClient)"
	}
	return fmt.Sprintf("lisa.Client{pluginID: %q, endpoint: %q, apiKey: redacted, secret: redacted}", c.pluginID, c.url.String())
}

// GoString is String, so that %#v does not print credentials either.
func (c *Client) GoString() string { return c.String() }

// Format prints String for every verb, so no verb or flag reaches the
// credentials. It has a value receiver so that a Client value (in a slice,
// or a struct printed with %v) is covered as well as a *Client.
func (c Client) Format(f fmt.State, _ rune) {
	if c.url == nil {
		io.WriteString(f, "lisa.Client{}")
		return
	}
	io.WriteString(f, c.String())
}
