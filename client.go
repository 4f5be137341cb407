package lisa

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
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
	url         *url.URL // the endpoint notifications are POSTed to
	pluginID    string
	creds       *credentials // behind a pointer: fmt prints its address only
	signer      *Signer
	userAgent   []string // header values shared, read-only, by every request
	contentType []string
	retry       *retryablehttp.Client
	transport   http.RoundTripper // the transport under the per-attempt wrapper
	logger      *slog.Logger
	budget      *retryBudget // nil when disabled
	cfg         config
	now         func() time.Time
	jitter      func(n int64) int64 // a random number in [0, n)
}

// credentials holds what must never be printed or logged.
type credentials struct {
	authorization []string // the Authorization header value, "ApiKey <key>"
	apiKey        string
	secret        string
}

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
	c := &Client{
		url:      u,
		pluginID: pluginID,
		creds: &credentials{
			authorization: []string{"ApiKey " + apiKey},
			apiKey:        apiKey,
			secret:        secret,
		},
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
	hc := c.httpClient()
	c.retry = &retryablehttp.Client{
		HTTPClient:   hc,
		Logger:       nil, // retryablehttp's default logger writes to stderr
		RetryWaitMin: cfg.backoffMin,
		RetryWaitMax: cfg.backoffMax,
		RetryMax:     cfg.maxRetries,
		CheckRetry:   c.checkRetry,
		Backoff:      c.backoff,
		// The default handler closes the last answer and returns a generic
		// error; we map the answer ourselves.
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	if c.logger != nil {
		c.retry.RequestLogHook = c.logAttemptStart
	}
	return c, nil
}

// validatePluginID refuses ids that could change the request path.
func validatePluginID(id string) error {
	if id == "" {
		return errors.New("lisa: pluginID is empty")
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

// defaultTransport is net/http's default transport with enough idle
// connections per host for concurrent senders (net/http keeps only 2).
func defaultTransport(concurrency int) http.RoundTripper {
	idle := max(64, concurrency)
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		t := dt.Clone()
		t.MaxIdleConns = max(t.MaxIdleConns, idle)
		t.MaxIdleConnsPerHost = idle
		return t
	}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          idle,
		MaxIdleConnsPerHost:   idle,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// CloseIdleConnections closes the idle connections of the client's
// transport. Call it when the client is no longer needed.
func (c *Client) CloseIdleConnections() {
	if ci, ok := c.transport.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// String describes the client without its credentials.
func (c *Client) String() string {
	if c == nil {
		return "lisa.Client(nil)"
	}
	return fmt.Sprintf("lisa.Client{pluginID: %q, endpoint: %q, apiKey: redacted, secret: redacted}", c.pluginID, c.url)
}

// GoString is String, so that %#v does not print credentials either.
func (c *Client) GoString() string { return c.String() }

// Format prints String for every verb, so no verb or flag reaches the
// credentials.
func (c *Client) Format(f fmt.State, verb rune) { io.WriteString(f, c.String()) }

// Send notifies LiSA of one product update and returns once the server has
// accepted it or the client has given up.
//
// payload is the notification body: a []byte or json.RawMessage is sent
// byte-for-byte as given once it is checked to be valid JSON; any other
// value (a struct, a map…) is encoded once with encoding/json. Note that a Go
// string is encoded as a JSON string; pass prepared JSON as []byte. The body
// is signed once, and every attempt sends the same bytes, signature and
// X-Request-Id.
//
// A body over MaxPayloadBytes returns a *PayloadTooLargeError, and an invalid
// one an error matching ErrInvalidPayload, with nothing sent. A non-2xx answer
// returns an *APIError; a transport failure or an ended context returns a
// *SendError.
func (c *Client) Send(ctx context.Context, payload any) (*Receipt, error) {
	if c == nil || c.retry == nil {
		return nil, errors.New("lisa: Send on a nil or zero Client; use NewClient")
	}
	if ctx == nil {
		return nil, errors.New("lisa: Send: ctx is nil")
	}
	if err := ctx.Err(); err != nil {
		return nil, &SendError{Err: err}
	}
	body, err := encode(payload)
	if err != nil {
		return nil, err
	}
	return c.send(ctx, body)
}

// encode turns a payload into the bytes to send and checks them.
func encode(payload any) ([]byte, error) {
	var body []byte
	switch p := payload.(type) {
	case nil:
		return nil, fmt.Errorf("%w: payload is nil", ErrInvalidPayload)
	case []byte:
		body = p
	case json.RawMessage:
		body = p
	default:
		b, err := json.Marshal(payload)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidPayload, err)
		}
		// encoding/json produced it: it is valid, only its size is checked.
		if len(b) > MaxPayloadBytes {
			return nil, &PayloadTooLargeError{Size: len(b), Limit: MaxPayloadBytes}
		}
		return b, nil
	}
	if len(body) > MaxPayloadBytes {
		return nil, &PayloadTooLargeError{Size: len(body), Limit: MaxPayloadBytes}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, fmt.Errorf("%w: body is empty", ErrInvalidPayload)
	}
	if !json.Valid(body) {
		return nil, fmt.Errorf("%w: body is not valid JSON", ErrInvalidPayload)
	}
	return body, nil
}

// sendState is what one Send's attempts share. It is also the context of
// the request (the caller's context, embedded), so that the retry policy
// finds it with one allocation instead of a context.WithValue and a struct.
type sendState struct {
	context.Context
	requestID    string
	attempts     int
	attemptStart time.Time
	retryAfter   time.Duration // from the last answer, when hasRA
	hasRA        bool
	stop         string // why a retryable failure was not retried
}

type stateKey struct{}

// Value returns the state itself for stateKey, and defers to the caller's
// context for every other key.
func (st *sendState) Value(key any) any {
	if key == (stateKey{}) {
		return st
	}
	return st.Context.Value(key)
}

func stateFrom(ctx context.Context) *sendState {
	st, _ := ctx.Value(stateKey{}).(*sendState)
	return st
}

// send signs body once and runs the retry loop.
func (c *Client) send(ctx context.Context, body []byte) (*Receipt, error) {
	st := &sendState{Context: ctx}
	req, err := c.newRequest(st, body)
	if err != nil {
		return nil, err
	}
	resp, err := c.retry.Do(req)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		if st.attempts == 0 {
			st.attempts = 1
		}
		return nil, &SendError{RequestID: st.requestID, Attempts: st.attempts, Err: err, stop: st.stop}
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		// Drain a little so the connection can be reused. The answer is in:
		// a body cut short does not undo the acceptance.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxSuccessDrain))
		return &Receipt{StatusCode: resp.StatusCode, RequestID: st.requestID, Attempts: st.attempts, Size: len(body)}, nil
	}
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodyRead))
	apiErr := &APIError{
		StatusCode: resp.StatusCode,
		Body:       redact(string(excerpt), c.creds.apiKey, c.creds.secret),
		RequestID:  st.requestID,
		Attempts:   st.attempts,
		stop:       st.stop,
	}
	if st.hasRA {
		apiErr.RetryAfter = st.retryAfter
	}
	return nil, apiErr
}

