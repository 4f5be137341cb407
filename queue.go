package lisa

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
)

// Defaults of QueueOptions.
const (
	DefaultQueueMaxItems = 10_000   // QueueOptions.MaxItems
	DefaultQueueMaxBytes = 64 << 20 // QueueOptions.MaxBytes
)

var (
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

// errQueueUnauthorized is what Enqueue returns, and what the payloads that
// were waiting carry, once the queue stopped after a 401 answer.
var errQueueUnauthorized = fmt.Errorf("%w: the queue stopped sending after a 401 answer (check the plugin id, API key and secret)", ErrUnauthorized)

// errClosedBeforeDelivery is the cause of a payload Close did not deliver.
var errClosedBeforeDelivery = fmt.Errorf("%w before it was delivered: Close's context ended", ErrQueueClosed)

// QueueOptions configures a Queue. The zero value is usable: defaults apply,
// and results and undelivered payloads go nowhere but Stats and Close's
// error.
type QueueOptions struct {
	// MaxItems bounds the payloads waiting to be sent (and results of
	// superseded payloads waiting to be reported); 0 means
	// DefaultQueueMaxItems.
	MaxItems int
	// MaxBytes bounds the bytes of the payloads waiting to be sent; 0 means
	// DefaultQueueMaxBytes. It must be at least MaxPayloadBytes.
	MaxBytes int64
	// Block makes Enqueue wait for room, until its context ends, when the
	// queue is full, instead of returning ErrQueueFull at once.
	Block bool
	// OnResult is called exactly once for every payload Enqueue took, from
	// the queue's goroutines, never from Enqueue: when the payload was
	// accepted, failed (Err is the Send error), was superseded
	// (ErrSuperseded), was not sent after a 401, or was not delivered by
	// Close (ErrQueueClosed). Calls can run concurrently, up to the
	// client's concurrency plus one, so OnResult must be safe for concurrent
	// use; a slow OnResult slows the queue down. A panic in OnResult is
	// recovered: the queue carries on, counts it in Stats().OnResultPanics,
	// and Close's error reports it; so is a runtime.Goexit (t.FailNow), in
	// OnResult, Spill or the client's transport, which ends that goroutine
	// while another carries on. Close waits for calls in progress, so
	// OnResult must not call Flush or Close itself.
	OnResult func(Result)
	// Spill receives every payload that was taken but not delivered, one
	// line each in NDJSON, so that `lisa send -ndjson FILE` can send them
	// again: payloads that failed with a retryable error after the client's
	// retries (see IsRetryable), that were waiting when the queue stopped
	// after a 401, and that Close could not deliver. A payload answered
	// 400, 401 or 413 is reported only. A keyed payload is not spilled when
	// a newer payload for its key was enqueued meanwhile: the newer state is
	// sent or spilled instead, so a redelivery cannot overwrite it.
	//
	// Each line holds the exact bytes that were sent, except that a body
	// with line breaks (pretty-printed JSON given as []byte) is written
	// compacted. Writes are serialised, one Write call per line. A write
	// error is reported in that payload's Result.Err, in Stats and in
	// Close's error; a write that blocks holds Close up. Nil: nothing is
	// spilled.
	Spill io.Writer
}

// Queue delivers notifications in the background, for code on a request
// path that must not wait for LiSA: Enqueue encodes and checks a payload,
// queues its bytes, and returns at once; workers send it through the
// client's Send, with its retries, rate limit and retry budget, at most the
// client's WithConcurrency at a time.
//
// EnqueueKey coalesces: a payload replaces the one with the same key that
// is still waiting, which is reported as ErrSuperseded. There is never more
// than one payload of a key in flight; one enqueued meanwhile is sent after
// it, so the last state enqueued is the last one sent. A key keeps its place
// in line while it is replaced, so a key updated continuously is still sent.
//
// Every payload taken gets exactly one result (QueueOptions.OnResult), and
// every payload not delivered is written to QueueOptions.Spill. After a 401
// answer the queue stops sending: what waits is reported and spilled, and
// Enqueue returns an error matching ErrUnauthorized.
//
// Call Close when done, typically in a shutdown hook with a deadline: it
// stops the workers, which run from NewQueue on. A Queue is safe for
// concurrent use.
type Queue struct {
	c        *Client
	onResult func(Result)
	spillTo  io.Writer
	maxItems int
	maxBytes int64
	block    bool

	ctx    context.Context // the sends' context, cancelled when Close gives up
	cancel context.CancelFunc

	spillMu sync.Mutex // serialises writes to spillTo

	mu           sync.Mutex
	work         sync.Cond // workers wait here for a payload to send
	reportReady  sync.Cond // the reporter waits here for results to report
	head, tail   *item     // payloads waiting to be sent, oldest first
	rhead, rtail *item     // results the reporter is to report
	keys         map[string]*keySlot
	nextIndex    int
	waiting      int // payloads in the list or parked behind their key
	waitingBytes int64
	reports      int // items in the reporter's list
	inFlight     int
	outstanding  int // payloads taken and not yet reported
	flushes      []*flushWait
	room         chan struct{} // closed when room frees up; nil when no Enqueue waits
	closed       bool          // Close was called: Enqueue refuses
	aborted      bool          // Close's context ended: nothing more is sent
	unauthorized bool          // a 401 answer stopped the queue
	workersLeft  int
	workersDone  chan struct{}
	reporterStop bool
	reporterDone chan struct{}
	closeDone    chan struct{}
	closeErr     error

	stats          QueueStats
	notDelivered   int // payloads Close did not deliver
	cutSpilled     int // of them, written to Spill
	firstSpillErr  error
	firstPanic     *GoroutinePanic
	onResultPanics int
}

// item is one payload taken by Enqueue, a node of the queue's lists.
type item struct {
	index   int
	key     string
	payload any
	body    []byte
	next    *item
	// The Observer's Enqueued values, the replaced payloads' first.
	enqueued []any
	// Set for a result handed to the reporter, or for one Close cut off.
	err   error
	spill bool
	cut   bool // not delivered because Close's context ended
}

// keySlot is the state of one key of EnqueueKey.
type keySlot struct {
	waiting *item // the key's payload waiting to be sent: in the list, or parked while busy
	busy    bool  // a payload with this key is in flight
	latest  int   // the index of the newest payload enqueued with this key
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
	if c == nil || c.retry == nil {
		return nil, errors.New("lisa: NewQueue: client is nil or zero; use NewClient")
	}
	switch {
	case opts.MaxItems < 0:
		return nil, errors.New("lisa: NewQueue: MaxItems must not be negative")
	case opts.MaxItems == 0:
		opts.MaxItems = DefaultQueueMaxItems
	}
	switch {
	case opts.MaxBytes < 0:
		return nil, errors.New("lisa: NewQueue: MaxBytes must not be negative")
	case opts.MaxBytes == 0:
		opts.MaxBytes = DefaultQueueMaxBytes
	case opts.MaxBytes < MaxPayloadBytes:
		return nil, fmt.Errorf("lisa: NewQueue: MaxBytes must be 0 (the default) or at least MaxPayloadBytes (%d), so that any payload fits", MaxPayloadBytes)
	}
	n := c.concurrency()
	q := &Queue{
		c:            c,
		onResult:     opts.OnResult,
		spillTo:      opts.Spill,
		maxItems:     opts.MaxItems,
		maxBytes:     opts.MaxBytes,
		block:        opts.Block,
		keys:         map[string]*keySlot{},
		workersLeft:  n,
		workersDone:  make(chan struct{}),
		reporterDone: make(chan struct{}),
		closeDone:    make(chan struct{}),
	}
	q.work.L, q.reportReady.L = &q.mu, &q.mu
	q.ctx, q.cancel = context.WithCancel(context.Background())
	for range n {
		go q.run(&runner{})
	}
	go q.run(&runner{reporter: true})
	return q, nil
}

// Enqueue takes a payload for sending and returns at once. The payload is
// encoded and checked now, as Send does: an invalid one returns an error
// matching ErrInvalidPayload, an oversize one a *PayloadTooLargeError, and
// nothing is queued. The bytes are kept, so changing the payload afterwards
// does not change what is sent.
//
// When the queue is full, Enqueue returns ErrQueueFull, or with
// QueueOptions.Block waits for room until ctx ends; ctx plays no other part.
// After Close it returns ErrQueueClosed, and after a 401 answer an error
// matching ErrUnauthorized. A nil error means the payload will get exactly
// one result.
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
	body, err := encode(payload)
	if err != nil {
		q.mu.Lock()
		q.stats.Invalid++
		q.mu.Unlock()
		return err
	}
	enqueued := q.c.observeEnqueued(ctx) // user code: not under q.mu
	q.mu.Lock()
	for {
		if q.closed {
			q.mu.Unlock()
			return ErrQueueClosed
		}
		if q.unauthorized {
			q.mu.Unlock()
			return errQueueUnauthorized
		}
		if q.waiting+q.reports < q.maxItems && q.waitingBytes+int64(len(body)) <= q.maxBytes {
			break
		}
		if !q.block {
			q.stats.Full++
			q.mu.Unlock()
			return ErrQueueFull
		}
		if q.room == nil {
			q.room = make(chan struct{})
		}
		room := q.room
		q.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			q.mu.Lock()
			q.stats.Full++
			q.mu.Unlock()
			return fmt.Errorf("%w: waited for room until the context ended: %w", ErrQueueFull, ctx.Err())
		}
		q.mu.Lock()
	}
	q.add(key, payload, body, enqueued)
	q.mu.Unlock()
	return nil
}

