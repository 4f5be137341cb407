package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hello-lisa/lisa-go"
)

const sendAbout = `Send one JSON document (the whole input), or with -ndjson one notification per line.

Nothing is lost: with -failed, every line that was not accepted is written to that file
verbatim, one per line, so that 'lisa send -ndjson FAILED' sends exactly those again.
With -rejected, lines that can never be accepted as they are (not JSON, over 192 KiB,
answered 400, 413 or 422) go there instead, and -failed keeps what may succeed on a rerun
(timeouts, 429, 5xx, 401, 403, 404, not sent). These files are written beside their target
and renamed over it when the run ends, so a crash never leaves a half-written file. A target
that exists and is not a regular file (a device, a FIFO, a directory, a symbolic link) is
refused before anything is sent: give the real path of a regular file.

The run stops early, keeps every line and exits 1 in these cases; the summary says why:
  SIGINT, SIGTERM, SIGHUP  stop reading, let the sends in flight finish for -grace, then
                           cancel them. A second signal exits at once (128+signal) and
                           names the line to send again from.
  401, 403, 404            every other line would get the same answer (wrong key or secret,
                           a missing scope, a wrong plugin id): no new line is sent.
  endpoint down            2 x -concurrency lines in a row (at least 8) got no answer at all
                           after their retries (refused, reset, timed out): no new line is sent.
  full disk                a write to -failed, -rejected or -checkpoint failed (ENOSPC): no new
                           line is sent; the file is kept with the whole lines written before
                           (never deleted), and the run names the input line before which every
                           line is accepted or kept: send the input again from there.
After a signal, a 401/403/404 or the endpoint down, the lines not sent are copied verbatim
into -failed: from a FILE, the whole rest; from standard input, what was read (after a
signal: up to the end of the line it was in, and the rest of standard input stays unread;
otherwise standard input is read to its end). With -checkpoint nothing is copied: run the
same command again to resume. In document mode, a signal while the document is read ends
the run with nothing sent; while it is sent, the send has -grace to finish.

Exit status: 0 when every line was accepted, 1 otherwise (and after any early stop, even if
what was in flight was then accepted), 2 on usage errors. Errors name the file and line;
past the first 3 of one kind (the same status, the same network error), the rest are
counted in one line at the end instead of one line each.

-checkpoint FILE makes a run resumable, even after kill -9: it records how far the input is
settled (accepted, or written to -failed/-rejected). Run the same command again to continue
from there; -failed and -rejected are then appended to, not replaced. When a run completes,
the checkpoint says so and the next run starts over. The guarantee is at least once: each
line is accepted or kept; after a kill -9 at most -concurrency lines are sent twice, with
the same body (with -checkpoint, no more than -concurrency lines are in progress past the
checkpoint, so one slow line holds the others back).

On a terminal, a progress line shows the lines done (of the total, for a FILE), accepted,
failed, the rate and the time left; a pipe or a log gets none.

Credential files may end with spaces or CRLF and start with a UTF-8 BOM: those are removed.`

func cmdSend(e env, args []string) error {
	fs := newFlagSet("send", sendAbout,
		"  export LISA_PLUGIN_ID=… LISA_API_KEY=… LISA_SECRET=…\n"+
			"  lisa send product.json\n"+
			"  lisa send catalog.ndjson -ndjson -concurrency 8 -failed retry.ndjson -rejected bad.ndjson\n"+
			"  lisa send retry.ndjson -ndjson   # rerun exactly the lines that failed\n"+
			"  lisa send catalog.ndjson -ndjson -failed retry.ndjson -checkpoint sync.ckpt   # resumable\n"+
			"  echo '{\"productId\":\"123\",\"price\":19.99}' | lisa send -dry-run")
	creds := addCredFlags(fs, true, true)
	var o sendOptions
	fs.BoolVar(&o.ndjson, "ndjson", false, "the input holds one JSON payload per line (blank lines are skipped)")
	fs.IntVar(&o.concurrency, "concurrency", 4, fmt.Sprintf("notifications in flight at once, 1 to %d (with -ndjson)", maxConcurrency))
	fs.IntVar(&o.retries, "retries", 3, "retries after the first attempt of each notification")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "timeout of each attempt")
	fs.DurationVar(&o.grace, "grace", 10*time.Second, "after SIGINT, SIGTERM or SIGHUP, how long the notifications in flight may finish")
	fs.StringVar(&o.failedPath, "failed", "", "write what was not accepted to this file, verbatim, for a rerun")
	fs.StringVar(&o.rejectedPath, "rejected", "", "write what can never be accepted as it is to this file instead of -failed")
	fs.StringVar(&o.checkpointPath, "checkpoint", "", "record progress in this file and resume from it (with -ndjson, a FILE and -failed)")
	fs.Float64Var(&o.rate, "rate", 0, "at most this many requests per second, retries included (0: no limit)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print the requests that would be sent (API key masked) and send nothing")
	files, err := fs.parse(e, args)
	if err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	client, err := e.client(creds, lisa.WithConcurrency(o.concurrency), lisa.WithTimeout(o.timeout), lisa.WithMaxRetries(o.retries),
		lisa.WithRateLimit(o.rate, 1)) // a burst of 1 spaces the requests evenly
	if err != nil {
		return err
	}
	stop := e.stopOnSignal()
	in, err := e.openInput(files, stop)
	if err != nil {
		return err
	}
	defer in.close()
	for _, p := range []struct{ flag, path string }{{"-failed", o.failedPath}, {"-rejected", o.rejectedPath}, {"-checkpoint", o.checkpointPath}} {
		if in.sameFile(p.path) {
			return usageError(fmt.Errorf("lisa send: %s %s is the input: it would be overwritten; choose another file", p.flag, p.path))
		}
		if err := checkTarget(p.flag, p.path); err != nil {
			return err
		}
	}
	s := &sender{env: e, sendOptions: o, client: client, in: in, stop: stop, report: newReporter(e.stderr, e.terminal), halted: make(chan struct{})}
	if o.dryRun {
		return s.dryRunAll()
	}
	if err := s.openOutputs(); err != nil {
		return err
	}
	stop.setNote(func() string {
		return "; what was already kept is in the -failed/-rejected files (or their .partial files beside them)"
	})
	if o.ndjson {
		err = s.lines()
	} else {
		err = s.document()
	}
	ferr := s.finishOutputs()
	if ferr != nil {
		s.halt(haltWrite, ferr)
	}
	if _, why := s.why(); ferr != nil && (err != nil || why != ferr) { // else the summary says it
		s.report.say("%v", ferr)
	}
	if err != nil {
		return err
	}
	return s.summary()
}