// newRequest builds the one request every attempt of a Send reuses: the
// body, its signature, a new request id and the headers.
func (c *Client) newRequest(st *sendState, body []byte) (*retryablehttp.Request, error) {
	id, err := uuid.NewRandom()
	if err != nil {
		return nil, fmt.Errorf("lisa: make request id: %w", err)
	}
	st.requestID = id.String()
	// Built from the URL parsed once in NewClient (a copy, so nothing
	// downstream can change the client's), not by parsing it again.
	u := *c.url
	h := make(http.Header, 5)
	h["Authorization"] = c.creds.authorization
	h["Content-Type"] = c.contentType
	vals := []string{c.signer.Sign(body), st.requestID} // one allocation for both
	h[SignatureHeader] = vals[0:1:1]
	h[RequestIDHeader] = vals[1:2:2]
	h["User-Agent"] = c.userAgent
	hr := (&http.Request{
		Method: http.MethodPost, URL: &u, Host: u.Host, Header: h,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
	}).WithContext(st)
	req, err := retryablehttp.FromRequest(hr)
	if err == nil {
		err = req.SetBody(body)
	}
	if err != nil {
		return nil, fmt.Errorf("lisa: build request: %w", err)
	}
	return req, nil
}

// Preview is the request Send would make, as returned by Client.Preview.
type Preview struct {
	Method string
	URL    string
	// Header holds every header sent, with the API key in Authorization
	// masked. X-Request-Id is a fresh id: each Send makes its own.
	Header http.Header
	// Body is exactly the bytes that would be sent and signed.
	Body []byte
}

// Preview runs everything Send does before the network (encoding, the size
// and validity checks, signing) and returns the request it would send, with
// the API key masked. It sends nothing. The lisa command's -dry-run uses it.
func (c *Client) Preview(payload any) (*Preview, error) {
	if c == nil || c.retry == nil {
		return nil, errors.New("lisa: Preview on a nil or zero Client; use NewClient")
	}
	body, err := encode(payload)
	if err != nil {
		return nil, err
	}
	req, err := c.newRequest(&sendState{Context: context.Background()}, body)
	if err != nil {
		return nil, err
	}
	h := req.Header.Clone()
	h.Set("Authorization", "ApiKey ****")
	return &Preview{Method: req.Method, URL: req.URL.String(), Header: h, Body: body}, nil
}

