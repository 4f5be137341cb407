package lisa

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/hello-lisa/lisa-go/internal/redact"
)

// Sentinel errors for answers. Use errors.Is: an *APIError matches the
// sentinel of its status.
var (
	// ErrBadRequest matches a 400 answer: the signature was missing or
	// malformed, or the body was rejected.
	ErrBadRequest = errors.New("lisa: bad request")
	// ErrUnauthorized matches a 401 answer: wrong API key, secret or
	// signature.
	ErrUnauthorized = errors.New("lisa: unauthorized")
	// ErrForbidden matches a 403 answer: the API key lacks a scope.
	ErrForbidden = errors.New("lisa: forbidden")
	// ErrNotFound matches a 404 answer: most likely a wrong plugin id.
	ErrNotFound = errors.New("lisa: not found")
	// ErrPayloadTooLarge matches a 413 answer and the local size check that
	// runs before anything is sent.
	ErrPayloadTooLarge = errors.New("lisa: payload too large")
	// ErrUnprocessable matches a 422 answer: the body was well-formed but
	// refused; APIError.Body has LiSA's details.
	ErrUnprocessable = errors.New("lisa: unprocessable payload")
	// ErrRateLimited matches a 429 answer.
	ErrRateLimited = errors.New("lisa: rate limited")
	// ErrServer matches any 5xx answer.
	ErrServer = errors.New("lisa: server error")
)

// Sentinel errors for what the client decides.
var (
	// ErrInvalidPayload matches a payload that is not a notification: not
	// valid JSON, not UTF-8, a top-level null, or a value encoding/json
	// refuses. Nothing is sent for it.
	ErrInvalidPayload = errors.New("lisa: invalid payload")
	// ErrThrottled matches a Send that the client itself held back: its
	// rate limit (WithRateLimit) or a cooldown after a Retry-After would
	// have kept the next attempt waiting past the context's deadline. When
	// a retry was held back, the error is the last answer's *APIError.
	ErrThrottled = errors.New("lisa: throttled by the client")
	// ErrQueueFull is returned by Enqueue when the queue holds MaxItems
	// payloads or MaxBytes bytes, at once or, with Block, when its context
	// ends before there is room. Nothing was queued.
	ErrQueueFull = errors.New("lisa: queue full")
	// ErrQueueClosed is returned by Enqueue after Close. The results of
	// payloads that Close did not deliver match it too.
	ErrQueueClosed = errors.New("lisa: queue closed")
	// ErrSuperseded is the Err of a payload that EnqueueKey replaced with a
	// newer payload for the same key before it was sent.
	ErrSuperseded = errors.New("lisa: superseded by a newer payload with the same key")
)

// Why the client stopped retrying a retryable failure. The *APIError or
// *SendError matches one of these as well as its own cause, so
// errors.Is(err, ErrServer) and errors.Is(err, ErrRetriesExhausted) can
// both be true. Each means trying again later may succeed (IsRetryable).
var (
	// ErrRetriesExhausted: every retry WithMaxRetries allows was made.
	ErrRetriesExhausted = errors.New("lisa: retries exhausted")
	// ErrRetryBudgetExhausted: the client's retry budget (WithRetryBudget)
	// was empty, so the failure was returned without retrying.
	ErrRetryBudgetExhausted = errors.New("lisa: retry budget exhausted")
	// ErrRetryAfterTooLong: the server asked, with Retry-After, for a wait
	// longer than MaxRetryAfter. APIError.RetryAfter says how long.
	ErrRetryAfterTooLong = errors.New("lisa: Retry-After longer than the client waits")
	// ErrRetryPastDeadline: the wait before the next attempt would end after
	// the context's deadline, so the last failure was returned at once.
	ErrRetryPastDeadline = errors.New("lisa: next retry would start after the deadline")
)

// FailsEveryRequest reports whether err is an answer that every request of
// this client would get too: 401 (API key or secret), 403 (scope) or 404
// (plugin id). SendAll, SendSeq and a Queue stop sending after one; a
// caller with its own loop should too, and keep what it has not sent.
func FailsEveryRequest(err error) bool {
	return errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrForbidden) || errors.Is(err, ErrNotFound)
}

// stoppedBy is the cause given to what a batch or a queue did not send
// after an answer that FailsEveryRequest: it matches that answer's sentinel
// (not the *APIError itself, which describes one request).
func stoppedBy(answer error, what string) error {
	var apiErr *APIError
	if !errors.As(answer, &apiErr) {
		return answer
	}
	return fmt.Errorf("%s after an answer %d (check the plugin id, API key and secret): %w", what, apiErr.StatusCode, sentinelFor(apiErr.StatusCode))
}

// retryStop says why a retryable failure was not retried: a readable detail
// that matches one of the sentinels above.
type retryStop struct {
	reason error
	detail string
}

