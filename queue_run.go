package lisa

import (
	"errors"
	"runtime/debug"
)

// ErrGoexit is the Value of the *GoroutinePanic that a Queue reports when
// user code it called (OnResult, Spill, the client's transport) ended the
// goroutine with runtime.Goexit, as t.FailNow in a test's callback does:
// errors.Is(err, ErrGoexit) tells it from a panic.
var ErrGoexit = errors.New("lisa: queue: user code called runtime.Goexit")

// A queue's goroutines, its workers and its reporter, each run a runner.
// What a runner has in hand and how far it got are fields, not local
// variables, so that when user code it calls (the transport, Spill,
// OnResult) ends the goroutine with runtime.Goexit, which cannot be
// recovered, a new goroutine takes the runner on from that step: the
// payload still gets its one result, and Flush and Close do not wait for a
// goroutine that is gone.
type runner struct {
	reporter bool  // reports the results no worker has in hand
	batch    *item // the reporter's results still to report

	step     runStep
	it       *item
	r        Result
	spill    bool
	spillErr error
	panicked *GoroutinePanic // in OnResult
}

type runStep int

const (
	stepTake     runStep = iota // take the next payload (or result)
	stepSend                    // send it: user code
	stepSent                    // settle what the send's outcome decides
	stepSpill                   // write it to Spill if it must: user code
	stepOnResult                // call OnResult: user code
	stepDone                    // count it as reported
)

// run runs g's steps until the queue no longer needs it.
func (q *Queue) run(g *runner) {
	returned := false
	defer func() {
		if !returned { // a panic in user code is recovered where it is called
			q.carryOn(g)
		}
	}()
	for q.next(g) {
	}
	returned = true
}

// carryOn records a runtime.Goexit as the outcome of the step it ended and
// starts a goroutine that goes on from the next one.
func (q *Queue) carryOn(g *runner) {
	gp := &GoroutinePanic{Value: ErrGoexit, Stack: debug.Stack()}
	switch g.step {
	case stepSend:
		g.r.Receipt, g.r.Err = nil, gp
		g.step = stepSent
	case stepSpill:
		g.spilled(spillError(gp))
		g.step = stepOnResult
	case stepOnResult:
		g.panicked = gp
		g.step = stepDone
	}
	go q.run(g)
}

// next runs g's next step and reports whether there are more.
func (q *Queue) next(g *runner) bool {
	switch g.step {
	case stepTake:
		return q.takeFor(g)
	case stepSend:
		g.r.Receipt, g.r.Err = q.send(g.it)
		g.step = stepSent
	case stepSent:
		g.spill = q.sent(g.it, &g.r)
		g.step = stepSpill
	case stepSpill:
		if g.spill && q.spillTo != nil {
			g.spilled(q.writeSpill(g.it.body))
		}
		g.step = stepOnResult
	case stepOnResult:
		g.panicked = q.callOnResult(g.r)
		g.step = stepDone
	case stepDone:
		q.reported(g)
		g.step = stepTake
	}
	return true
}

// takeFor gives g its next payload, or its next result for the reporter,
// and reports false when there are none left and g's goroutine ends.
func (q *Queue) takeFor(g *runner) bool {
	g.spill, g.spillErr, g.panicked = false, nil, nil
	if !g.reporter {
		it := q.take()
		if it == nil {
			q.workerDone()
			return false
		}
		g.it, g.r = it, Result{Index: it.index, Key: it.key, Payload: it.payload}
		g.step = stepSend
		return true
	}
	if g.batch == nil {
		if g.batch = q.waitReports(); g.batch == nil {
			close(q.reporterDone)
			return false
		}
	}
	it := g.batch
	g.batch, it.next = it.next, nil
	g.it, g.r, g.spill = it, Result{Index: it.index, Key: it.key, Payload: it.payload, Err: it.err}, it.spill
	g.step = stepSpill
	return true
}

// spilled records the outcome of writing g's payload to Spill.
func (g *runner) spilled(err error) {
	g.spillErr = err
	if err == nil {
		g.r.Spilled = true
	} else {
		g.r.Err = errors.Join(g.r.Err, err)
	}
}
