package lisa

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// MaxRetryAfter is the longest wait a Retry-After can impose on a client.
// A longer one ends that Send at once with an *APIError whose RetryAfter
// says what the server asked, and holds the client's other sends for
// MaxRetryAfter at most.
const MaxRetryAfter = 2 * time.Minute

// config holds what the options set.
type config struct {
	baseURL        string
	httpClient     *http.Client
	tlsConfig      *tls.Config
	maxRetries     int
	backoffMin     time.Duration
	backoffMax     time.Duration
	timeout        time.Duration
	userAgent      string
	logger         *slog.Logger
	observer       *Observer
	concurrency    int
	retryBudget    int
	retryAfterUnit time.Duration
	ratePerSecond  float64 // 0: no limit
	rateBurst      int
}

// defaultConfig holds every default, in one place.
func defaultConfig() config {
	return config{
		baseURL:        DefaultBaseURL,
		maxRetries:     3,
		backoffMin:     500 * time.Millisecond,
		backoffMax:     30 * time.Second,
		timeout:        30 * time.Second,
		concurrency:    4,
		retryBudget:    100,
		retryAfterUnit: time.Second,
	}
}

// Option configures a Client. Options are made by the With… functions; an
// option given a value it cannot use makes NewClient return an error that
// names it.
type Option func(*config) error

// WithBaseURL sends to another ingest host, such as a lisatest server. The
// URL must be absolute and https; plain http is allowed only for a loopback
// host (127.0.0.0/8, ::1, localhost). A path prefix is kept.
func WithBaseURL(baseURL string) Option {
	return func(c *config) error {
		c.baseURL = baseURL
		return nil
	}
}

// WithTLSConfig sets the TLS settings of the client's own transport, for
// example RootCAs to trust a private certificate authority or a TLS
// proxy. The transport keeps everything else: its pool of idle
// connections, sized for concurrent sends, and HTTP/2. The config is
// cloned. It cannot be combined with WithHTTPClient.
func WithTLSConfig(cfg *tls.Config) Option {
	return func(c *config) error {
		if cfg == nil {
			return errors.New("lisa: WithTLSConfig: config is nil")
		}
		c.tlsConfig = cfg
		return nil
	}
}

// WithHTTPClient sends through hc's Transport (http.DefaultTransport when
// nil) and cookie Jar, replacing the client's own transport, which keeps
// up to max(64, WithConcurrency) connections per host alive where
// net/http's default keeps 2: give hc a transport tuned for your
// concurrency. To trust a private CA
// only, use WithTLSConfig instead. hc's Timeout and CheckRedirect are not
// used: each attempt is bounded by WithTimeout, and redirects are never
// followed. hc is not modified.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) error {
		if hc == nil {
			return errors.New("lisa: WithHTTPClient: client is nil")
		}
		c.httpClient = hc
		return nil
	}
}

// WithMaxRetries sets how many times a retryable failure is retried after
// the first attempt. 0 disables retries. The default is 3.
func WithMaxRetries(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return errors.New("lisa: WithMaxRetries: n must not be negative")
		}
		c.maxRetries = n
		return nil
	}
}

// WithBackoff sets the bounds of the wait between retries. The n-th retry
// waits a random time between min and min·2ⁿ, capped at max (exponential
// backoff with jitter). A Retry-After from the server takes precedence. The
// defaults are 500ms and 30s.
func WithBackoff(min, max time.Duration) Option {
	return func(c *config) error {
		if min <= 0 || max < min {
			return errors.New("lisa: WithBackoff: need 0 < min <= max")
		}
		c.backoffMin, c.backoffMax = min, max
		return nil
	}
}

// WithTimeout bounds each attempt: connecting, sending, and reading the
// answer. The context passed to Send bounds the whole call, retries
// included. The default is 30s.
func WithTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return errors.New("lisa: WithTimeout: timeout must be positive")
		}
		c.timeout = d
		return nil
	}
}

// WithRetryAfterUnit sets the unit of a Retry-After given as a number:
// time.Second (the default, as RFC 9110 says) or time.Millisecond. LiSA's
// rate-limit page says both ("the number of seconds to wait", then "the
// number of milliseconds to wait"); use time.Millisecond if the answers you
// observe are in milliseconds. A Retry-After given as a date is unaffected.
func WithRetryAfterUnit(unit time.Duration) Option {
	return func(c *config) error {
		if unit != time.Second && unit != time.Millisecond {
			return errors.New("lisa: WithRetryAfterUnit: unit must be time.Second or time.Millisecond")
		}
		c.retryAfterUnit = unit
		return nil
	}
}

// WithUserAgent appends a product token (such as "shop-sync/2.1") to the
// SDK's own User-Agent.
func WithUserAgent(ua string) Option {
	return func(c *config) error {
		if hasControl(ua) {
			return errors.New("lisa: WithUserAgent: user agent must not contain control characters")
		}
		c.userAgent = ua
		return nil
	}
}

// WithLogger logs each attempt to l: at debug level the request id, attempt,
// status and duration; at warn level each retry and its reason. Credentials,
// signatures and bodies are never logged. Without it the client is silent.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		c.logger = l
		return nil
	}
}

// WithConcurrency sets how many notifications SendAll and SendSeq have in
// flight at once, from 1 to 1024. The default is 4. The client's own
// transport opens up to max(64, n) connections per host: raise n if more
// goroutines than that (a Queue's workers, your own) send at once.
func WithConcurrency(n int) Option {
	return func(c *config) error {
		if n < 1 || n > 1024 {
			return errors.New("lisa: WithConcurrency: n must be from 1 to 1024")
		}
		c.concurrency = n
		return nil
	}
}

// WithRetryBudget sets the size of the client-wide retry budget: a bucket
// of tokens shared by every Send of the Client. Each retry takes a token,
// each accepted notification puts one back (up to the size). When the bucket
// is empty, failures are returned without retrying, so an outage does not
// multiply the load on the ingest service. 0 disables the budget (every Send
// retries up to WithMaxRetries). The default is 100.
func WithRetryBudget(tokens int) Option {
	return func(c *config) error {
		if tokens < 0 {
			return errors.New("lisa: WithRetryBudget: tokens must not be negative")
		}
		c.retryBudget = tokens
		return nil
	}
}

// hasControl reports whether s contains an ASCII control character or DEL.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}