// add queues a checked payload. q.mu is held.
func (q *Queue) add(key string, payload any, body []byte, enqueued []any) {
	index := q.nextIndex
	q.nextIndex++
	q.stats.Enqueued++
	q.outstanding++
	size := int64(len(body))
	if key == "" {
		q.waiting++
		q.waitingBytes += size
		q.push(&item{index: index, payload: payload, body: body, enqueued: enqueued})
		return
	}
	s := q.keys[key]
	if s == nil {
		s = &keySlot{}
		q.keys[key] = s
	}
	s.latest = index
	if old := s.waiting; old != nil {
		// Replace it in place, so the key keeps its place in line (or its
		// parking spot), and report the old payload as superseded: through
		// the reporter, or at once when there is no OnResult to call.
		if q.onResult != nil {
			q.addReport(&item{index: old.index, key: key, payload: old.payload, err: ErrSuperseded})
		} else {
			q.done(old.index)
		}
		q.stats.Superseded++
		q.waitingBytes += size - int64(len(old.body))
		old.index, old.payload, old.body = index, payload, body
		old.enqueued = append(old.enqueued, enqueued...)
		return
	}
	it := &item{index: index, key: key, payload: payload, body: body, enqueued: enqueued}
	s.waiting = it
	q.waiting++
	q.waitingBytes += size
	if !s.busy { // otherwise it is parked until the payload in flight is done
		q.push(it)
	}
}