// logAttemptStart is retryablehttp's RequestLogHook: it stamps the start of
// each attempt for the log line written when the attempt ends.
func (c *Client) logAttemptStart(_ retryablehttp.Logger, req *http.Request, _ int) {
	if st := stateFrom(req.Context()); st != nil {
		st.attemptStart = c.now()
	}
}

// Result is the outcome of one payload of SendAll or SendSeq: exactly one of
// Receipt and Err is set.
type Result struct {
	// Index is the payload's position in the input, from 0.
	Index int
	// Payload is the payload as given, so a failed one can be retried or
	// logged without keeping the input around.
	Payload any
	// Receipt is set when the notification was accepted.
	Receipt *Receipt
	// Err is set when it was not; see Send for the error types.
	Err error
}

// SendAll sends every payload, at most WithConcurrency at a time, and returns
// exactly one Result per payload, in input order. When ctx ends, the payloads
// not yet sent carry ctx's error (wrapped in a *SendError). Nothing is
// dropped.
func (c *Client) SendAll(ctx context.Context, payloads []any) []Result {
	results := make([]Result, len(payloads))
	// The slice is already in memory, so the workers take indices from a
	// counter and write their results in place: no channel hand-offs.
	var next atomic.Int64
	var workers sync.WaitGroup
	for range min(c.concurrency(), len(payloads)) {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for i := int(next.Add(1) - 1); i < len(payloads); i = int(next.Add(1) - 1) {
				rec, err := c.Send(ctx, payloads[i]) // after ctx ends: its error, no I/O
				results[i] = Result{Index: i, Payload: payloads[i], Receipt: rec, Err: err}
			}
		}()
	}
	workers.Wait()
	return results
}

// concurrency is WithConcurrency's value, for a nil or zero Client too.
func (c *Client) concurrency() int {
	if c != nil && c.cfg.concurrency > 0 {
		return c.cfg.concurrency
	}
	return DefaultConcurrency
}

// SendSeq sends the payloads of a sequence as it is read, at most
// WithConcurrency at a time, and yields exactly one Result per payload as
// each finishes (so not in input order: Result.Index says which it was).
// Memory stays bounded by the concurrency, whatever the sequence's length,
// which suits reading a large file line by line.
//
// The sequence is read from another goroutine, one payload at a time. When
// ctx ends, the rest of the sequence is still read and each payload yields
// ctx's error, so every input is accounted for. Stopping the range loop early
// cancels the sends in flight, stops reading the sequence and drops their
// results; SendSeq returns only after its goroutines have ended.
func (c *Client) SendSeq(ctx context.Context, payloads iter.Seq[any]) iter.Seq[Result] {
	return func(yield func(Result) bool) {
		if payloads == nil {
			return
		}
		if ctx == nil {
			yield(Result{Err: errors.New("lisa: SendSeq: ctx is nil")})
			return
		}
		n := c.concurrency()
		inner, cancel := context.WithCancel(ctx)
		type job struct {
			index   int
			payload any
		}
		jobs := make(chan job, n) // the feeder reads ahead by at most n payloads
		out := make(chan Result, n)
		stop := make(chan struct{})
		var workers sync.WaitGroup
		for range n {
			workers.Add(1)
			go func() {
				defer workers.Done()
				for j := range jobs {
					rec, err := c.Send(inner, j.payload)
					out <- Result{Index: j.index, Payload: j.payload, Receipt: rec, Err: err}
				}
			}()
		}
		go func() { // the feeder: the only reader of the sequence
			defer close(jobs)
			i := 0
			for p := range payloads {
				r := Result{Index: i, Payload: p}
				i++
				if ctx.Err() == nil {
					select {
					case jobs <- job{r.Index, p}:
						continue
					case <-stop:
						return
					case <-ctx.Done():
					}
				}
				r.Err = &SendError{Err: ctx.Err()}
				select {
				case out <- r:
				case <-stop:
					return
				}
			}
		}()
		go func() {
			workers.Wait() // the workers end after the feeder closes jobs
			close(out)
		}()
		defer func() {
			close(stop)
			cancel()
			for range out { // let the workers finish, then out is closed
			}
		}()
		for r := range out {
			if !yield(r) {
				return
			}
		}
	}
}