func (s *retryStop) Error() string { return s.detail }
func (s *retryStop) Unwrap() error { return s.reason }

func stopf(reason error, format string, args ...any) *retryStop {
	return &retryStop{reason: reason, detail: fmt.Sprintf(format, args...)}
}

// maxErrorBodyRead bounds how much of an error answer's body is read.
const maxErrorBodyRead = 64 << 10

// maxErrorExcerpt bounds how much of the body APIError.Error shows.
const maxErrorExcerpt = 256

// APIError is the error for any answer that is not 2xx, after retries. It
// matches the sentinel of its status, so errors.Is(err, ErrUnauthorized)
// and errors.As(err, &apiErr) both work.
type APIError struct {
	// StatusCode is the HTTP status of the last answer.
	StatusCode int
	// Body is the start of the last answer's body (at most 64 KiB), with
	// the client's API key and secret replaced by [REDACTED] wherever the
	// body spells them, literally or JSON-escaped. When the body was longer,
	// its last few hundred bytes read are dropped too, in case they end with
	// the start of a credential. For a 422, it holds LiSA's details.
	Body string
	// RequestID is the X-Request-Id that every attempt carried.
	RequestID string
	// Attempts is how many requests were made, the first included.
	Attempts int
	// RetryAfter is the wait the server asked for in a Retry-After header,
	// or 0 when it sent none (or an unreadable one).
	RetryAfter time.Duration
	// RateLimitRemaining is the answer's X-RateLimit-Remaining, or -1.
	RateLimitRemaining int

	stop *retryStop // why the client stopped retrying a retryable answer
}

// Error describes the answer: status, request id, attempts and a short,
// printable excerpt of the body.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("lisa: server answered ")
	b.WriteString(strconv.Itoa(e.StatusCode))
	if text := http.StatusText(e.StatusCode); text != "" {
		b.WriteString(" " + text)
	}
	fmt.Fprintf(&b, " (request id %s, %d attempt%s", e.RequestID, e.Attempts, plural(e.Attempts))
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, ", retry after %s", e.RetryAfter)
	}
	if e.stop != nil {
		b.WriteString("; " + e.stop.detail)
	}
	b.WriteByte(')')
	if ex := excerpt(e.Body, maxErrorExcerpt); ex != "" {
		b.WriteString(": " + ex)
	}
	return b.String()
}

// Unwrap returns the sentinel of the status (none for statuses without
// one) and, when a retryable answer was not retried, the reason.
func (e *APIError) Unwrap() []error { return nonNil(sentinelFor(e.StatusCode), e.stop) }

// sentinelFor maps a status to its sentinel.
func sentinelFor(status int) error {
	switch {
	case status == http.StatusBadRequest:
		return ErrBadRequest
	case status == http.StatusUnauthorized:
		return ErrUnauthorized
	case status == http.StatusForbidden:
		return ErrForbidden
	case status == http.StatusNotFound:
		return ErrNotFound
	case status == http.StatusRequestEntityTooLarge:
		return ErrPayloadTooLarge
	case status == http.StatusUnprocessableEntity:
		return ErrUnprocessable
	case status == http.StatusTooManyRequests:
		return ErrRateLimited
	case status >= 500 && status <= 599:
		return ErrServer
	}
	return nil
}

// SendError is the error for a Send that got no answer to map: the transport
// failed (connection refused or dropped, a timeout) on the last attempt, the
// context ended, or the notification was not sent at all (Attempts is 0:
// its context had ended, or a batch or queue stopped after an answer that
// FailsEveryRequest). It unwraps to the cause, so errors.As finds the
// *url.Error or net.Error, and errors.Is finds context.Canceled or
// ErrUnauthorized.
type SendError struct {
	// RequestID is the X-Request-Id that every attempt carried; empty when
	// nothing was sent.
	RequestID string
	// Attempts is how many requests were started, the first included.
	Attempts int
	// Err is the cause.
	Err error

	stop *retryStop
}

// Error describes the failure with its request id and attempts.
func (e *SendError) Error() string {
	if e.Attempts == 0 {
		return "lisa: not sent: " + strings.TrimPrefix(fmt.Sprint(e.Err), "lisa: ")
	}
	stop := ""
	if e.stop != nil {
		stop = "; " + e.stop.detail
	}
	return fmt.Sprintf("lisa: send failed (request id %s, %d attempt%s%s): %v",
		e.RequestID, e.Attempts, plural(e.Attempts), stop, e.Err)
}

// Unwrap returns the cause and, when a retryable failure was not retried,
// the reason.
func (e *SendError) Unwrap() []error { return nonNil(e.Err, e.stop) }

// nonNil returns the errors that are not nil, for Unwrap() []error.
func nonNil(a error, b *retryStop) []error {
	out := make([]error, 0, 2)
	if a != nil {
		out = append(out, a)
	}
	if b != nil {
		out = append(out, b)
	}
	return out
}

