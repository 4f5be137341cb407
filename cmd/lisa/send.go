package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hello-lisa/lisa-go"
)

func runSend(e env) int {
	fs := newFlagSet(e, "send", "send [flags] [FILE|-]",
		"  export LISA_PLUGIN_ID=… LISA_API_KEY=… LISA_SECRET=…\n"+
			"  lisa send product.json\n"+
			"  lisa send -ndjson -concurrency 8 -failed retry.ndjson catalog.ndjson\n"+
			"  lisa send -ndjson retry.ndjson   # rerun exactly the lines that failed\n"+
			"  echo '{\"productId\":\"123\",\"price\":19.99}' | lisa send -dry-run")
	creds := addCredFlags(fs, true)
	ndjson := fs.Bool("ndjson", false, "the input holds one JSON payload per line (blank lines are skipped)")
	concurrency := fs.Int("concurrency", lisa.DefaultConcurrency, "notifications in flight at once (with -ndjson)")
	retries := fs.Int("retries", lisa.DefaultMaxRetries, "retries after the first attempt of each notification")
	timeout := fs.Duration("timeout", lisa.DefaultTimeout, "timeout of each attempt")
	failedPath := fs.String("failed", "", "write what was not accepted to this file, verbatim, for a rerun")
	dryRun := fs.Bool("dry-run", false, "print the request that would be sent (API key masked) and send nothing")
	if code := parse(fs, e.args); code >= 0 {
		return code
	}
	if *concurrency < 1 || *retries < 0 || *timeout <= 0 {
		fmt.Fprintln(e.stderr, "lisa send: -concurrency must be at least 1, -retries at least 0 and -timeout positive")
		return exitUsage
	}
	client, err := e.client(creds, lisa.WithConcurrency(*concurrency), lisa.WithTimeout(*timeout), lisa.WithMaxRetries(*retries))
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return exitUsage
	}
	in, closeIn, size, err := e.input(fs)
	if err != nil {
		fmt.Fprintln(e.stderr, err)
		return exitUsage
	}
	defer closeIn()
	var failed *failedLog
	if *failedPath != "" && !*dryRun {
		f, err := os.Create(*failedPath)
		if err != nil {
			fmt.Fprintln(e.stderr, "lisa:", err)
			return exitUsage
		}
		failed = &failedLog{f: f, w: bufio.NewWriter(f)}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	s := &sender{env: e, client: client, failed: failed, dryRun: *dryRun}
	if *ndjson {
		s.lines(ctx, in, size)
	} else {
		s.document(ctx, in)
	}
	if err := failed.close(); err != nil {
		fmt.Fprintln(e.stderr, "lisa: write -failed file:", err)
		s.nFailed.Add(1)
	}
	if !*dryRun {
		fmt.Fprintf(e.stdout, "%d accepted, %d failed\n", s.nAccepted.Load(), s.nFailed.Load())
	}
	if s.nFailed.Load() > 0 {
		return exitFailed
	}
	return exitOK
}

// sender is one run of lisa send.
type sender struct {
	env
	client    *lisa.Client
	failed    *failedLog
	dryRun    bool
	nAccepted atomic.Int64
	nFailed   atomic.Int64
	outMu     sync.Mutex // stderr lines and the progress line
}

// report prints a failure on stderr.
func (s *sender) report(where string, err error) {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	if s.terminal {
		io.WriteString(s.stderr, "\r\033[K") // clear the progress line
	}
	fmt.Fprintf(s.stderr, "%s: %v\n", where, err)
}

// document sends (or previews) the whole input as one payload.
func (s *sender) document(ctx context.Context, in io.Reader) {
	body, tooLong, err := readAll(in, maxSignRead)
	if err == nil && tooLong {
		err = fmt.Errorf("input is over %d MiB", maxSignRead>>20)
	}
	if err != nil {
		s.report("lisa", err)
		s.nFailed.Add(1)
		return
	}
	if s.dryRun {
		s.preview("input", body)
		return
	}
	if _, err := s.client.Send(ctx, body); err != nil {
		s.report("input", err)
		s.nFailed.Add(1)
		s.failed.write(body, false)
		return
	}
	s.nAccepted.Add(1)
}

// preview prints the request Send would make for body.
func (s *sender) preview(where string, body []byte) {
	p, err := s.client.Preview(body)
	if err != nil {
		s.report(where, err)
		s.nFailed.Add(1)
		return
	}
	fmt.Fprintf(s.stdout, "%s %s\n", p.Method, p.URL)
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
	fmt.Fprintf(s.stdout, "\n(body: %d bytes, not sent)\n", len(p.Body))
}