// push appends it to the payloads waiting to be sent and wakes a worker.
// q.mu is held.
func (q *Queue) push(it *item) {
	if q.tail == nil {
		q.head = it
	} else {
		q.tail.next = it
	}
	q.tail = it
	q.work.Signal()
}

// addReport hands a result to the reporter. q.mu is held.
func (q *Queue) addReport(it *item) {
	if q.rtail == nil {
		q.rhead = it
	} else {
		q.rtail.next = it
	}
	q.rtail = it
	q.reports++
	q.reportReady.Signal()
}

// signalRoom wakes the Enqueue calls waiting for room. q.mu is held.
func (q *Queue) signalRoom() {
	if q.room != nil {
		close(q.room)
		q.room = nil
	}
}

// workerDone counts a worker out, once the queue is closed and empty.
func (q *Queue) workerDone() {
	q.mu.Lock()
	q.workersLeft--
	if q.workersLeft == 0 {
		close(q.workersDone)
	}
	q.mu.Unlock()
}

// take waits for the next payload to send, or returns nil when the queue
// is closed and nothing waits.
func (q *Queue) take() *item {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.head == nil {
		if q.closed {
			return nil
		}
		q.work.Wait()
	}
	it := q.head
	q.head = it.next
	if q.head == nil {
		q.tail = nil
	}
	it.next = nil
	q.waiting--
	q.waitingBytes -= int64(len(it.body))
	q.inFlight++
	if it.key != "" {
		s := q.keys[it.key]
		s.waiting, s.busy = nil, true
	}
	q.signalRoom()
	return it
}

