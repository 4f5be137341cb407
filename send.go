package lisa

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/hashicorp/go-retryablehttp"
)

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
	if err := c.usable(ctx, "Send"); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, &SendError{Err: err}
	}
	growStack()
	body, err := encode(payload)
	if err != nil {
		return nil, err
	}
	return c.send(ctx, body)
}

// encode turns a payload into the bytes to send and checks them: valid
// JSON, UTF-8 (RFC 8259 §8.1), not a top-level null, within the limit.
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
		return nil, &PayloadTooLargeError{Size: len(body), Limit: MaxPayloadBytes}
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
	stop         *retryStop // why a retryable failure was not retried
	heldBody     []byte     // the body of the answer last retried (see checkRetry)
	heldCut      bool       // and whether it may go on

	// Pieces of the request and of reading its answer, here so that the
	// one allocation of the state holds them.
	url        url.URL
	headerVals [2]string    // the signature and the request id
	body       bytes.Reader // the first attempt's body (see newRequest)
	drain      io.LimitedReader

	// The Observer's, when the client has one (observer.go).
	obs     *Observer
	info    *SendInfo
	attempt *AttemptInfo // the attempt in progress
	header  http.Header  // the client's own headers, before any observer's
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

// send signs body once and runs the retry loop. enqueued is what a Queue
// kept for the Observer (see Observer.Enqueued).
func (c *Client) send(ctx context.Context, body []byte, enqueued ...any) (receipt *Receipt, err error) {
	st := &sendState{Context: ctx}
	defer func() { // for Client.Stats (stats.go)
		if receipt == nil && err == nil { // user code panicked or called runtime.Goexit
			err = errCutShort
		}
		c.stats.count(st.attempts, err)
		observeSendDone(st, receipt, err)
	}()
	req, err := c.newRequest(st, body)
	if err != nil {
		return nil, err
	}
	c.observeSendStart(st, len(body), enqueued)
	// The first attempt waits here for the rate limit and any Retry-After
	// cooldown; retries wait in checkRetry (see throttle in ratelimit.go).
	if err := c.throttle.wait(st); err != nil {
		return nil, &SendError{RequestID: st.requestID, Err: err} // nothing sent
	}
	resp, err := c.retry.Do(req)
	if err != nil {
		var held *retryStop // declared here: errors.As moves it to the heap
		if resp != nil && errors.As(err, &held) {
			// An answer called for a retry that the client then held back
			// (ErrThrottled, from checkRetry): that answer is the outcome.
			// Its body was read before the wait.
			st.stop = held
			return nil, c.apiError(st, resp.StatusCode, st.heldBody, st.heldCut)
		}
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
		st.drain = io.LimitedReader{R: resp.Body, N: maxSuccessDrain}
		_, _ = io.Copy(io.Discard, &st.drain)
		return &Receipt{StatusCode: resp.StatusCode, RequestID: st.requestID, Attempts: st.attempts, Size: len(body)}, nil
	}
	errBody, cut := readErrorBody(resp.Body)
	return nil, c.apiError(st, resp.StatusCode, errBody, cut)
}

// readErrorBody reads the start of an error answer's body, up to
// maxErrorBodyRead bytes. cut says the body may go on: the limit was
// reached, or the read failed (a connection dropped mid-body, a timeout).
func readErrorBody(body io.Reader) (b []byte, cut bool) {
	b, err := io.ReadAll(io.LimitReader(body, maxErrorBodyRead))
	return b, err != nil || len(b) == maxErrorBodyRead
}

// apiError is the error of a Send whose last answer, with this status and
// body, was not a success; cut is readErrorBody's.
func (c *Client) apiError(st *sendState, status int, body []byte, cut bool) *APIError {
	apiErr := &APIError{
		StatusCode: status,
		Body:       c.creds().redact(body, cut),
		RequestID:  st.requestID,
		Attempts:   st.attempts,
		stop:       st.stop,
	}
	if st.hasRA {
		apiErr.RetryAfter = st.retryAfter
	}
	return apiErr
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
	st.url = *c.url
	st.headerVals = [2]string{c.signer.Sign(body), st.requestID}
	h := make(http.Header, 5)
	h["Authorization"] = c.creds().authorization
	h["Content-Type"] = c.contentType
	h[SignatureHeader] = st.headerVals[0:1:1]
	h[RequestIDHeader] = st.headerVals[1:2:2]
	h["User-Agent"] = c.userAgent
	hr := (&http.Request{
		Method: http.MethodPost, URL: &st.url, Header: h,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
	}).WithContext(st)
	req, err := retryablehttp.FromRequest(hr) // before the body: it would wrap it
	if err != nil {
		return nil, fmt.Errorf("lisa: build request: %w", err)
	}
	// The first attempt reads the body from st. A retry reads it from a
	// reader of its own (prepareRetry), because net/http may still be
	// closing the last attempt's body when the next begins. io.NopCloser
	// keeps the reader one that net/http sends in the headers' packet.
	st.body.Reset(body)
	hr.Body = io.NopCloser(&st.body)
	hr.ContentLength = int64(len(body))
	hr.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return req, nil
}

// prepareRetry is retryablehttp's PrepareRetry: it gives each retry a body
// reader of its own.
func prepareRetry(req *http.Request) error {
	body, err := req.GetBody()
	req.Body = body
	return err
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
// It also tells the Observer, if any, that the attempt starts.
func (c *Client) logAttemptStart(_ retryablehttp.Logger, req *http.Request, _ int) {
	if st := stateFrom(req.Context()); st != nil {
		if c.logger != nil {
			st.attemptStart = c.now()
		}
		observeAttemptStart(st, req)
	}
}