// lines streams NDJSON through SendSeq: memory stays bounded by the
// concurrency, whatever the input's length.
func (s *sender) lines(ctx context.Context, in io.Reader, size int64) {
	lr := newLineReader(in, lisa.MaxPayloadBytes)
	var spill io.Writer = io.Discard
	if s.failed != nil { // oversize lines go through a temporary file, not memory
		tmp, err := os.CreateTemp("", "lisa-oversize-*")
		if err != nil {
			s.report("lisa", err)
			s.nFailed.Add(1)
			return
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		spill = tmp
	}
	var (
		mu      sync.Mutex
		lineOf  = map[int]int{} // payload index → line number, for those in flight
		readErr error
	)
	payloads := func(yield func(any) bool) {
		for i := 0; ; {
			data, over, n, err := lr.next(spill)
			if err != nil {
				if !errors.Is(err, io.EOF) {
					readErr = err
				}
				return
			}
			where := fmt.Sprintf("line %d", lr.line)
			switch {
			case over:
				s.nFailed.Add(1)
				s.report(where, &lisa.PayloadTooLargeError{Size: n, Limit: lisa.MaxPayloadBytes})
				if f, ok := spill.(*os.File); ok {
					s.failed.copyFrom(f)
				}
				continue
			case blank(data):
				continue
			case s.dryRun:
				s.preview(where, data)
				continue
			}
			mu.Lock()
			lineOf[i] = lr.line
			mu.Unlock()
			i++
			if !yield(json.RawMessage(data)) {
				return
			}
		}
	}
	if s.dryRun {
		payloads(func(any) bool { return true })
		return
	}

	done := make(chan struct{})
	defer close(done)
	if s.terminal {
		go s.progress(done, time.Now(), &lr.read, size)
	}
	for r := range s.client.SendSeq(ctx, payloads) {
		mu.Lock()
		line := lineOf[r.Index]
		delete(lineOf, r.Index)
		mu.Unlock()
		if r.Err == nil {
			s.nAccepted.Add(1)
			continue
		}
		s.nFailed.Add(1)
		s.report(fmt.Sprintf("line %d", line), r.Err)
		s.failed.write(r.Payload.(json.RawMessage), true)
	}
	if readErr != nil {
		s.report("lisa: read input", readErr)
		s.nFailed.Add(1)
	}
}

// progress rewrites one status line on stderr until done.
func (s *sender) progress(done <-chan struct{}, start time.Time, read *atomic.Int64, size int64) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			s.outMu.Lock()
			io.WriteString(s.stderr, "\r\033[K")
			s.outMu.Unlock()
			return
		case now := <-tick.C:
			elapsed := now.Sub(start).Seconds()
			n := s.nAccepted.Load() + s.nFailed.Load()
			line := fmt.Sprintf("%d sent, %d failed, %.0f/s", n, s.nFailed.Load(), float64(n)/elapsed)
			if r := read.Load(); size > 0 && r > 0 {
				eta := time.Duration(float64(size-r) / (float64(r) / elapsed) * float64(time.Second))
				line += fmt.Sprintf(", ETA %s", eta.Round(time.Second))
			}
			s.outMu.Lock()
			fmt.Fprintf(s.stderr, "\r\033[K%s", line)
			s.outMu.Unlock()
		}
	}
}

// failedLog is the -failed file. A nil *failedLog discards everything.
type failedLog struct {
	mu  sync.Mutex
	f   *os.File
	w   *bufio.Writer
	err error
}

// write appends b, and a newline for an NDJSON line.
func (l *failedLog) write(b []byte, newline bool) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		_, l.err = l.w.Write(b)
	}
	if l.err == nil && newline {
		l.err = l.w.WriteByte('\n')
	}
}

// copyFrom appends the content of a spill file and empties it.
func (l *failedLog) copyFrom(f *os.File) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := f.Seek(0, io.SeekStart); err != nil && l.err == nil {
		l.err = err
	}
	if l.err == nil {
		_, l.err = io.Copy(l.w, f)
	}
	if err := f.Truncate(0); err != nil && l.err == nil {
		l.err = err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil && l.err == nil {
		l.err = err
	}
}

func (l *failedLog) close() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		l.err = l.w.Flush()
	}
	if err := l.f.Close(); l.err == nil {
		l.err = err
	}
	return l.err
}