// sent settles what follows from the outcome of sending a payload:
// whether it is spilled, a 401 stopping the queue, the next payload of its
// key.
func (q *Queue) sent(it *item, r *Result) (spill bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.inFlight--
	if r.Err != nil {
		spill = q.failed(it, r)
	}
	if it.key != "" {
		s := q.keys[it.key]
		s.busy = false
		if s.latest != it.index {
			spill = false // a newer payload of the key is sent or spilled instead
		}
		if s.waiting != nil {
			q.push(s.waiting) // the parked payload's turn
		} else {
			delete(q.keys, it.key)
		}
	}
	return spill
}

// failed settles a failed send: it decides whether the payload is
// spilled, stops the queue after a 401, and rewrites the error of a send
// that Close cut off. q.mu is held. (Apart from sendOne so that the error
// variables below are not allocated for every payload.)
func (q *Queue) failed(it *item, r *Result) (spill bool) {
	var (
		apiErr *APIError
		gp     *GoroutinePanic
		se     *SendError
	)
	switch {
	case q.aborted && errors.Is(r.Err, context.Canceled):
		// Close's context ended while it was being sent.
		attempts, id := 0, ""
		if errors.As(r.Err, &se) {
			attempts, id = se.Attempts, se.RequestID
		}
		r.Err = &SendError{RequestID: id, Attempts: attempts, Err: errClosedBeforeDelivery}
		it.cut = true
		q.notDelivered++
		return true
	case errors.As(r.Err, &apiErr) && apiErr.StatusCode == http.StatusUnauthorized:
		q.stopUnauthorized()
		return false
	case errors.As(r.Err, &gp):
		return true // user code in the transport panicked: the outcome is unknown
	}
	return IsRetryable(r.Err)
}

// send is the client's send, with a panic in user code it runs (a custom
// RoundTripper, a log handler) turned into the payload's error instead of
// killing the program from a queue goroutine.
func (q *Queue) send(it *item) (receipt *Receipt, err error) {
	defer func() {
		if v := recover(); v != nil {
			receipt, err = nil, &GoroutinePanic{Value: v, Stack: debug.Stack()}
		}
	}()
	return q.c.send(q.ctx, it.body, it.enqueued...)
}

// stopUnauthorized stops the queue after a 401 answer: every payload
// waiting goes to the reporter, to be spilled and reported as not sent.
// q.mu is held.
func (q *Queue) stopUnauthorized() {
	if q.unauthorized {
		return
	}
	q.unauthorized = true
	q.drainWaiting(&SendError{Err: errQueueUnauthorized}, false)
	q.signalRoom() // Enqueue calls waiting for room return the error
}

// abort is called when Close's context ends: every payload waiting goes to
// the reporter, to be spilled and reported as not delivered, and the sends
// in flight are cancelled.
func (q *Queue) abort() {
	q.mu.Lock()
	q.aborted = true
	q.drainWaiting(&SendError{Err: errClosedBeforeDelivery}, true)
	q.mu.Unlock()
	q.cancel()
}

