package lisa

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// QueueOptions configures a Queue. The zero value is usable: defaults
// apply, and results go nowhere but Stats and Close's error.
type QueueOptions struct {
	// Workers is how many payloads are sent at once, from 1 to 1024; 0
	// means 4. The client's own transport must have as many connections:
	// more than 64 workers need a client made WithConcurrency(Workers).
	Workers int
	// MaxItems bounds the payloads waiting to be sent and the results
	// waiting for OnResult; 0 means 10,000.
	MaxItems int
	// MaxBytes bounds their bytes; 0 means 64 MiB. It must be at least
	// MaxPayloadBytes. Only the encoded bytes are kept, so this bounds the
	// queue's memory, with at most one payload per worker in flight.
	MaxBytes int64
	// Block makes Enqueue wait for room, until its context ends, when the
	// queue is full, instead of returning ErrQueueFull at once.
	Block bool
	// OnResult is called exactly once for every payload Enqueue took, in
	// the order results come, from one goroutine of the queue (never from
	// Enqueue, never two calls at once): when the payload was accepted,
	// failed (Err is the Send error), was superseded (ErrSuperseded; Body
	// is then nil), was not sent because the queue stopped, or was not
	// delivered by Close (ErrQueueClosed). OnResult may put a failed
	// payload back: Enqueue or EnqueueKey given r.Body itself takes it at
	// once, whatever room there is, since it takes the place r held. Any
	// other Enqueue from OnResult may wait, with Block, for room that only
	// OnResult's return can free. Results count in MaxItems and MaxBytes
	// until OnResult is called for them: a slow OnResult slows Enqueue
	// down. A panic in OnResult is recovered, counted in
	// Stats().OnResultPanics and reported by Close. OnResult must not call
	// Flush or Close, nor runtime.Goexit.
	OnResult func(Result)
	// Spill receives, as one NDJSON line of its exact bytes (compacted if
	// it had line breaks), every payload taken but not delivered, for `lisa
	// send -ndjson FILE` to send again: those that failed with a retryable
	// error (IsRetryable), that got or waited behind the answer that
	// stopped the queue, and that Close could not deliver. A payload
	// refused for itself (400, 413, 422) is reported only, and a keyed one
	// whose key has a newer payload is not spilled: the newer state is.
	// Writes come from one goroutine, one Write call per line; a write error
	// is joined to the payload's Result.Err and counted in Stats, and a
	// write that blocks holds Close up. Nil: nothing is spilled.
	Spill io.Writer
}

// Queue delivers notifications in the background, for code on a request
// path that must not wait for LiSA: Enqueue encodes and checks a payload,
// queues its bytes, and returns at once; workers send it through the
// client's Send path, with its retries, rate limit and retry budget.
//
// EnqueueKey coalesces: a payload replaces the one with the same key that
// is still waiting, which is reported as ErrSuperseded. There is never more
// than one payload of a key in flight; one enqueued meanwhile is sent after
// it, so the last state enqueued is the last one sent. A key keeps its place
// in line while it is replaced, so a key updated continuously is still sent.
//
// Every payload taken gets exactly one result (QueueOptions.OnResult); one
// not delivered that may go through later is written to QueueOptions.Spill. After an
// answer that FailsEveryRequest (401, 403, 404) the queue stops sending:
// what waits is reported and spilled, and Enqueue returns an error matching
// that answer.
//
// The queue lives in memory: a crash or kill loses what waits in it. For
// delivery that survives a crash, use the lisariver module.
//
// Call Close when done, typically in a shutdown hook with a deadline: it
// stops the workers, which run from NewQueue on. A Queue is safe for
// concurrent use.
type Queue struct {
	c    *Client
	opts QueueOptions

	ctx    context.Context // the sends' context, cancelled when Close gives up
	cancel context.CancelFunc

	mu          sync.Mutex
	line        line          // payloads waiting to be sent (queue_keys.go)
	work        sync.Cond     // workers wait here for a payload
	results     []report      // results waiting for the reporter
	resultItems int           // results waiting for OnResult, these included
	resultBytes int64         // and the bytes of their bodies
	inHand      *byte         // the body of the result OnResult has, for a re-enqueue
	resultReady sync.Cond     // the reporter waits here
	room        chan struct{} // closed when room frees up; nil when no Enqueue waits
	nextIndex   int
	inFlight    int
	outstanding int // payloads taken and not yet reported
	flushes     []*flushWait
	closed      bool  // Close was called: Enqueue refuses
	aborted     bool  // Close's context ended: nothing more is sent
	stopped     error // an answer that FailsEveryRequest stopped the queue
	workersLeft int
	workersDone chan struct{}
	reporterEnd bool
	reportDone  chan struct{}
	closeDone   chan struct{}
	closeErr    error

	stats        QueueStats
	notDelivered int // payloads Close did not deliver
	firstProblem []error
}

