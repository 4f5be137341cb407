package lisa

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
)

// report is a result on its way to the reporter.
type report struct {
	r     Result
	spill bool // write r.Body to Spill first
	cut   bool // not delivered because Close gave up
}

// errClosedBeforeDelivery is the cause of a payload Close did not deliver.
var errClosedBeforeDelivery = fmt.Errorf("%w before it was delivered: Close's context ended", ErrQueueClosed)

// worker sends payloads until the queue is closed and empty: take, send,
// settle, then hand the result to the reporter.
func (q *Queue) worker() {
	defer q.workerDone()
	for {
		it := q.take()
		if it == nil {
			return
		}
		r := Result{Index: it.index, Key: it.key, Body: it.body}
		r.Receipt, r.Err = q.sendOne(it)
		q.settle(it, r)
	}
}

// take waits for the next payload to send, or returns nil when the queue
// is closed and nothing waits.
func (q *Queue) take() *item {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if q.aborted || q.stopped != nil {
			return nil // what waits was drained to the reporter
		}
		if it := q.line.take(); it != nil {
			q.inFlight++
			q.signalRoom()
			return it
		}
		if q.closed {
			return nil
		}
		q.work.Wait()
	}
}

// sendOne sends a payload, turning a panic in user code the send runs (a
// custom RoundTripper, a log handler) into its error instead of killing
// the program from a queue goroutine.
func (q *Queue) sendOne(it *item) (receipt *Receipt, err error) {
	defer func() {
		if v := recover(); v != nil {
			receipt, err = nil, &GoroutinePanic{Value: v, Stack: debug.Stack()}
		}
	}()
	return q.c.send(q.ctx, it.body, it.carried)
}

// settle decides what follows from a send: whether the payload is spilled,
// whether the queue stops, the next payload of its key; and hands the
// result to the reporter.
func (q *Queue) settle(it *item, r Result) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.inFlight--
	newest := q.line.done(it)
	rep := report{r: r}
	var gp *GoroutinePanic
	switch {
	case r.Err == nil:
	case q.aborted && errors.Is(r.Err, context.Canceled):
		// Close's context ended while it was being sent.
		attempts, id := 0, ""
		var se *SendError
		if errors.As(r.Err, &se) {
			attempts, id = se.Attempts, se.RequestID
		}
		rep.r.Err = &SendError{RequestID: id, Attempts: attempts, Err: errClosedBeforeDelivery}
		rep.spill, rep.cut = true, true
		q.notDelivered++
	case FailsEveryRequest(r.Err):
		q.stop(r.Err)
		rep.spill = true // not about this payload: it can go again once fixed
	case errors.As(r.Err, &gp):
		rep.spill = true // user code in the transport panicked: the outcome is unknown
	default:
		rep.spill = IsRetryable(r.Err)
	}
	rep.spill = rep.spill && newest // a newer payload of the key is sent or spilled instead
	q.addResult(rep)
	q.work.Signal() // the key's next payload may be in line now
}

// stop stops the queue after an answer that fails every request: every
// payload waiting goes to the reporter, to be spilled. q.mu is held.
func (q *Queue) stop(answer error) {
	if q.stopped != nil {
		return
	}
	q.stopped = stoppedBy(answer, "lisa: queue: stopped sending")
	q.drainLine(&SendError{Err: q.stopped}, false)
	q.signalRoom()     // Enqueue calls waiting for room return the error
	q.work.Broadcast() // idle workers end
}

// abort is called when Close's context ends: every payload waiting goes to
// the reporter, to be spilled, and the sends in flight are cancelled.
func (q *Queue) abort() {
	q.mu.Lock()
	q.aborted = true
	q.drainLine(&SendError{Err: errClosedBeforeDelivery}, true)
	q.work.Broadcast()
	q.mu.Unlock()
	q.cancel()
}