// errUnreadableAnswer matches the error of a Send whose answer came but
// could not be read. It is not retried: the answer may have been an
// acceptance.
var errUnreadableAnswer = errors.New("lisa: the server answered, but the answer could not be read (malformed, or headers over 32 KiB); the notification may have been accepted, so it was not sent again")

// unreadableAnswers are net/http's messages, for HTTP/1 and HTTP/2, for an
// answer that came but that it refused to parse; it exports no type for
// them.
var unreadableAnswers = []string{
	"server response headers exceeded", // over MaxResponseHeaderBytes
	"header list larger than",          // the same, HTTP/2
	"connection error: PROTOCOL_ERROR", // HTTP/2 frames the client could not decode
	"malformed HTTP",                   // status line
	"malformed MIME header",            // header lines
	"Content-Length",                   // missing, repeated or invalid
	"unsupported transfer encoding",
}

// isUnreadableAnswer reports whether a transport error says the answer
// came but could not be parsed.
func isUnreadableAnswer(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	for _, s := range unreadableAnswers {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// scrub returns err with its text free of the credentials: net/http quotes
// a malformed answer, and a server or proxy may echo the Authorization
// header in it. The original stays reachable with errors.As.
func (cr credentials) scrub(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if clean := redact.Secrets(msg, "[REDACTED]", cr.apiKey, cr.secret); clean != msg {
		return &scrubbedError{msg: clean, err: err}
	}
	return err
}

// scrubbedError is an error whose text had a credential in it.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// errAttemptTimedOut is the cause given to the context of an attempt that
// WithTimeout ends.
var errAttemptTimedOut = errors.New("lisa: attempt timed out")

// attemptTimeoutError is the error of an attempt that WithTimeout ended
// (the caller's context had not). It is a net.Error whose Timeout is true,
// and matches context.DeadlineExceeded, as a context.WithTimeout's would.
type attemptTimeoutError struct{ after time.Duration }

func (e *attemptTimeoutError) Error() string {
	return fmt.Sprintf("lisa: attempt timed out after %s", e.after)
}
func (e *attemptTimeoutError) Timeout() bool   { return true }
func (e *attemptTimeoutError) Temporary() bool { return true }
func (e *attemptTimeoutError) Unwrap() error   { return context.DeadlineExceeded }

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// excerpt returns at most n bytes of s as one printable line of valid UTF-8.
func excerpt(s string, n int) string {
	cut := false
	if len(s) > n {
		s, cut = s[:n], true
	}
	s = strings.ToValidUTF8(s, "\uFFFD") // not "": that could join two pieces
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if cut {
		s += "…"
	}
	return s
}

// redact returns an error answer's body with every spelling of the API key
// and the secret replaced by [REDACTED]. When the read was cut short, the
// tail that could hold the start of a credential is dropped as well.
func (cr credentials) redact(body []byte, cut bool) string {
	s := strings.ToValidUTF8(string(body), "\uFFFD")
	s = redact.Secrets(s, "[REDACTED]", cr.apiKey, cr.secret)
	if cut {
		// A JSON spelling takes at most 12 bytes per character of the
		// credential (a surrogate pair); a shorter tail than that could be
		// its cut start.
		s = s[:max(0, len(s)-12*max(len(cr.apiKey), len(cr.secret)))]
		s = strings.ToValidUTF8(s, "") // the cut may split a character
	}
	return s
}

// IsRetryable reports whether sending the same notification again later may
// succeed. It is true for 429 and 5xx answers (but 501), transport failures
// and attempt timeouts, and any failure the client stopped retrying
// (ErrRetriesExhausted, ErrRetryBudgetExhausted, ErrRetryAfterTooLong,
// ErrRetryPastDeadline, ErrThrottled). It is false for nil, 4xx answers
// other than 429, invalid or oversize payloads, a context that ended (the
// caller stopped the send), an answer too large to read (it may have been
// an acceptance), and notifications not sent after an answer that
// FailsEveryRequest.
func IsRetryable(err error) bool {
	var (
		apiErr  *APIError
		stop    *retryStop
		timeout *attemptTimeoutError
		urlErr  *url.Error
	)
	switch {
	case err == nil:
		return false
	case errors.As(err, &stop):
		return true
	case errors.As(err, &apiErr):
		return retryableStatus(apiErr.StatusCode)
	case errors.Is(err, ErrInvalidPayload), errors.Is(err, ErrPayloadTooLarge), FailsEveryRequest(err), errors.Is(err, errUnreadableAnswer):
		return false
	case errors.As(err, &timeout):
		return true
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case errors.As(err, &urlErr):
		// retryablehttp's own judgement: not for TLS certificate, scheme or
		// header errors, which recur.
		retry, _ := retryablehttp.DefaultRetryPolicy(context.Background(), nil, urlErr)
		return retry
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}
