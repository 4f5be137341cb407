package lisa

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/hashicorp/go-retryablehttp"
)

// Send notifies LiSA of one product update and returns once the server has
// accepted it or the client has given up.
//
// payload is the notification body: a []byte or json.RawMessage is sent
// byte-for-byte as given once it is checked to be valid JSON (it is copied
// first, so the caller may reuse it at once); any other value (a struct, a
// map…) is encoded once with encoding/json. A Go string is encoded as a
// JSON string: pass prepared JSON as []byte. The body is signed once, and
// every attempt sends the same bytes, signature and X-Request-Id.
//
// A body over MaxPayloadBytes returns an error matching ErrPayloadTooLarge,
// and an invalid one an error matching ErrInvalidPayload, with nothing sent.
// A non-2xx answer returns an *APIError; a transport failure or an ended
// context returns a *SendError.
//
// Delivery is at least once. A notification whose answer was lost (a
// dropped connection, an attempt timeout) is sent again, and the server
// may have accepted both. So may a 202 that arrives just as ctx is
// cancelled: the Send reports context.Canceled (measured at well under 1%
// of sends cancelled within a fraction of a millisecond of the answer).
// X-Request-Id, the same on every attempt, tells such duplicates apart.
func (c *Client) Send(ctx context.Context, payload any) (*Receipt, error) {
	if err := c.usable(ctx, "Send"); err != nil {
		return nil, err
	}
	body, err := encode(payload)
	if err != nil {
		return nil, err
	}
	return c.send(ctx, body, nil)
}

// encode turns a payload into the bytes to send and checks them: valid
// JSON, UTF-8 (RFC 8259 §8.1), not a top-level null, within the limit.
// Bytes given are copied: the caller, a Queue or SendSeq may reuse theirs.
func encode(payload any) ([]byte, error) {
	var body []byte
	given := true // bytes as given, not encoding/json's output
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
		body, given = b, false
	}
	if len(body) > MaxPayloadBytes {
		return nil, fmt.Errorf("%w: payload is %d bytes, over the limit of %d bytes; nothing was sent", ErrPayloadTooLarge, len(body), MaxPayloadBytes)
	}
	switch trimmed := bytes.TrimSpace(body); {
	case len(trimmed) == 0:
		return nil, fmt.Errorf("%w: body is empty", ErrInvalidPayload)
	case string(trimmed) == "null":
		return nil, fmt.Errorf("%w: body is null (a nil pointer or map?)", ErrInvalidPayload)
	}
	// encoding/json does not check UTF-8: a json.RawMessage field or a
	// MarshalJSON can put invalid UTF-8 in its output.
	if !utf8.Valid(body) {
		return nil, fmt.Errorf("%w: body is not valid UTF-8", ErrInvalidPayload)
	}
	if given && !json.Valid(body) { // encoding/json's output is valid JSON
		return nil, fmt.Errorf("%w: body is not valid JSON", ErrInvalidPayload)
	}
	if given {
		body = bytes.Clone(body) // checked first: a huge slice is refused, not copied
	}
	return body, nil
}

// attempts is the state of one Send: its request, and what the last
// answer said. Its methods are the hooks of the retryablehttp.Client made
// for this Send, so each finds the state without going through a context.
type attempts struct {
	c         *Client
	rc        retryablehttp.Client // made for this Send, its hooks are the methods below
	hc        http.Client          // its HTTPClient; the transport is a itself
	body      []byte
	requestID string
	header    http.Header
	perSend   [2]string // the signature and the request id, header values
	info      SendInfo  // for the Observer

	n          int       // attempts started
	started    time.Time // when the last one started, for the log
	status     int       // the last answer's status; 0 when the last attempt got none
	errBody    []byte    // the last non-2xx answer's body, read before any retry
	cut        bool      // and whether it may go on
	retryAfter time.Duration
	hasRA      bool
	remaining  int           // X-RateLimit-Remaining, -1 when none
	wait       time.Duration // before the next attempt, decided by checkRetry
	stop       *retryStop    // why a retryable failure was not retried
	lastErr    error         // the last attempt's transport error
	unreadable error         // an answer came that could not be read
	token      bool          // a retry-budget token is held for a retry not started
	endAttempt func()        // releases the attempt's timeout once its answer is read
}