// drainLine moves every payload waiting to the reporter with err. q.mu is
// held.
func (q *Queue) drainLine(err error, cut bool) {
	for _, it := range q.line.drain() {
		if cut {
			q.notDelivered++
		}
		q.addResult(report{r: Result{Index: it.index, Key: it.key, Body: it.body, Err: err}, spill: true, cut: cut})
	}
}

// addResult hands a result to the reporter. q.mu is held.
func (q *Queue) addResult(rep report) {
	q.results = append(q.results, rep)
	q.resultItems++
	q.resultBytes += int64(len(rep.r.Body))
	q.resultReady.Signal()
}

// workerDone counts a worker out.
func (q *Queue) workerDone() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.workersLeft--; q.workersLeft == 0 {
		close(q.workersDone)
	}
}

// reporter spills and reports results, one at a time, until Close says
// the workers are done and nothing is left.
func (q *Queue) reporter() {
	defer close(q.reportDone)
	for {
		q.mu.Lock()
		for len(q.results) == 0 && !q.reporterEnd {
			q.resultReady.Wait()
		}
		batch := q.results
		q.results = nil
		q.mu.Unlock()
		if len(batch) == 0 {
			return // reporterEnd, and nothing left
		}
		for _, rep := range batch {
			q.reportOne(rep)
		}
	}
}

// reportOne spills a result if it must, calls OnResult and counts it done.
func (q *Queue) reportOne(rep report) {
	var spillErr error
	if rep.spill && q.opts.Spill != nil && rep.r.Body != nil {
		if spillErr = q.writeSpill(rep.r.Body); spillErr == nil {
			rep.r.Spilled = true
		} else {
			rep.r.Err = errors.Join(rep.r.Err, spillErr)
		}
	}
	q.mu.Lock()
	q.resultItems--
	q.resultBytes -= int64(len(rep.r.Body))
	if len(rep.r.Body) > 0 {
		q.inHand = &rep.r.Body[0]
	}
	q.signalRoom()
	q.mu.Unlock()
	panicked := q.callOnResult(rep.r)

	q.mu.Lock()
	defer q.mu.Unlock()
	q.inHand = nil
	switch {
	case rep.r.Err == nil:
		q.stats.Accepted++
	case !errors.Is(rep.r.Err, ErrSuperseded):
		q.stats.Failed++
	}
	if rep.r.Spilled {
		q.stats.Spilled++
	}
	if spillErr != nil {
		if q.stats.SpillErrors++; q.stats.SpillErrors == 1 {
			q.firstProblem = append(q.firstProblem, spillErr)
		}
	}
	if panicked != nil {
		if q.stats.OnResultPanics++; q.stats.OnResultPanics == 1 {
			q.firstProblem = append(q.firstProblem, fmt.Errorf("lisa: queue: OnResult panicked: %w", panicked))
		}
	}
	q.done(rep.r.Index)
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
	if bytes.ContainsAny(body, "\r\n") { // keep it one line
		var b bytes.Buffer
		if json.Compact(&b, body) == nil {
			body = b.Bytes()
		}
	}
	line := append(append(make([]byte, 0, len(body)+1), body...), '\n')
	defer func() {
		if v := recover(); v != nil { // the writer is user code
			err = fmt.Errorf("lisa: queue: write to Spill: %w", &GoroutinePanic{Value: v, Stack: debug.Stack()})
		}
	}()
	n, err := q.opts.Spill.Write(line)
	if err == nil && n < len(line) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return fmt.Errorf("lisa: queue: write to Spill: %w", err)
	}
	return nil
}

// callOnResult calls OnResult, recovering a panic.
func (q *Queue) callOnResult(r Result) (p *GoroutinePanic) {
	if q.opts.OnResult == nil {
		return nil
	}
	defer func() {
		if v := recover(); v != nil {
			p = &GoroutinePanic{Value: v, Stack: debug.Stack()}
		}
	}()
	q.opts.OnResult(r)
	return nil
}
