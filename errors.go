package lisa

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/hashicorp/go-retryablehttp"
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
	// ErrInvalidPayload matches a payload that is not a notification: not
	// valid JSON, not UTF-8, a top-level null, or a value encoding/json
	// refuses. Nothing is sent for it.
	ErrInvalidPayload = errors.New("lisa: invalid payload")
	// ErrNotSent matches a *SendError for a notification of which no request
	// was made: its context had ended, or SendAll or SendSeq stopped the
	// batch after a 401. The error matches the reason too (context.Canceled,
	// ErrUnauthorized …).
	ErrNotSent = errors.New("lisa: not sent")
)

// Why the client stopped retrying a retryable failure. The returned
// *APIError or *SendError matches one of these as well as its own cause, so
// errors.Is(err, ErrServer) and errors.Is(err, ErrRetryBudgetExhausted) can
// both be true. Each means trying the same notification again later may
// succeed (see IsRetryable).
var (
	// ErrRetriesExhausted: every retry WithMaxRetries allows was made.
	ErrRetriesExhausted = errors.New("lisa: retries exhausted")
	// ErrRetryBudgetExhausted: the client's retry budget (WithRetryBudget)
	// was empty, so the failure was returned without retrying.
	ErrRetryBudgetExhausted = errors.New("lisa: retry budget exhausted")
	// ErrRetryAfterTooLong: the server asked, with Retry-After, for a wait
	// longer than MaxRetryAfter. APIError.RetryAfter says how long.
	ErrRetryAfterTooLong = errors.New("lisa: Retry-After longer than the client waits")
	// ErrRetryPastDeadline: the wait before the next attempt (backoff or
	// Retry-After) would end after the context's deadline, so the last
	// answer was returned at once instead of sleeping into the deadline.
	ErrRetryPastDeadline = errors.New("lisa: next retry would start after the deadline")
)

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
// unwraps to the sentinel of its status (see the package documentation), so
// errors.Is(err, ErrUnauthorized) and errors.As(err, &apiErr) both work.
type APIError struct {
	// StatusCode is the HTTP status of the last answer.
	StatusCode int
	// Body is the start of the last answer's body (at most 64 KiB), with
	// the client's API key and secret replaced by [REDACTED] wherever the
	// body spells them, literally or JSON-escaped. When the body was longer,
	// the last few hundred bytes read are dropped too, in case they end with
	// the start of a credential.
	Body string
	// RequestID is the X-Request-Id that every attempt carried.
	RequestID string
	// Attempts is how many requests were made, the first included.
	Attempts int
	// RetryAfter is the wait the server asked for in a Retry-After header,
	// or 0 when it sent none (or an unreadable one).
	RetryAfter time.Duration

	// stop says why the client stopped retrying a retryable answer.
	stop *retryStop
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
	if e.stop != nil {
		b.WriteString("; ")
		b.WriteString(e.stop.detail)
	}
	b.WriteByte(')')
	if ex := excerpt(e.Body, maxErrorExcerpt); ex != "" {
		b.WriteString(": ")
		b.WriteString(ex)
	}
	return b.String()
}

// Unwrap returns the sentinel of the status class (none for 3xx and 4xx
// other than 400, 401, 413 and 429) and, when a retryable answer was not
// retried, the reason (ErrRetriesExhausted, ErrRetryBudgetExhausted …).
func (e *APIError) Unwrap() []error { return joinNonNil(sentinelFor(e.StatusCode), e.stop) }

// joinNonNil returns the errors that are not nil, for Unwrap() []error.
func joinNonNil(a error, b *retryStop) []error {
	switch {
	case a == nil && b == nil:
		return nil
	case b == nil:
		return []error{a}
	case a == nil:
		return []error{b}
	}
	return []error{a, b}
}

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
// failed (connection refused or dropped, a timeout) on the last attempt, the
// context ended, or the notification was not sent at all (Attempts is 0 and
// the error matches ErrNotSent). It unwraps to the cause, so errors.As finds
// the *url.Error or net.Error, and errors.Is finds context.Canceled or
// context.DeadlineExceeded.
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
// the reason (ErrRetriesExhausted, ErrRetryBudgetExhausted …).
func (e *SendError) Unwrap() []error { return joinNonNil(e.Err, e.stop) }

