package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hello-lisa/lisa-go"
)

const sendAbout = `Send one JSON document (the whole input), or with -ndjson one notification per line.

Nothing is lost: with -failed, every line that was not accepted is written to that file
verbatim, one per line, so that 'lisa send -ndjson FAILED' sends exactly those again.
With -rejected, lines that can never be accepted as they are (not JSON, over 192 KiB,
answered 400 or 413) go there instead, and -failed keeps what may succeed on a rerun
(timeouts, 429, 5xx, 401, not sent). These files are written beside their target and
renamed over it when the run ends, so a crash never leaves a half-written file. A target that
exists and is not a regular file (a device, a FIFO, a directory, a symbolic link) is refused
before anything is sent: give the real path of a regular file.

After a 401 no new notification is sent (every other would be refused the same way): the
rest go to -failed, and the run says what to check.

Ctrl-C (SIGINT) or SIGTERM stops reading the input, lets the notifications in flight finish
for -grace, then prints one summary and exits 1; the lines not sent are copied verbatim into
-failed. A second signal exits at once.

-checkpoint FILE makes a run resumable, even after kill -9: it records how far the input is
settled (accepted, or written to -failed/-rejected). Run the same command again to continue
from there; -failed and -rejected are then appended to, not replaced. When a run completes,
the checkpoint says so and the next run starts over. The guarantee is at least once: each
line is accepted or kept in -failed/-rejected; the lines in flight when a run was killed
(at most -concurrency) may be sent twice, with the same body.

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
	fs.IntVar(&o.concurrency, "concurrency", lisa.DefaultConcurrency, fmt.Sprintf("notifications in flight at once, 1 to %d (with -ndjson)", lisa.MaxConcurrency))
	fs.IntVar(&o.retries, "retries", lisa.DefaultMaxRetries, "retries after the first attempt of each notification")
	fs.DurationVar(&o.timeout, "timeout", lisa.DefaultTimeout, "timeout of each attempt")
	fs.DurationVar(&o.grace, "grace", 10*time.Second, "after Ctrl-C or SIGTERM, how long the notifications in flight may finish")
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
	in, err := e.openInput(files)
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
	s := &sender{env: e, sendOptions: o, client: client, in: in}
	if o.dryRun {
		return s.dryRunAll()
	}
	if err := s.openOutputs(); err != nil {
		return err
	}
	if o.ndjson {
		err = s.lines()
	} else {
		err = s.document()
	}
	if ferr := s.finishOutputs(); err == nil {
		err = ferr
	}
	if err != nil {
		return err
	}
	return s.summary()
}

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
	case o.concurrency < 1 || o.concurrency > lisa.MaxConcurrency:
		return usageError(fmt.Errorf("lisa send: -concurrency must be from 1 to %d", lisa.MaxConcurrency))
	case o.retries < 0 || o.timeout <= 0 || o.grace < 0:
		return usageError(errors.New("lisa send: -retries and -grace must not be negative, -timeout must be positive"))
	case o.checkpointPath != "" && (!o.ndjson || o.failedPath == ""):
		return usageError(errors.New("lisa send: -checkpoint needs -ndjson and -failed"))
	case o.rejectedPath != "" && o.rejectedPath == o.failedPath:
		return usageError(errors.New("lisa send: -rejected and -failed must be different files"))
	}
	for _, p := range []*string{&o.failedPath, &o.rejectedPath, &o.checkpointPath} {
		if *p != "" {
			abs, err := filepath.Abs(*p)
			if err != nil {
				return usageError(err)
			}
			*p = abs
		}
	}
	return nil
}

// checkTarget refuses an output path where something other than a regular
// file exists: the file is written beside it and renamed over it, which
// would replace a device node, a FIFO or a symbolic link with a regular
// file. A symbolic link is refused rather than followed: renaming over it
// would replace the link, and following it would let a link planted in a
// shared directory point the writes (as root) at any file.
func checkTarget(flag, path string) error {
	if path == "" {
		return nil
	}
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return usageError(fmt.Errorf("lisa send: %s: %w", flag, err))
	case fi.Mode()&os.ModeSymlink != 0:
		return usageError(fmt.Errorf("lisa send: %s %s is a symbolic link: give the path of the file itself", flag, path))
	case !fi.Mode().IsRegular():
		return usageError(fmt.Errorf("lisa send: %s %s exists and is not a regular file (%s): it would be replaced; give another path", flag, path, describeMode(fi.Mode())))
	}
	return nil
}

func describeMode(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeDevice != 0:
		return "a device"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return m.Type().String()
}

// sender is one run of lisa send.
type sender struct {
	env
	sendOptions
	client   *lisa.Client
	in       *input
	failed   *outFile
	rejected *outFile // the same as failed without -rejected
	cp       *checkpoint

	accepted, nFailed, nRejected, notSent atomic.Int64
	unauthorized                          atomic.Bool
	interrupted                           atomic.Bool
	outMu                                 sync.Mutex // stderr lines
}

// openOutputs creates -failed and -rejected, or, resuming from a
// checkpoint, continues them.
func (s *sender) openOutputs() error {
	var fromFailed, fromRejected int64
	resume := false
	if s.checkpointPath != "" {
		if !s.in.regular {
			return usageError(errors.New("lisa send: -checkpoint needs a regular FILE, not standard input"))
		}
		cp, err := loadCheckpoint(s.checkpointPath)
		if err != nil {
			return usageError(fmt.Errorf("lisa send: %w", err))
		}
		if cp != nil && !cp.Complete {
			if !cp.matches(s.in, s.failedPath, s.rejectedPath) {
				return usageError(fmt.Errorf("lisa send: checkpoint %s is for another input or other -failed/-rejected files, or the input changed since; remove it to start over", s.checkpointPath))
			}
			if _, err := s.in.r.(*os.File).Seek(cp.Offset, io.SeekStart); err != nil {
				return fmt.Errorf("lisa send: %w", err)
			}
			resume, fromFailed, fromRejected = true, cp.FailedSize, cp.RejectedSize
			fmt.Fprintf(s.stderr, "lisa send: resuming %s after line %d (checkpoint %s)\n", s.in.name, cp.Line, s.checkpointPath)
		} else {
			cp = &checkpoint{Input: s.in.path, InputSize: s.in.info.Size(), InputModTime: s.in.info.ModTime().UnixNano(),
				Failed: s.failedPath, Rejected: s.rejectedPath, path: s.checkpointPath}
		}
		s.cp = cp
	}
	open := func(path string, from int64) (*outFile, error) {
		switch {
		case path == "":
			return nil, nil
		case s.cp != nil && resume:
			return appendOut(path, from)
		case s.cp != nil:
			return appendOut(path, 0)
		}
		return createOut(path)
	}
	var err error
	if s.failed, err = open(s.failedPath, fromFailed); err != nil {
		return usageError(fmt.Errorf("lisa send: -failed: %w", err))
	}
	s.rejected = s.failed
	if s.rejectedPath != "" {
		if s.rejected, err = open(s.rejectedPath, fromRejected); err != nil {
			return usageError(fmt.Errorf("lisa send: -rejected: %w", err))
		}
	}
	if s.cp != nil && !resume {
		s.cp.Complete = false
		return s.cp.save()
	}
	return nil
}

// saveCheckpoint records that the input is settled up to offset: what was
// written to the output files is flushed first, so that the checkpoint
// never claims more than they hold.
func (s *sender) saveCheckpoint(offset int64, line int) error {
	if err := s.failed.sync(); err != nil {
		return err
	}
	if err := s.rejected.sync(); err != nil {
		return err
	}
	s.cp.Offset, s.cp.Line = offset, line
	s.cp.FailedSize, _ = s.failed.state()
	if s.rejected != s.failed {
		s.cp.RejectedSize, _ = s.rejected.state()
	}
	return s.cp.save()
}

// finishOutputs puts the output files in place and, when the whole input
// was settled, marks the checkpoint complete.
func (s *sender) finishOutputs() error {
	err := s.failed.finish()
	if s.rejected != s.failed {
		if rerr := s.rejected.finish(); err == nil {
			err = rerr
		}
	}
	if s.cp != nil && err == nil && !s.interrupted.Load() {
		s.cp.Complete = true
		err = s.cp.save()
	}
	if err != nil {
		return fmt.Errorf("lisa send: write the output files: %w", err)
	}
	return nil
}

// report prints one problem on stderr.
func (s *sender) report(where string, err error) {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	if s.terminal {
		io.WriteString(s.stderr, "\r\033[K") // clear the progress line
	}
	fmt.Fprintf(s.stderr, "%s: %v\n", where, err)
}

// document sends the whole input as one payload. Its size is checked as it
// is read: a document over the limit is refused as soon as it passes it.
func (s *sender) document() error {
	body, over, err := readAtMost(s.in.r, lisa.MaxPayloadBytes)
	switch {
	case err != nil:
		return fmt.Errorf("lisa send: read %s: %w", s.in.name, err)
	case over:
		s.nRejected.Add(1)
		s.report(s.in.name, fmt.Errorf("lisa: the document is over the limit of %d bytes; nothing was sent (and the rest was not read)", lisa.MaxPayloadBytes))
		return nil
	}
	body = trimBOM(body)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		if _, ok := <-s.signals; ok {
			s.interrupted.Store(true)
			cancel()
		}
	}()
	_, err = s.client.Send(ctx, body)
	if err == nil {
		s.accepted.Add(1)
		return nil
	}
	s.report(s.in.name, err)
	s.keep(body, err)
	return nil
}

// keep writes a payload that was not accepted to -rejected or -failed, and
// counts it.
func (s *sender) keep(body []byte, err error) error {
	switch {
	case rejectedForGood(err):
		s.nRejected.Add(1)
		return s.rejected.writeLine(body)
	case errors.Is(err, lisa.ErrNotSent):
		s.notSent.Add(1)
	default:
		s.nFailed.Add(1)
	}
	return s.failed.writeLine(body)
}

// rejectedForGood reports whether the payload can never be accepted as it
// is: not JSON, over the limit, or answered 400 or 413.
func rejectedForGood(err error) bool {
	return errors.Is(err, lisa.ErrInvalidPayload) || errors.Is(err, lisa.ErrPayloadTooLarge) || errors.Is(err, lisa.ErrBadRequest)
}

// summary prints the counts on stdout and where the rest is on stderr, and
// ends the run with exit 1 unless everything was accepted.
func (s *sender) summary() error {
	acc, failed, rejected, notSent := s.accepted.Load(), s.nFailed.Load(), s.nRejected.Load(), s.notSent.Load()
	line := fmt.Sprintf("%d accepted, %d failed", acc, failed)
	if rejected > 0 {
		line += fmt.Sprintf(", %d rejected", rejected)
	}
	if notSent > 0 {
		line += fmt.Sprintf(", %d not sent", notSent)
	}
	fmt.Fprintln(s.stdout, line)
	if s.unauthorized.Load() {
		fmt.Fprintln(s.stderr, "lisa send: stopped after a 401 Unauthorized: check LISA_PLUGIN_ID, LISA_API_KEY and LISA_SECRET (every other notification would be refused the same way)")
	}
	if s.interrupted.Load() {
		fmt.Fprintln(s.stderr, "lisa send: interrupted")
	}
	if failed+rejected+notSent == 0 {
		return nil
	}
	if s.failedPath != "" {
		fmt.Fprintf(s.stderr, "lisa send: what may succeed later is in %s: send it again with lisa send -ndjson %s\n", s.failedPath, s.failedPath)
	}
	if s.rejectedPath != "" && rejected > 0 {
		fmt.Fprintf(s.stderr, "lisa send: what can never be accepted as it is is in %s\n", s.rejectedPath)
	}
	if s.cp != nil && s.interrupted.Load() {
		fmt.Fprintf(s.stderr, "lisa send: to resume, run the same command again (checkpoint %s)\n", s.checkpointPath)
	}
	return errNotAllAccepted
}

// dryRunAll prints the request each payload would make, with its line
// number and the start of its body, and sends nothing.
func (s *sender) dryRunAll() error {
	show := func(where string, body []byte) {
		p, err := s.client.Preview(body)
		if err != nil {
			s.report(where, err)
			return
		}
		fmt.Fprintf(s.stdout, "%s: %s %s\n", where, p.Method, p.URL)
		keys := make([]string, 0, len(p.Header))
		for k := range p.Header {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			for _, v := range p.Header[k] {
				fmt.Fprintf(s.stdout, "%s: %s\n", k, v)
			}
		}
		const head = 200
		shown := p.Body
		if len(shown) > head {
			shown = shown[:head]
		}
		fmt.Fprintf(s.stdout, "\n%s", shown)
		if len(p.Body) > head {
			fmt.Fprint(s.stdout, "…")
		}
		fmt.Fprintf(s.stdout, "\n(body: %d bytes, not sent)\n\n", len(p.Body))
	}
	if !s.ndjson {
		body, over, err := readAtMost(s.in.r, lisa.MaxPayloadBytes)
		switch {
		case err != nil:
			return fmt.Errorf("lisa send: read %s: %w", s.in.name, err)
		case over:
			return fmt.Errorf("lisa send: %s is over the limit of %d bytes", s.in.name, lisa.MaxPayloadBytes)
		}
		show(s.in.name, trimBOM(body))
		return nil
	}
	lr := newLineReader(s.in.r, lisa.MaxPayloadBytes)
	for {
		data, over, n, err := lr.next(io.Discard)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("lisa send: read %s: %w", s.in.name, err)
		}
		where := fmt.Sprintf("%s:%d", s.in.name, lr.line)
		switch {
		case over:
			s.report(where, &lisa.PayloadTooLargeError{Size: n, Limit: lisa.MaxPayloadBytes})
		case !blank(data):
			if lr.line == 1 {
				data = trimBOM(data)
			}
			show(where, data)
		}
	}
}

// trimBOM removes a UTF-8 byte-order mark, which editors on Windows put at
// the start of a file and which is not JSON.
func trimBOM(b []byte) []byte {
	if len(b) >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf {
		return b[3:]
	}
	return b
}