// send signs body once and runs the attempts: the path of every
// notification, whichever API it came from.
func (c *Client) send(ctx context.Context, body []byte, enqueued []any) (receipt *Receipt, err error) {
	a, err := c.newAttempts(body)
	if err != nil {
		return nil, err
	}
	a.info.Enqueued = enqueued
	if o := c.observer; o != nil && o.SendStart != nil {
		if octx := o.SendStart(ctx, &a.info); octx != nil {
			ctx = octx
		}
	}
	defer func() {
		if receipt == nil && err == nil { // user code panicked in the transport
			err = errCutShort
		}
		c.stats.count(a.n, err)
		if o := c.observer; o != nil && o.SendDone != nil {
			a.info.Attempts, a.info.Receipt, a.info.Err = a.n, receipt, err
			o.SendDone(ctx, &a.info)
		}
	}()
	if err := c.throttle.wait(ctx, c); err != nil { // the first attempt's turn
		return nil, &SendError{RequestID: a.requestID, Err: err}
	}
	u := *c.url // a copy: nothing downstream can change the client's
	req, err := retryablehttp.FromRequest((&http.Request{
		Method: http.MethodPost, URL: &u, Header: a.header,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
	}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("lisa: build request: %w", err)
	}
	if err := req.SetBody(body); err != nil { // each attempt reads it anew
		return nil, fmt.Errorf("lisa: build request: %w", err)
	}
	a.hc = http.Client{
		Transport:     a, // times, counts and observes each attempt (RoundTrip below)
		Jar:           c.jar,
		CheckRedirect: noRedirects,
	}
	a.rc = retryablehttp.Client{
		HTTPClient:   &a.hc,
		RetryMax:     c.cfg.maxRetries,
		CheckRetry:   a.checkRetry,   // which failures to retry (retry.go)
		Backoff:      a.backoff,      // how long to wait (retry.go)
		PrepareRetry: a.prepareRetry, // the rate limit and cooldown, before a retry
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	resp, err := a.rc.Do(req)
	return a.outcome(ctx, resp, err)
}

// newAttempts prepares the one request every attempt sends: the body, its
// signature, a new request id and the headers.
func (c *Client) newAttempts(body []byte) (*attempts, error) {
	id, err := uuid.NewRandom()
	if err != nil {
		return nil, fmt.Errorf("lisa: make request id: %w", err)
	}
	a := &attempts{c: c, body: body, requestID: id.String(), remaining: -1}
	a.perSend = [2]string{c.signer.Sign(body), a.requestID}
	a.header = http.Header{ // the client's values are shared, read-only
		"Authorization": c.creds().authorization,
		"Content-Type":  c.fixedHeader.contentType,
		"User-Agent":    c.fixedHeader.userAgent,
		SignatureHeader: a.perSend[0:1:1],
		RequestIDHeader: a.perSend[1:2:2],
	}
	a.info = SendInfo{RequestID: a.requestID, Size: len(body)}
	return a, nil
}

// RoundTrip makes one attempt through the client's transport, bounded by
// WithTimeout until its answer has been read. It is the transport of this
// Send's http.Client, so that each attempt is timed, counted and observed.
// It has no CloseIdleConnections: retryablehttp calls that after every
// failed Send, and it would close the connections other sends share.
func (a *attempts) RoundTrip(req *http.Request) (*http.Response, error) {
	a.n++
	a.status = 0
	a.started = time.Now()
	req, info := a.observeAttemptStart(req)
	ctx, cancel := context.WithTimeoutCause(req.Context(), a.c.cfg.timeout, errAttemptTimedOut)
	a.endAttempt = cancel
	if info != nil { // a transport that panics still ends the attempt for the observer
		defer func() {
			if v := recover(); v != nil {
				a.observeAttemptDone(req.Context(), info, nil, fmt.Errorf("lisa: panic in the transport: %v", v))
				panic(v)
			}
		}()
	}
	resp, err := a.c.transport.RoundTrip(req.WithContext(ctx))
	if err == nil && resp == nil { // a RoundTripper breaking its contract
		err = fmt.Errorf("lisa: RoundTripper %T returned a nil *http.Response with a nil error", a.c.transport)
	}
	if err != nil {
		if context.Cause(ctx) == errAttemptTimedOut {
			err = &attemptTimeoutError{after: a.c.cfg.timeout}
		}
		err = a.c.creds().scrub(err)
		resp = nil
		cancel()
	}
	a.observeAttemptDone(req.Context(), info, resp, err)
	return resp, err
}

// outcome maps what the attempts ended with to Send's result.
func (a *attempts) outcome(ctx context.Context, resp *http.Response, err error) (*Receipt, error) {
	if a.token && a.c.budget != nil { // a retry paid for never ran
		a.c.budget.refill()
	}
	if a.endAttempt != nil {
		defer a.endAttempt()
	}
	if err == nil && resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		drainPromptly(resp)
		return &Receipt{StatusCode: resp.StatusCode, RequestID: a.requestID, Attempts: a.n, Size: len(a.body), RateLimitRemaining: a.remaining}, nil
	}
	if resp != nil {
		resp.Body.Close() // its body was read in checkRetry
	}
	var held *retryStop
	switch {
	case a.unreadable != nil:
		return nil, &SendError{RequestID: a.requestID, Attempts: a.n, Err: a.unreadable}
	case err == nil, a.status != 0 && errors.As(err, &held):
		// An answer ended it, or called for a retry that the client then
		// held back (ErrThrottled): that answer is the outcome.
		if held != nil {
			a.stop = held
		}
		return nil, a.apiError()
	case errors.As(err, &held) && a.lastErr != nil:
		// The retry of a transport failure was held back: keep the failure.
		return nil, &SendError{RequestID: a.requestID, Attempts: a.n, Err: a.lastErr, stop: held}
	}
	return nil, &SendError{RequestID: a.requestID, Attempts: a.n, Err: err, stop: a.stop}
}

// apiError is the error of a Send whose last answer was not a success.
func (a *attempts) apiError() *APIError {
	e := &APIError{
		StatusCode:         a.status,
		Body:               a.c.creds().redact(a.errBody, a.cut),
		RequestID:          a.requestID,
		Attempts:           a.n,
		RateLimitRemaining: a.remaining,
		stop:               a.stop,
	}
	if a.hasRA {
		e.RetryAfter = a.retryAfter
	}
	return e
}

// maxSuccessDrain and successDrainTime bound what is read of a 2xx body
// (so that the connection can be reused): the answer is in, and a body
// that trickles must not hold the Send.
const (
	maxSuccessDrain  = 64 << 10
	successDrainTime = 100 * time.Millisecond
)

// drainPromptly reads what arrives of the answer's body within
// successDrainTime, then closes it.
func drainPromptly(resp *http.Response) {
	body := resp.Body
	defer body.Close()
	if resp.ContentLength == 0 { // the usual empty 202: nothing to wait for
		return
	}
	t := time.AfterFunc(successDrainTime, func() { body.Close() })
	defer t.Stop()
	_, _ = io.Copy(io.Discard, io.LimitReader(body, maxSuccessDrain))
}

// readErrorBody reads the start of an error answer's body, up to
// maxErrorBodyRead bytes. cut says the body may go on: the limit was
// reached, or the read failed (a connection dropped mid-body, a timeout).
func readErrorBody(body io.Reader) (b []byte, cut bool) {
	b, err := io.ReadAll(io.LimitReader(body, maxErrorBodyRead))
	return b, err != nil || len(b) == maxErrorBodyRead
}

// usable checks what every send needs: a Client made by NewClient and a
// context.
func (c *Client) usable(ctx context.Context, method string) error {
	if c == nil || c.endpoint == "" {
		return fmt.Errorf("lisa: %s on a nil or zero Client; use NewClient", method)
	}
	if ctx == nil {
		return fmt.Errorf("lisa: %s: ctx is nil", method)
	}
	return nil
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
	if err := c.usable(context.Background(), "Preview"); err != nil {
		return nil, err
	}
	body, err := encode(payload)
	if err != nil {
		return nil, err
	}
	a, err := c.newAttempts(body)
	if err != nil {
		return nil, err
	}
	h := a.header.Clone()
	h.Set("Authorization", "ApiKey ****")
	return &Preview{Method: http.MethodPost, URL: c.endpoint, Header: h, Body: body}, nil
}

// noRedirects is the CheckRedirect of every Send: a POST carrying the API
// key never goes to another server.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