// flushWait is one Flush waiting for the payloads enqueued before it.
type flushWait struct {
	mark int // payloads with a lower index count
	left int
	done chan struct{}
}

// NewQueue returns a Queue that sends through c, and starts its workers.
// Close it when done.
func NewQueue(c *Client, opts QueueOptions) (*Queue, error) {
	if c == nil || c.endpoint == "" {
		return nil, errors.New("lisa: NewQueue: client is nil or zero; use NewClient")
	}
	switch {
	case opts.Workers < 0 || opts.Workers > 1024:
		return nil, errors.New("lisa: NewQueue: Workers must be from 1 to 1024, or 0 for the default")
	case opts.MaxItems < 0:
		return nil, errors.New("lisa: NewQueue: MaxItems must not be negative")
	case opts.MaxBytes != 0 && opts.MaxBytes < MaxPayloadBytes:
		return nil, fmt.Errorf("lisa: NewQueue: MaxBytes must be 0 (the default) or at least MaxPayloadBytes (%d), so that any payload fits", MaxPayloadBytes)
	}
	opts.Workers = cmp.Or(opts.Workers, 4)
	if conns := max(64, c.cfg.concurrency); c.cfg.httpClient == nil && opts.Workers > conns {
		// More would wait for a connection inside their attempt's timeout.
		return nil, fmt.Errorf("lisa: NewQueue: Workers (%d) is more than the client's connections per host (%d): create the client with WithConcurrency(%d) or more", opts.Workers, conns, opts.Workers)
	}
	opts.MaxItems = cmp.Or(opts.MaxItems, 10_000)
	opts.MaxBytes = cmp.Or(opts.MaxBytes, 64<<20)
	q := &Queue{
		c:           c,
		opts:        opts,
		line:        newLine(),
		workersLeft: opts.Workers,
		workersDone: make(chan struct{}),
		reportDone:  make(chan struct{}),
		closeDone:   make(chan struct{}),
	}
	q.work.L, q.resultReady.L = &q.mu, &q.mu
	q.ctx, q.cancel = context.WithCancel(context.Background())
	for range opts.Workers {
		go q.worker()
	}
	go q.reporter()
	return q, nil
}

// Enqueue takes a payload for sending and returns at once. The payload is
// encoded and checked now, as Send does: an invalid one returns an error
// matching ErrInvalidPayload, an oversize one an error matching
// ErrPayloadTooLarge, and nothing is queued. The bytes are copied, so
// changing or reusing the payload afterwards does not change what is sent.
//
// When the queue is full, Enqueue returns ErrQueueFull, or with
// QueueOptions.Block waits for room until ctx ends. After Close it returns
// ErrQueueClosed, and after the queue stopped, an error matching the answer
// that stopped it. A nil error means the payload will get exactly one
// result.
func (q *Queue) Enqueue(ctx context.Context, payload any) error {
	return q.enqueue(ctx, "Enqueue", "", payload)
}

// EnqueueKey is Enqueue for a payload that replaces any payload with the
// same key still waiting to be sent (typically the product id). The
// replaced one's result is ErrSuperseded, and the new one takes its place in
// line. If a payload with the key is being sent, the new one waits and is
// sent after it has finished. key must not be empty.
func (q *Queue) EnqueueKey(ctx context.Context, key string, payload any) error {
	if key == "" {
		return errors.New("lisa: EnqueueKey: key is empty; use Enqueue for payloads without a key")
	}
	return q.enqueue(ctx, "EnqueueKey", key, payload)
}

