// Package lisa is the Go SDK for LiSA's Product Update Notification API: it
// tells LiSA that a product in a shop's catalog changed, by POSTing a JSON
// notification signed with HMAC-SHA256 to
// https://ingest.hello-lisa.com/plugin-notifications/{id}/updates.
//
// # Sending
//
// Create one Client per plugin integration and share it between goroutines:
//
//	client, err := lisa.NewClient(pluginID, apiKey, secret)
//	if err != nil { … }
//	receipt, err := client.Send(ctx, map[string]any{"productId": "123", "price": 19.99})
//
// Send serializes the payload once, signs exactly those bytes, and sends the
// same bytes, signature and X-Request-Id on every attempt. A []byte or
// json.RawMessage payload is sent byte-for-byte after a validity check; any
// other value is encoded with encoding/json. A 2xx answer (202 in the
// documented API) returns a *Receipt; acceptance means LiSA will process the
// update asynchronously.
//
// SendAll sends a slice with bounded concurrency and returns one Result per
// payload, in order. SendSeq does the same for an iter.Seq, yielding results
// as they finish, with memory bounded by the concurrency: use it for large
// files.
//
// # Queue
//
// A request path or an event consumer that must not wait on LiSA hands its
// notifications to a Queue (NewQueue) instead: Enqueue encodes and checks a
// payload, keeps a copy of its bytes and returns at once; workers send it
// with the client's retries. EnqueueKey coalesces by key (a product id): a
// payload still waiting is replaced by the newer one (its result is
// ErrSuperseded), and never are two payloads of one key in flight, so the
// last state enqueued is the last LiSA receives. Every payload taken gets
// exactly one OnResult, which may put a failed payload back; what was not
// delivered (a retryable failure, or what Close's context cut off) is
// written to Spill as one NDJSON line of its exact bytes, which `lisa send
// -ndjson` redelivers. Close(ctx) in a shutdown hook returns by ctx's
// deadline. The queue lives in memory: a crash loses what waits in it; the
// lisariver module delivers durably. WithRateLimit spaces every attempt of a
// client, and a Retry-After holds every Send of the client until it has
// passed (MaxRetryAfter at most). Client.Stats and Queue.Stats are cheap
// counters for a service to export; WithObserver is a hook for tracing (the
// lisaotel module builds OpenTelemetry traces and metrics on it).
//
// # Errors
//
// A non-2xx answer returns an *APIError that matches, with errors.Is, the
// sentinel of its status:
//
//	400 ErrBadRequest      invalid or missing signature, or a rejected body
//	401 ErrUnauthorized    wrong API key, secret or signature
//	403 ErrForbidden       the API key lacks a scope
//	404 ErrNotFound        most likely a wrong plugin id
//	413 ErrPayloadTooLarge body over the 192 KiB limit
//	422 ErrUnprocessable   a well-formed body refused; APIError.Body has details
//	429 ErrRateLimited     too many requests
//	5xx ErrServer          the ingest service failed
//
// Other statuses (3xx, other 4xx) match no sentinel. A body over
// MaxPayloadBytes returns an error matching ErrPayloadTooLarge and an
// invalid one an error matching ErrInvalidPayload, both before any network
// I/O; so are a top-level null and invalid UTF-8. A transport failure or an
// ended context returns a *SendError, which unwraps to the *url.Error or
// context error; its Attempts is 0 when no request was made. Receipt and
// APIError carry the answer's X-RateLimit-Remaining (-1 when absent), so a
// job can slow down before it meets a 429.
//
// IsRetryable tells whether sending the same notification later may
// succeed, and the reason a retryable failure was not retried is typed:
// ErrRetriesExhausted, ErrRetryBudgetExhausted, ErrRetryAfterTooLong or
// ErrRetryPastDeadline, matched beside the answer's own sentinel:
//
//	var apiErr *lisa.APIError
//	switch {
//	case errors.Is(err, lisa.ErrUnauthorized):
//		// check the API key and secret
//	case errors.As(err, &apiErr) && apiErr.RetryAfter > 0:
//		// the server asked to come back later: reschedule
//	case lisa.IsRetryable(err):
//		// keep the notification and try again later
//	}
//
// FailsEveryRequest is true for 401, 403 and 404: answers every request of
// the client would get. SendAll, SendSeq and a Queue stop sending after
// one; the payloads they did not send are a *SendError with Attempts 0 that
// matches the answer's sentinel. A panic in user code on their goroutines
// is raised again in the caller's as a *GoroutinePanic (a Queue reports
// it); user code must not call runtime.Goexit there.
//
// # Retries
//
// Connection errors, timeouts, 429 and 5xx other than 501 are retried, up to
// WithMaxRetries times (default 3), with exponential backoff and jitter
// between WithBackoff's bounds (default 500ms to 30s). A Retry-After on 429 or
// 503 is honoured as given, even past the backoff maximum; when it asks for
// longer than MaxRetryAfter, Send returns the *APIError at once with
// RetryAfter set, so the caller can reschedule, and the client's other
// sends wait MaxRetryAfter at most. Retry-After is read as seconds (RFC
// 9110); LiSA's rate-limit page says seconds in one paragraph and
// milliseconds in the next, so WithRetryAfterUnit(time.Millisecond) is
// there for answers observed in milliseconds. When the wait before the
// next retry, backoff or Retry-After, would end after the context's
// deadline, Send returns the last answer at once instead of sleeping into
// the deadline. An answer that arrived is the outcome even if the context
// ends a moment later: a 202 received is a success, and an answer whose
// headers are too large to read is not sent again (it may have been a
// 202). 4xx answers other than 429 are never retried, and redirects are not
// followed, so the API key never goes to another server.
//
// Retries of all Sends of a Client draw from one budget (WithRetryBudget):
// when the ingest service is down, a bulk sync does not multiply its load.
//
// # Limits
//
// Bodies are at most MaxPayloadBytes (192 KiB). Each attempt is bounded by
// WithTimeout (default 30s); the context bounds the whole call. At most 64 KiB
// of an error answer is read, at most 100 ms is spent reading a 2xx body,
// and, with the client's own transport, 32 KiB of an answer's headers.
// WithTLSConfig trusts a private CA or a TLS proxy while keeping that
// transport and its connection pool; WithHTTPClient replaces it.
//
// # Security
//
// The signature covers the body only, with no timestamp or nonce: a captured
// request could be replayed. HTTPS is what stands against capture, so the
// client refuses plain http except to a loopback host (for local testing),
// and the unique X-Request-Id on each notification lets duplicates be told
// apart. The client never logs or prints the API key, the secret, signatures
// or bodies, and never puts a credential in an error.
//
// # Testing
//
// Package lisatest is a local fake of the ingest endpoint with the documented
// checks and fault injection; point a Client at it with WithBaseURL.
package lisa