// drainWaiting moves every payload waiting to be sent, parked ones too, to
// the reporter with err, to be spilled. q.mu is held.
func (q *Queue) drainWaiting(err error, cut bool) {
	move := func(it *item) {
		it.next, it.err, it.spill, it.cut = nil, err, true, cut
		if cut {
			q.notDelivered++
		}
		q.waiting--
		q.waitingBytes -= int64(len(it.body))
		q.addReport(it)
	}
	for it := q.head; it != nil; {
		next := it.next
		if it.key != "" {
			q.keys[it.key].waiting = nil
		}
		move(it)
		it = next
	}
	q.head, q.tail = nil, nil
	for key, s := range q.keys {
		if s.waiting != nil { // parked behind a payload in flight
			move(s.waiting)
			s.waiting = nil
		}
		if !s.busy {
			delete(q.keys, key)
		}
	}
}

// waitReports waits for results for the reporter, results no worker has
// in hand (superseded payloads, and those drained after a 401 or by
// Close), and takes them all; it returns nil when the reporter is to stop.
func (q *Queue) waitReports() *item {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.rhead == nil {
		if q.reporterStop {
			return nil
		}
		q.reportReady.Wait()
	}
	batch := q.rhead
	q.rhead, q.rtail = nil, nil
	return batch
}

// reported counts g's payload as done, once its result is spilled and
// reported.
func (q *Queue) reported(g *runner) {
	r := g.r
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case r.Err == nil:
		q.stats.Accepted++
	case !errors.Is(r.Err, ErrSuperseded):
		q.stats.Failed++
	}
	if r.Spilled {
		q.stats.Spilled++
		if g.it.cut {
			q.cutSpilled++
		}
	}
	if g.spillErr != nil {
		q.stats.SpillErrors++
		if q.firstSpillErr == nil {
			q.firstSpillErr = g.spillErr
		}
	}
	if g.panicked != nil {
		q.stats.OnResultPanics++
		if q.firstPanic == nil {
			q.firstPanic = g.panicked
		}
	}
	if g.reporter {
		q.reports--
		q.signalRoom()
	}
	q.done(r.Index)
}

// done counts the payload with this index as reported, for Flush. q.mu is
// held.
func (q *Queue) done(index int) {
	q.outstanding--
	for i := 0; i < len(q.flushes); {
		w := q.flushes[i]
		if index < w.mark {
			if w.left--; w.left == 0 {
				close(w.done)
				q.flushes = append(q.flushes[:i], q.flushes[i+1:]...)
				continue
			}
		}
		i++
	}
}

// writeSpill writes one NDJSON line holding body to Spill.
func (q *Queue) writeSpill(body []byte) (err error) {
	line := make([]byte, 0, len(body)+1)
	if bytes.ContainsAny(body, "\r\n") { // keep it one line
		var b bytes.Buffer
		if json.Compact(&b, body) == nil {
			body = b.Bytes()
		}
	}
	line = append(append(line, body...), '\n')
	q.spillMu.Lock()
	defer q.spillMu.Unlock()
	defer func() {
		if v := recover(); v != nil { // the writer is user code
			err = spillError(&GoroutinePanic{Value: v, Stack: debug.Stack()})
		}
	}()
	n, err := q.spillTo.Write(line)
	if err == nil && n < len(line) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return spillError(err)
	}
	return nil
}

// spillError is the error of a failed write to Spill.
func spillError(err error) error { return fmt.Errorf("lisa: queue: write to Spill: %w", err) }

