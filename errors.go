package lisa

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Sentinel errors. Use errors.Is to test for them: an *APIError matches the
// sentinel of its status class, a *PayloadTooLargeError matches
// ErrPayloadTooLarge, and invalid payloads wrap ErrInvalidPayload.
var (
	// ErrBadRequest matches a 400 answer: the signature was missing or
	// malformed, or the body was rejected.
	ErrBadRequest = errors.New("lisa: bad request")
	// ErrUnauthorized matches a 401 answer: wrong API key, secret or
	// signature.
	ErrUnauthorized = errors.New("lisa: unauthorized")
	// ErrPayloadTooLarge matches a 413 answer and the local size check that
	// runs before anything is sent.
	ErrPayloadTooLarge = errors.New("lisa: payload too large")
	// ErrRateLimited matches a 429 answer.
	ErrRateLimited = errors.New("lisa: rate limited")
	// ErrServer matches any 5xx answer.
	ErrServer = errors.New("lisa: server error")
	// ErrInvalidPayload matches a payload that is not valid JSON or that
	// encoding/json refuses. Nothing is sent for it.
	ErrInvalidPayload = errors.New("lisa: invalid payload")
)

// maxErrorBodyRead bounds how much of an error answer's body is read.
const maxErrorBodyRead = 64 << 10

// maxErrorExcerpt bounds how much of the body APIError.Error shows.
const maxErrorExcerpt = 256

// APIError is the error for any answer that is not 2xx, after retries. It
// unwraps to the sentinel of its status (see the package documentation), so
// errors.Is(err, ErrUnauthorized) and errors.As(err, &apiErr) both work.
type APIError struct {
	// StatusCode is the HTTP status of the last answer.
	StatusCode int
	// Body is the start of the last answer's body (at most 64 KiB), with any
	// occurrence of the client's API key or secret replaced by [REDACTED].
	Body string
	// RequestID is the X-Request-Id that every attempt carried.
	RequestID string
	// Attempts is how many requests were made, the first included.
	Attempts int
	// RetryAfter is the wait the server asked for in a Retry-After header,
	// or 0 when it sent none (or an unreadable one).
	RetryAfter time.Duration

	// stop says why the client stopped retrying a retryable answer.
	stop string
}

// Error describes the answer: status, request id, attempts and a short,
// printable excerpt of the body.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("lisa: server answered ")
	b.WriteString(strconv.Itoa(e.StatusCode))
	if text := http.StatusText(e.StatusCode); text != "" {
		b.WriteByte(' ')
		b.WriteString(text)
	}
	fmt.Fprintf(&b, " (request id %s, %d attempt%s", e.RequestID, e.Attempts, plural(e.Attempts))
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, ", retry after %s", e.RetryAfter)
	}
	if e.stop != "" {
		b.WriteString("; ")
		b.WriteString(e.stop)
	}
	b.WriteByte(')')
	if ex := excerpt(e.Body, maxErrorExcerpt); ex != "" {
		b.WriteString(": ")
		b.WriteString(ex)
	}
	return b.String()
}

// Unwrap returns the sentinel of the status class, or nil for a status that
// has none (3xx, and 4xx other than 400, 401, 413 and 429).
func (e *APIError) Unwrap() error { return sentinelFor(e.StatusCode) }

// sentinelFor maps a status to its sentinel.
func sentinelFor(status int) error {
	switch {
	case status == http.StatusBadRequest:
		return ErrBadRequest
	case status == http.StatusUnauthorized:
		return ErrUnauthorized
	case status == http.StatusRequestEntityTooLarge:
		return ErrPayloadTooLarge
	case status == http.StatusTooManyRequests:
		return ErrRateLimited
	case status >= 500 && status <= 599:
		return ErrServer
	}
	return nil
}

// PayloadTooLargeError is returned, before any network I/O, for a body over
// the limit. It matches ErrPayloadTooLarge.
type PayloadTooLargeError struct {
	// Size is the body's length in bytes.
	Size int
	// Limit is the largest body that is sent (MaxPayloadBytes).
	Limit int
}

// Error says how large the body is and what the limit is.
func (e *PayloadTooLargeError) Error() string {
	return fmt.Sprintf("lisa: payload is %d bytes, over the limit of %d bytes; nothing was sent", e.Size, e.Limit)
}

// Unwrap returns ErrPayloadTooLarge.
func (e *PayloadTooLargeError) Unwrap() error { return ErrPayloadTooLarge }

// SendError is the error for a Send that got no answer to map: the transport
// failed (connection refused or dropped, a timeout) on the last attempt, or
// the context ended. It unwraps to the cause, so errors.As finds the
// *url.Error or net.Error, and errors.Is finds context.Canceled or
// context.DeadlineExceeded.
type SendError struct {
	// RequestID is the X-Request-Id that every attempt carried.
	RequestID string
	// Attempts is how many requests were started, the first included.
	Attempts int
	// Err is the cause.
	Err error

	stop string
}

// Error describes the failure with its request id and attempts.
func (e *SendError) Error() string {
	if e.Attempts == 0 {
		return fmt.Sprintf("lisa: not sent: %v", e.Err)
	}
	stop := ""
	if e.stop != "" {
		stop = "; " + e.stop
	}
	return fmt.Sprintf("lisa: send failed (request id %s, %d attempt%s%s): %v",
		e.RequestID, e.Attempts, plural(e.Attempts), stop, e.Err)
}

// Unwrap returns the cause.
func (e *SendError) Unwrap() error { return e.Err }

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
	s = strings.ToValidUTF8(s, "")
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

// redact replaces every occurrence of the non-empty secrets in s.
func redact(s string, secrets ...string) string {
	for _, v := range secrets {
		if v != "" && strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, "[REDACTED]")
		}
	}
	return s
}
