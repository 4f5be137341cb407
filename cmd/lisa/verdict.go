package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/hello-lisa/lisa-go"
)

// What an error means for the line that got it. The SDK says what happened;
// these say where the line goes and whether the run goes on.

// rejectedForGood reports whether the payload can never be accepted as it
// is: not JSON, over the limit, or answered 400, 413 or 422.
func rejectedForGood(err error) bool {
	return errors.Is(err, lisa.ErrInvalidPayload) || errors.Is(err, lisa.ErrPayloadTooLarge) ||
		errors.Is(err, lisa.ErrBadRequest) || errors.Is(err, lisa.ErrUnprocessable)
}

// failsEveryRequest reports whether err is an answer that every line of the
// plugin would get: 401, 403 or 404. The lines the SDK did not send after
// one match it too, but are not an answer.
func failsEveryRequest(err error) bool {
	return lisa.FailsEveryRequest(err) && !notSent(err)
}

// statusOf is the status of the answer err carries, or 0 for none.
func statusOf(err error) int {
	var apiErr *lisa.APIError
	if errors.As(err, &apiErr) {
		return apiErr.StatusCode
	}
	return 0
}

// notSent reports whether no request was made for the line.
func notSent(err error) bool {
	var se *lisa.SendError
	return errors.As(err, &se) && se.Attempts == 0
}

// noAnswer reports whether requests were made for the line and none was
// answered (connection refused or dropped, a timeout), after the client
// stopped retrying; not when the run itself cancelled them.
func noAnswer(err error) bool {
	var se *lisa.SendError
	return errors.As(err, &se) && se.Attempts > 0 && !errors.Is(err, context.Canceled)
}

// kind names a failure for grouping repeats on stderr: the status of an
// answer, the cause of no answer, or the class of a refused payload.
func kind(err error) string {
	if code := statusOf(err); code != 0 {
		return fmt.Sprintf("%d %s", code, http.StatusText(code))
	}
	switch {
	case errors.Is(err, lisa.ErrInvalidPayload):
		return "not a JSON document"
	case errors.Is(err, lisa.ErrPayloadTooLarge):
		return "over the size limit"
	case notSent(err):
		return "not sent"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return "no answer: " + ue.Err.Error()
	}
	var se *lisa.SendError
	if errors.As(err, &se) {
		return "no answer: " + fmt.Sprint(se.Err)
	}
	return err.Error()
}

// failsEveryHint says what to check after an answer that fails every line.
func failsEveryHint(err error) string {
	switch statusOf(err) {
	case http.StatusUnauthorized:
		return "check LISA_PLUGIN_ID, LISA_API_KEY and LISA_SECRET"
	case http.StatusForbidden:
		return "the API key lacks a scope this plugin needs: ask for it on the plugins page of the LiSA Console"
	default:
		return "check LISA_PLUGIN_ID (the plugin id from the plugins page of the LiSA Console) and LISA_BASE_URL"
	}
}