// callOnResult calls OnResult, recovering a panic.
func (q *Queue) callOnResult(r Result) (p *GoroutinePanic) {
	if q.onResult == nil {
		return nil
	}
	defer func() {
		if v := recover(); v != nil {
			p = &GoroutinePanic{Value: v, Stack: debug.Stack()}
		}
	}()
	q.onResult(r)
	return nil
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
// error matching ErrQueueClosed and written to Spill. Close then returns,
// shortly after ctx's deadline even when the server never answers (the time
// to cancel the sends and write the rest to Spill), with no goroutine of the
// queue left running.
//
// The error is nil when everything taken was delivered or reported
// otherwise. It is a *QueueCloseError when Close left payloads undelivered,
// when the queue had stopped after a 401, when a Spill write failed, or when
// OnResult panicked.
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
	q.reporterStop = true
	q.reportReady.Broadcast()
	q.mu.Unlock()
	<-q.reporterDone

	q.closeErr = q.closeError(cause)
	close(q.closeDone)
	return q.closeErr
}

// closeError builds Close's error from what the queue went through.
func (q *Queue) closeError(cause error) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	e := &QueueCloseError{
		NotDelivered:   q.notDelivered,
		Spilled:        q.cutSpilled,
		SpillErrors:    int(q.stats.SpillErrors),
		OnResultPanics: int(q.stats.OnResultPanics),
		Panic:          q.firstPanic,
	}
	if e.NotDelivered > 0 {
		e.Errs = append(e.Errs, cause)
	}
	if q.unauthorized {
		e.Errs = append(e.Errs, errQueueUnauthorized)
	}
	if q.firstSpillErr != nil {
		e.Errs = append(e.Errs, q.firstSpillErr)
	}
	if len(e.Errs) == 0 && e.Panic == nil {
		return nil
	}
	return e
}

// QueueCloseError is Close's error when not everything went well: it counts
// what was not delivered and says why.
type QueueCloseError struct {
	// NotDelivered is how many payloads Close did not deliver because its
	// context ended: not sent, or cut off while being sent (those may have
	// reached the server: delivery is at least once).
	NotDelivered int
	// Spilled is how many of them were written to Spill. It is lower when
	// Spill is nil, a write failed, or a payload cut off had a newer
	// payload of its key, which was spilled in its place.
	Spilled int
	// SpillErrors is how many Spill writes failed over the queue's life.
	SpillErrors int
	// OnResultPanics is how many calls of OnResult panicked; Panic is the
	// first of them.
	OnResultPanics int
	Panic          *GoroutinePanic
	// Errs are the reasons: Close's context error when payloads were not
	// delivered, an error matching ErrUnauthorized when a 401 stopped the
	// queue, and the first Spill write error.
	Errs []error
}

// Error counts what was not delivered and gives the reasons.
func (e *QueueCloseError) Error() string {
	var b strings.Builder
	b.WriteString("lisa: queue closed")
	var parts []string
	if e.NotDelivered > 0 {
		parts = append(parts, fmt.Sprintf("%d payload%s not delivered, %d of them written to Spill", e.NotDelivered, plural(e.NotDelivered), e.Spilled))
	}
	if e.SpillErrors > 0 {
		parts = append(parts, fmt.Sprintf("%d Spill write%s failed", e.SpillErrors, plural(e.SpillErrors)))
	}
	if e.OnResultPanics > 0 {
		parts = append(parts, fmt.Sprintf("OnResult panicked %d time%s, first with: %v", e.OnResultPanics, plural(e.OnResultPanics), e.Panic.Value))
	}
	for _, err := range e.Errs {
		parts = append(parts, strings.TrimPrefix(err.Error(), "lisa: "))
	}
	if len(parts) > 0 {
		b.WriteString(": ")
		b.WriteString(strings.Join(parts, "; "))
	}
	return b.String()
}

// Unwrap returns the reasons and the first OnResult panic, for errors.Is
// and errors.As: errors.Is(err, context.DeadlineExceeded) when Close's
// deadline cut delivery short.
func (e *QueueCloseError) Unwrap() []error {
	out := append([]error(nil), e.Errs...)
	if e.Panic != nil {
		out = append(out, e.Panic)
	}
	return out
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
