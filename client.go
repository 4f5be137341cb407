package lisa

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"time"
)

// DefaultBaseURL is the LiSA ingest service.
const DefaultBaseURL = "https://ingest.hello-lisa.com"

// MaxPayloadBytes is the largest body the ingest service takes: 192 KiB.
// Larger bodies are refused before anything is sent.
const MaxPayloadBytes = 192 << 10

// Version is the SDK's version, sent in the User-Agent.
const Version = "0.1.0"

// Client sends product-update notifications for one plugin integration. It is
// safe for concurrent use by many goroutines; create one and share it.
type Client struct {
	endpoint string   // the URL notifications are POSTed to
	url      *url.URL // endpoint, parsed once
	// fixedHeader holds header values every request shares, read-only
	// (Authorization is with the credentials).
	fixedHeader struct{ contentType, userAgent []string }
	pluginID    string
	// creds is a closure: fmt prints a func as an address under every verb,
	// even through reflection, so the credentials cannot be printed.
	creds     func() credentials
	signer    *Signer
	transport http.RoundTripper // shared by every Send
	jar       http.CookieJar    // from WithHTTPClient
	logger    *slog.Logger
	observer  *Observer
	budget    *retryBudget // nil when disabled
	throttle  *throttle    // rate limit and Retry-After cooldown (ratelimit.go)
	stats     *clientStats // counters for Stats (stats.go)
	cfg       config
	jitter    func(n int64) int64 // a random number in [0, n)
}

// credentials holds what must never be printed or logged.
type credentials struct {
	apiKey, secret string
	authorization  []string // the header value, "ApiKey <key>"
}

// maxCredentialBytes bounds the API key and the secret (real ones are tens
// of bytes).
const maxCredentialBytes = 256

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
	// RateLimitRemaining is the answer's X-RateLimit-Remaining: how many
	// requests LiSA still takes in its current window, or -1 when the
	// answer had none that could be read. A job can slow down as it nears 0.
	RateLimitRemaining int
}

// NewClient returns a Client for the plugin integration pluginID (shown on
// the plugins page of the LiSA Console), authenticated with apiKey and
// signing with secret. All three are required. Errors name the field that is
// wrong, never its value.
func NewClient(pluginID, apiKey, secret string, opts ...Option) (*Client, error) {
	if err := validatePluginID(pluginID); err != nil {
		return nil, err
	}
	switch {
	case apiKey == "":
		return nil, errors.New("lisa: apiKey is empty")
	case hasControl(apiKey) || strings.TrimSpace(apiKey) != apiKey:
		return nil, errors.New("lisa: apiKey contains control characters or surrounding spaces")
	case secret == "":
		return nil, errors.New("lisa: secret is empty")
	case len(apiKey) > maxCredentialBytes || len(secret) > maxCredentialBytes:
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
	if cfg.httpClient != nil && cfg.tlsConfig != nil {
		return nil, errors.New("lisa: WithTLSConfig and WithHTTPClient cannot be combined: set TLS on your client's transport")
	}
	base, err := parseBaseURL(cfg.baseURL)
	if err != nil {
		return nil, err
	}
	creds := credentials{apiKey: apiKey, secret: secret, authorization: []string{"ApiKey " + apiKey}}
	endpoint := base + "/plugin-notifications/" + url.PathEscape(pluginID) + "/updates"
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, errors.New("lisa: base URL and pluginID do not make a valid URL")
	}
	c := &Client{
		endpoint: endpoint,
		url:      u,
		pluginID: pluginID,
		creds:    func() credentials { return creds },
		signer:   NewSigner([]byte(secret)),
		logger:   cfg.logger,
		observer: cfg.observer,
		throttle: newThrottle(cfg),
		stats:    &clientStats{},
		cfg:      cfg,
		jitter:   rand.Int64N,
	}
	c.fixedHeader.contentType = []string{"application/json"}
	c.fixedHeader.userAgent = []string{userAgent(cfg.userAgent)}
	if cfg.retryBudget > 0 {
		c.budget = newRetryBudget(cfg.retryBudget)
	}
	if hc := cfg.httpClient; hc != nil {
		c.transport, c.jar = hc.Transport, hc.Jar
		if c.transport == nil {
			c.transport = http.DefaultTransport
		}
	} else {
		c.transport = newTransport(cfg.tlsConfig, cfg.concurrency)
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

// maxResponseHeaderBytes bounds the headers of an answer; the ingest
// service's are a few hundred bytes (net/http would allow 10 MiB).
const maxResponseHeaderBytes = 32 << 10

// newTransport is net/http's default transport with a pool sized for
// concurrent senders: net/http keeps only 2 idle connections per host, so
// a busy client would open a TLS connection for most sends. It opens at
// most max(64, concurrency) connections per host: without a cap, a send
// that finds no idle connection dials a new one while one is being handed
// back, and the pool grows by a handshake each time. Answers' headers are
// bounded, there is no transparent compression, and the caller's TLS
// settings apply, if any. HTTP/2 stays on.
func newTransport(tlsConfig *tls.Config, concurrency int) *http.Transport {
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
	conns := max(64, concurrency)
	t.MaxConnsPerHost = conns
	t.MaxIdleConnsPerHost = conns
	t.MaxIdleConns = max(t.MaxIdleConns, conns)
	t.MaxResponseHeaderBytes = maxResponseHeaderBytes
	t.DisableCompression = true // the answers are a few bytes
	if tlsConfig != nil {
		t.TLSClientConfig = tlsConfig.Clone()
	}
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
	if c == nil || c.endpoint == "" {
		return "lisa.Client{} (zero: use NewClient)"
	}
	return fmt.Sprintf("lisa.Client{pluginID: %q, endpoint: %q, apiKey: redacted, secret: redacted}", c.pluginID, c.endpoint)
}

// Format prints String for every verb, %#v included, so that no verb or
// flag reaches the credentials. It has a value receiver so that a Client
// value (in a slice, or a struct printed with %v) is covered as well.
func (c Client) Format(f fmt.State, _ rune) { io.WriteString(f, c.String()) }