func (q *Queue) enqueue(ctx context.Context, method, key string, payload any) error {
	if q == nil || q.c == nil {
		return fmt.Errorf("lisa: %s on a nil or zero Queue; use NewQueue", method)
	}
	if ctx == nil {
		return fmt.Errorf("lisa: %s: ctx is nil", method)
	}
	given := firstByte(payload) // before encode copies it
	body, err := encode(payload)
	if err != nil {
		q.mu.Lock()
		q.stats.Invalid++
		q.mu.Unlock()
		return err
	}
	var carried any
	if o := q.c.observer; o != nil && o.Enqueued != nil {
		carried = o.Enqueued(ctx)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		switch {
		case q.closed:
			return ErrQueueClosed
		case q.stopped != nil:
			return q.stopped
		case q.hasRoom(len(body)), given != nil && given == q.inHand:
			// OnResult putting back the body it was given takes the place
			// that body held: it never waits, or it would wait for itself.
			q.add(key, body, carried)
			return nil
		case !q.opts.Block:
			q.stats.Full++
			return ErrQueueFull
		}
		if q.room == nil {
			q.room = make(chan struct{})
		}
		room := q.room
		q.mu.Unlock()
		select {
		case <-room:
			q.mu.Lock()
		case <-ctx.Done():
			q.mu.Lock()
			q.stats.Full++
			return fmt.Errorf("%w: waited for room until the context ended: %w", ErrQueueFull, ctx.Err())
		}
	}
}

// Flush waits until every payload enqueued before the call has its result
// (OnResult has returned for it), or ctx ends. The queue keeps accepting
// payloads meanwhile; those do not hold Flush up.
func (q *Queue) Flush(ctx context.Context) error {
	if q == nil || q.c == nil {
		return errors.New("lisa: Flush on a nil or zero Queue; use NewQueue")
	}
	if ctx == nil {
		return errors.New("lisa: Flush: ctx is nil")
	}
	q.mu.Lock()
	if q.outstanding == 0 {
		q.mu.Unlock()
		return nil
	}
	w := &flushWait{mark: q.nextIndex, left: q.outstanding, done: make(chan struct{})}
	q.flushes = append(q.flushes, w)
	q.mu.Unlock()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, other := range q.flushes {
		if other == w {
			q.flushes = append(q.flushes[:i], q.flushes[i+1:]...)
			return fmt.Errorf("lisa: Flush: %w", ctx.Err())
		}
	}
	return nil // done just as ctx ended
}

// Close stops the queue: Enqueue returns ErrQueueClosed from now on, and the
// workers deliver what waits until ctx ends. If it ends first, the sends in
// flight are cancelled, and every payload not delivered is reported with an
// error matching ErrQueueClosed and written to Spill. Close returns once
// every result is reported, with no goroutine of the queue left running.
//
// The error is nil when everything taken was delivered or reported
// otherwise. Otherwise it joins (errors.Join) what went wrong: Close's
// context error and how many payloads were not delivered, the answer that
// stopped the queue, the first Spill write error, the first OnResult panic.
//
// Close is idempotent and safe to call concurrently with Enqueue: a second
// call waits for the first (or for its own ctx) and returns the same error.
func (q *Queue) Close(ctx context.Context) error {
	if q == nil || q.c == nil {
		return errors.New("lisa: Close on a nil or zero Queue; use NewQueue")
	}
	if ctx == nil {
		return errors.New("lisa: Close: ctx is nil")
	}
	q.mu.Lock()
	first := !q.closed
	if first {
		q.closed = true
		q.work.Broadcast() // idle workers end
		q.signalRoom()     // Enqueue calls waiting for room return ErrQueueClosed
	}
	q.mu.Unlock()
	if !first {
		select {
		case <-q.closeDone:
			return q.closeErr
		case <-ctx.Done():
			return fmt.Errorf("lisa: Close: %w", ctx.Err())
		}
	}

	var cause error
	select {
	case <-q.workersDone:
	case <-ctx.Done():
		cause = ctx.Err()
		q.abort()
		<-q.workersDone
	}
	q.cancel()
	q.mu.Lock()
	q.reporterEnd = true
	q.resultReady.Broadcast()
	q.mu.Unlock()
	<-q.reportDone

	q.mu.Lock()
	errs := []error{}
	if q.notDelivered > 0 {
		errs = append(errs, fmt.Errorf("lisa: queue: %d payload%s not delivered: %w", q.notDelivered, plural(q.notDelivered), cause))
	}
	if q.stopped != nil {
		errs = append(errs, q.stopped)
	}
	q.closeErr = errors.Join(append(errs, q.firstProblem...)...)
	q.mu.Unlock()
	close(q.closeDone)
	return q.closeErr
}

// String describes the queue without its client's credentials.
func (q *Queue) String() string {
	if q == nil || q.c == nil {
		return "lisa.Queue{}"
	}
	return "lisa.Queue{client: " + q.c.String() + "}"
}

// Format prints String for every verb, so no verb reaches the client.
func (q *Queue) Format(f fmt.State, _ rune) { io.WriteString(f, q.String()) }