// maxConcurrency is the most lisa.WithConcurrency takes.
const maxConcurrency = 1024

// sendOptions are send's flags.
type sendOptions struct {
	ndjson                                   bool
	concurrency, retries                     int
	timeout, grace                           time.Duration
	failedPath, rejectedPath, checkpointPath string
	rate                                     float64
	dryRun                                   bool
}

func (o *sendOptions) check() error {
	switch {
	case o.concurrency < 1 || o.concurrency > maxConcurrency:
		return usageError(fmt.Errorf("lisa send: -concurrency must be from 1 to %d", maxConcurrency))
	case o.retries < 0 || o.timeout <= 0 || o.grace < 0:
		return usageError(errors.New("lisa send: -retries and -grace must not be negative, -timeout must be positive"))
	case o.checkpointPath != "" && (!o.ndjson || o.failedPath == ""):
		return usageError(errors.New("lisa send: -checkpoint needs -ndjson and -failed"))
	case o.rejectedPath != "" && o.rejectedPath == o.failedPath:
		return usageError(errors.New("lisa send: -rejected and -failed must be different files"))
	}
	for _, p := range []struct {
		flag string
		path *string
	}{{"-failed", &o.failedPath}, {"-rejected", &o.rejectedPath}, {"-checkpoint", &o.checkpointPath}} {
		if *p.path == "" {
			continue
		}
		abs, err := filepath.Abs(*p.path)
		if err != nil {
			return usageError(err)
		}
		*p.path = abs
	}
	return nil
}

// sender is one run of lisa send.
type sender struct {
	env
	sendOptions
	client   *lisa.Client
	in       *input
	stop     *stopper
	report   *reporter
	failed   *outFile
	rejected *outFile // the same as failed without -rejected
	cp       *checkpoint

	accepted, nFailed, nRejected, notSent, blanks atomic.Int64

	// Why the run stopped before the end of its input (the first reason
	// wins); halted is closed then.
	haltMu     sync.Mutex
	haltReason haltKind
	haltErr    error
	halted     chan struct{}

	// Where the input stopped being sent, for the summary.
	restFrom   int   // the first line not read or not handed on; 0: none
	restCopied int   // lines of the rest copied into -failed
	restAll    bool  // the rest was copied to the end of the input
	restErr    error // copying the rest failed (a full disk)
	settledTo  int   // lines of the input, from its start, all settled
}

// haltKind is why a run stopped before the end of its input.
type haltKind int

const (
	haltNone   haltKind = iota
	haltSignal          // SIGINT, SIGTERM or SIGHUP
	haltEvery           // 401, 403 or 404: every line would fail the same way
	haltDown            // no answer at all, again and again
	haltWrite           // an output file could not be written (a full disk)
)

// halt stops the run for a reason (the first one is kept).
func (s *sender) halt(k haltKind, err error) {
	s.haltMu.Lock()
	defer s.haltMu.Unlock()
	if s.haltReason != haltNone {
		return
	}
	s.haltReason, s.haltErr = k, err
	close(s.halted)
}

// why returns the reason the run stopped, if it did.
func (s *sender) why() (haltKind, error) {
	s.haltMu.Lock()
	defer s.haltMu.Unlock()
	return s.haltReason, s.haltErr
}

// keep writes a payload that was not accepted to -rejected or -failed, and
// counts it.
func (s *sender) keep(body []byte, err error) error {
	switch {
	case rejectedForGood(err):
		s.nRejected.Add(1)
		return s.rejected.writeLine(body)
	case notSent(err):
		s.notSent.Add(1)
	default:
		s.nFailed.Add(1)
	}
	return s.failed.writeLine(body)
}

// trimBOM removes a UTF-8 byte-order mark, which editors on Windows put at
// the start of a file and which is not JSON.
func trimBOM(b []byte) []byte {
	if len(b) >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf {
		return b[3:]
	}
	return b
}
