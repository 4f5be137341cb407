package lisariver

import (
	"context"
	"errors"
	"net/http"

	"github.com/hello-lisa/lisa-go"
	"github.com/riverqueue/river"
)

// outcome turns the error of a Send into what River should do with the job,
// once fleet.end has handled the answers that concern the whole plugin (a
// 401, 403 or 404 pauses it; a 429 or 503 with Retry-After pauses it for that
// long; in both cases the job is snoozed, never cancelled):
//
//   - nil: done;
//   - an answer about this one payload (400, 413, 422) or a payload that
//     can never be sent (invalid, oversize): cancel, with the error kept on
//     the job;
//   - anything else (5xx, 429 without Retry-After, transport errors, a
//     context that ended, other answers): the error, so that River retries
//     with its backoff.
func outcome(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if payloadRejected(err) && ctx.Err() == nil {
		return river.JobCancel(err)
	}
	return err
}

// payloadRejected reports whether err is about one payload only: LiSA
// rejected it (400, 413, 422) or it could not be sent at all.
func payloadRejected(err error) bool {
	return errors.Is(err, lisa.ErrInvalidPayload) || errors.Is(err, lisa.ErrPayloadTooLarge) ||
		errors.Is(err, lisa.ErrBadRequest) || errors.Is(err, lisa.ErrUnprocessable)
}

// isRetryAfterStatus reports whether a Retry-After on an answer of this
// status asks for a wait (429, 503).
func isRetryAfterStatus(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable
}
