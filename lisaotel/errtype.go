package lisaotel

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strconv"
	"syscall"

	"github.com/hello-lisa/lisa-go"
)

// outcome is the value of OutcomeKey for a Send's error.
func outcome(err error) string {
	var apiErr *lisa.APIError
	switch {
	case err == nil:
		return "accepted"
	case errors.Is(err, lisa.ErrThrottled):
		return "throttled"
	case errors.Is(err, lisa.ErrRetriesExhausted), errors.Is(err, lisa.ErrRetryBudgetExhausted),
		errors.Is(err, lisa.ErrRetryAfterTooLong), errors.Is(err, lisa.ErrRetryPastDeadline):
		return "retries_exhausted"
	case errors.As(err, &apiErr):
		return "rejected"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	}
	return "failed"
}

// attemptErrorType is error.type for an attempt: its status code from 400
// up, the class of its transport error, or "" when it succeeded.
func attemptErrorType(a *lisa.AttemptInfo) string {
	switch {
	case a.StatusCode >= 400:
		return strconv.Itoa(a.StatusCode)
	case a.StatusCode == 0:
		return transportErrorType(a.Err)
	}
	return ""
}

// sendErrorType is error.type for a failed Send: the status of its last
// answer, or what kept it from having one.
func sendErrorType(err error) string {
	var apiErr *lisa.APIError
	switch {
	case errors.As(err, &apiErr):
		return strconv.Itoa(apiErr.StatusCode)
	case errors.Is(err, lisa.ErrThrottled):
		return "throttled"
	}
	return transportErrorType(err)
}

// transportErrorType sorts an error without an answer into a few classes,
// never its text (which may name hosts and ports without end).
func transportErrorType(err error) string {
	var (
		netErr  net.Error
		dnsErr  *net.DNSError
		certErr *tls.CertificateVerificationError
		recErr  tls.RecordHeaderError
		unkAuth x509.UnknownAuthorityError
	)
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.As(err, &dnsErr):
		return "dns"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection_refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection_reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection_closed"
	case errors.As(err, &certErr), errors.As(err, &recErr), errors.As(err, &unkAuth):
		return "tls"
	}
	return "_OTHER"
}
