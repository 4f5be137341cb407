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
// payload at once and returns in about a microsecond; workers send it with
// the client's retries. EnqueueKey coalesces by key (a product id): a
// payload still waiting is replaced by the newer one (its result is
// ErrSuperseded), and never are two payloads of one key in flight, so the
// last state enqueued is the last LiSA receives. Every payload taken gets
// exactly one OnResult; what was not delivered (a retryable failure, or
// what Close's context cut off) is written to Spill as one NDJSON line of
// its exact bytes, which `lisa send -ndjson` redelivers. Close(ctx) in a
// shutdown hook returns by ctx's deadline. WithRateLimit spaces every
// attempt of a client, and a Retry-After holds every Send of the client
// until it has passed. Client.Stats and Queue.Stats are cheap counters for
// a service to export.
//
// # Errors
//
// A non-2xx answer returns an *APIError that matches, with errors.Is, the
// sentinel of its status:
//
//	400 ErrBadRequest      invalid or missing signature, or a rejected body
//	401 ErrUnauthorized    wrong API key, secret or signature
//	413 ErrPayloadTooLarge body over the 192 KiB limit
//	429 ErrRateLimited     too many requests
//	5xx ErrServer          the ingest service failed
//
// Other statuses (3xx, other 4xx) match no sentinel. A body over
// MaxPayloadBytes returns a *PayloadTooLargeError (matching
// ErrPayloadTooLarge) and an invalid one an error matching ErrInvalidPayload,
// both before any network I/O; so are a top-level null and invalid UTF-8.
// A transport failure or an ended context returns a *SendError, which
// unwraps to the *url.Error or context error; one for which no request was
// made also matches ErrNotSent.
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
// SendAll and SendSeq stop starting sends after a 401; the payloads they
// did not send match ErrNotSent and ErrUnauthorized. A panic in user code
// on their goroutines is raised again in the caller's as a
// *GoroutinePanic, and a runtime.Goexit there is repeated in the caller's.
//
// # Retries
//
// Connection errors, timeouts, 429 and 5xx other than 501 are retried, up to
// WithMaxRetries times (default 3), with exponential backoff and jitter
// between WithBackoff's bounds (default 500ms to 30s). A Retry-After on 429 or
// 503 is honoured as given, even past the backoff maximum; when it asks for
// longer than MaxRetryAfter, Send returns the *APIError at once with
// RetryAfter set, so the caller can reschedule. When the wait before the
// next retry, backoff or Retry-After, would end after the context's
// deadline, Send returns the last answer at once instead of sleeping into
// the deadline. An answer that arrived is the outcome even if the context
// ends a moment later: a 202 received is a success. 400, 401, 413 and other 4xx are never
// retried, and redirects are not followed, so the API key never goes to
// another server.
//
// Retries of all Sends of a Client draw from one budget (WithRetryBudget):
// when the ingest service is down, a bulk sync does not multiply its load.
//
// # Limits
//
// Bodies are at most MaxPayloadBytes (192 KiB). Each attempt is bounded by
// WithTimeout (default 30s); the context bounds the whole call. At most 64 KiB
// of an error answer is read, and, with the default transport, 32 KiB of
// an answer's headers.
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
