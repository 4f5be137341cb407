package lisariver

import (
	"context"
	"errors"
	"net/http"

	"github.com/hello-lisa/lisa-go"
	"github.com/riverqueue/river"
)

// outcome turns the error of a Send into what River should do with the job:
//
//   - nil: done;
//   - 429 or 503 with a Retry-After the client did not wait out: snooze for
//     that long (a snooze does not use up an attempt);
//   - anything worth trying again (lisa.IsRetryable), and a context that
//     ended (a shutdown or the job's timeout): the error, so that River
//     retries with its backoff;
//   - anything else (400, 401, 413, other answers, invalid or oversize
//     payloads): cancel, never retried, with the error kept on the job.
func outcome(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var apiErr *lisa.APIError
	if errors.As(err, &apiErr) && apiErr.RetryAfter > 0 &&
		(apiErr.StatusCode == http.StatusTooManyRequests || apiErr.StatusCode == http.StatusServiceUnavailable) {
		return river.JobSnooze(apiErr.RetryAfter)
	}
	if lisa.IsRetryable(err) || ctx.Err() != nil ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return river.JobCancel(err)
}
