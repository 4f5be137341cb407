package lisa

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// Defaults, in one place. Each can be changed with the option named beside it.
const (
	DefaultMaxRetries  = 3                      // WithMaxRetries
	DefaultBackoffMin  = 500 * time.Millisecond // WithBackoff
	DefaultBackoffMax  = 30 * time.Second       // WithBackoff
	DefaultTimeout     = 30 * time.Second       // WithTimeout, per attempt
	DefaultConcurrency = 4                      // WithConcurrency
	DefaultRetryBudget = 100                    // WithRetryBudget
	MaxConcurrency     = 1024                   // the most WithConcurrency takes
	// MaxRetryAfter is the longest Retry-After the client waits for. A
	// longer one ends the Send at once with an *APIError whose RetryAfter
	// says when to come back.
	MaxRetryAfter = 2 * time.Minute
)

// config holds what the options set.
type config struct {
	baseURL     string
	httpClient  *http.Client
	maxRetries  int
	backoffMin  time.Duration
	backoffMax  time.Duration
	timeout     time.Duration
	userAgent   string
	logger      *slog.Logger
	concurrency int
	retryBudget int
	// WithRateLimit (ratelimit.go); ratePerSecond 0 means no limit.
	ratePerSecond float64
	rateBurst     int
	observer      *Observer // WithObserver (observer.go)
}

func defaultConfig() config {
	return config{
		baseURL:     DefaultBaseURL,
		maxRetries:  DefaultMaxRetries,
		backoffMin:  DefaultBackoffMin,
		backoffMax:  DefaultBackoffMax,
		timeout:     DefaultTimeout,
		concurrency: DefaultConcurrency,
		retryBudget: DefaultRetryBudget,
	}
}

// Option configures a Client. Options are made by the With… functions; an
// option given a value it cannot use makes NewClient return an error.
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

// WithHTTPClient sends through a copy of hc: its transport, jar and other
// settings are used, but the copy never follows redirects and its Timeout is
// replaced by the per-attempt timeout of WithTimeout. hc itself is not
// modified. The requests leave Request.Host empty, as net/http allows for
// a client request (the Host header comes from the URL): a transport that
// needs the host should read req.URL.Host.
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
// the first attempt. 0 disables retries. The default is DefaultMaxRetries.
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
// backoff with jitter). A Retry-After from the server takes precedence.
func WithBackoff(min, max time.Duration) Option {
	return func(c *config) error {
		if min <= 0 || max < min {
			return errors.New("lisa: WithBackoff: need 0 < min <= max")
		}
		c.backoffMin, c.backoffMax = min, max
		return nil
	}
}

// WithTimeout bounds each attempt (connecting, sending, and reading the
// answer). The context passed to Send bounds the whole call, retries
// included. The default is DefaultTimeout.
func WithTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return errors.New("lisa: WithTimeout: timeout must be positive")
		}
		c.timeout = d
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
// flight at once, from 1 to MaxConcurrency. The default is
// DefaultConcurrency.
func WithConcurrency(n int) Option {
	return func(c *config) error {
		if n < 1 || n > MaxConcurrency {
			return fmt.Errorf("lisa: WithConcurrency: n must be from 1 to %d", MaxConcurrency)
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
// retries up to WithMaxRetries). The default is DefaultRetryBudget.
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