// Is makes a SendError of which no request was made match ErrNotSent.
func (e *SendError) Is(target error) bool { return target == ErrNotSent && e.Attempts == 0 }

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
func (cr *credentials) redact(body []byte, cut bool) string {
	s := string(body)
	longest := 0
	for _, v := range cr.byLength {
		s = strings.ReplaceAll(s, v, "[REDACTED]") // covers bytes the pattern cannot
		longest = max(longest, len(v))
	}
	// Invalid UTF-8 left now becomes U+FFFD, not nothing: dropping it later
	// could join the pieces of a credential again after the patterns ran.
	s = strings.ToValidUTF8(s, "\uFFFD")
	// Every escaped spelling has a backslash; without one the patterns, which
	// cost far more than the literal replace, cannot match.
	for _, re := range cr.echoes {
		if re != nil && strings.Contains(s, `\`) {
			s = re.ReplaceAllLiteralString(s, "[REDACTED]")
		}
	}
	if cut {
		// A JSON spelling takes at most 6 bytes per byte of the credential
		// (\u00XX); a shorter tail than that could be its cut start.
		s = s[:max(0, len(s)-6*longest)]
	}
	return s
}

// jsonSpellings returns a pattern matching v in every way a JSON string can
// spell it: each character as itself, as a \uXXXX escape (either hex case,
// as a surrogate pair beyond the BMP), or as its short escape (\/ \" \\ \n …).
func jsonSpellings(v string) *regexp.Regexp {
	if v == "" {
		return nil
	}
	var b strings.Builder
	for _, r := range v {
		b.WriteString("(?:")
		if r == utf8.RuneError {
			b.WriteString(`\x{fffd}`) // an invalid byte: matched by ReplaceAll instead
		} else {
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
		if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
			fmt.Fprintf(&b, `|\\u(?i:%04x)\\u(?i:%04x)`, r1, r2)
		} else if r <= 0xffff {
			fmt.Fprintf(&b, `|\\u(?i:%04x)`, r)
		}
		if esc, ok := shortEscape(r); ok {
			b.WriteString("|" + regexp.QuoteMeta(esc))
		}
		b.WriteString(")")
	}
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil // cannot happen with quoted input; ReplaceAll still applies
	}
	return re
}

// shortEscape returns JSON's two-character escape of r (RFC 8259 §7).
func shortEscape(r rune) (string, bool) {
	switch r {
	case '"', '\\', '/':
		return `\` + string(r), true
	case '\b':
		return `\b`, true
	case '\f':
		return `\f`, true
	case '\n':
		return `\n`, true
	case '\r':
		return `\r`, true
	case '\t':
		return `\t`, true
	}
	return "", false
}

// IsRetryable reports whether sending the same notification again later may
// succeed. It is true for 429 and 5xx answers (but 501), transport failures
// and attempt timeouts, and any failure the client stopped retrying
// (ErrRetriesExhausted, ErrRetryBudgetExhausted, ErrRetryAfterTooLong,
// ErrRetryPastDeadline). It is false for nil, 400, 401, 413 and other
// answers, invalid or oversize payloads, a context that ended (the caller
// stopped the send), and notifications not sent after a 401.
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
	case errors.Is(err, ErrInvalidPayload), errors.Is(err, ErrPayloadTooLarge), errors.Is(err, ErrUnauthorized):
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

// retryableStatus reports whether an answer with this status is worth
// retrying: 429 and 5xx other than 501 Not Implemented.
func retryableStatus(status int) bool {
	return status == http.StatusTooManyRequests || (status >= 500 && status <= 599 && status != http.StatusNotImplemented)
}
