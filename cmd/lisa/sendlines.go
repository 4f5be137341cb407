package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hello-lisa/lisa-go"
)

// notNDJSONAfter is how many lines, all not JSON, make the input not NDJSON.
const notNDJSONAfter = 10

// readLine is one line of the input on its way to SendSeq.
type readLine struct {
	i    int // in read order, from 0 (for the settler)
	data []byte
	line int // line number in the input, from 1
}

// lines streams NDJSON through SendSeq: memory stays bounded by the
// concurrency, whatever the input's length. A reader goroutine reads the
// input, so that a signal is acted on even while a read blocks.
func (s *sender) lines() error {
	var start int64
	var startLine int
	var advance func(int64, int) error
	if s.cp != nil {
		start, startLine, advance = s.cp.Offset, s.cp.Line, s.saveCheckpoint
	}
	st := newSettler(start, startLine, advance)

	var spill io.ReadWriteSeeker // oversize lines pass through a file, not memory
	if s.rejected != nil {
		f, err := os.CreateTemp("", "lisa-oversize-*")
		if err != nil {
			return fmt.Errorf("lisa send: %w", err)
		}
		defer os.Remove(f.Name())
		defer f.Close()
		spill = f
	}

	var (
		lines      = make(chan readLine)
		stopRead   = make(chan struct{})
		readerDone = make(chan struct{})
		readErr    error
		readerEnd  atomic.Int64 // input offset after the last line the reader dealt with
		fatal      atomic.Value // an error that ends the run (writing an output file)
	)
	readerEnd.Store(start)
	go func() { // the reader
		defer close(readerDone)
		defer close(lines)
		lr := newLineReader(s.in.r, lisa.MaxPayloadBytes)
		var spillTo io.Writer = io.Discard
		if spill != nil {
			spillTo = spill
		}
		invalid, valid := 0, false
		for i := 0; ; i++ {
			data, over, n, err := lr.next(spillTo)
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				readErr = fmt.Errorf("lisa send: read %s: %w", s.in.name, err)
				return
			}
			end, line := start+lr.read.Load(), startLine+lr.line
			st.add(i, end, line)
			if lr.line == 1 {
				data = trimBOM(data)
			}
			switch {
			case over:
				s.report(fmt.Sprintf("%s:%d", s.in.name, line), &lisa.PayloadTooLargeError{Size: n, Limit: lisa.MaxPayloadBytes})
				s.nRejected.Add(1)
				if err := s.keepSpilled(spill); err != nil {
					fatal.Store(err)
					return
				}
				invalid++
			case blank(data):
			default:
				if !valid && !json.Valid(data) {
					invalid++
				} else {
					valid = true
				}
				select {
				case lines <- readLine{i, data, line}:
				case <-stopRead:
					return
				}
			}
			if over || blank(data) { // settled here; the others by their result
				if err := st.settle(i); err != nil {
					fatal.Store(err)
					return
				}
			}
			readerEnd.Store(end)
			if !valid && invalid >= notNDJSONAfter {
				readErr = usageError(fmt.Errorf("lisa send: %s does not look like NDJSON: its first %d lines are not JSON documents (NDJSON holds one document per line, not a JSON array); stopped", s.in.name, invalid))
				return
			}
		}
	}()

	var mu sync.Mutex
	inFlight := map[int]readLine{} // SendSeq's index → the line
	handed := 0
	payloads := func(yield func(any) bool) {
		for {
			var rl readLine
			select {
			case l, ok := <-lines:
				if !ok {
					return
				}
				rl = l
			case <-stopRead: // the reader may be blocked on standard input
				return
			}
			mu.Lock()
			inFlight[handed] = rl
			handed++
			mu.Unlock()
			if !yield(json.RawMessage(rl.data)) {
				return
			}
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	go s.onSignals(done, stopRead, cancel)

	for r := range s.client.SendSeq(ctx, payloads) {
		mu.Lock()
		rl := inFlight[r.Index]
		delete(inFlight, r.Index)
		mu.Unlock()
		if r.Err == nil {
			s.accepted.Add(1)
		} else {
			if s.shouldReport(r.Err) {
				s.report(fmt.Sprintf("%s:%d", s.in.name, rl.line), r.Err)
			}
			if err := s.keep(rl.data, r.Err); err != nil {
				fatal.Store(err)
				s.stop(stopRead)
			}
		}
		if err := st.settle(rl.i); err != nil {
			fatal.Store(err)
			s.stop(stopRead)
		}
	}
	if err, _ := fatal.Load().(error); err != nil {
		return fmt.Errorf("lisa send: %w", err)
	}
	if s.interrupted.Load() {
		return s.keepUnread(readerDone, readerEnd.Load())
	}
	<-readerDone
	return readErr
}

// onSignals stops the run on the first signal: no new sends, the ones in
// flight have -grace to finish. A second signal exits at once.
func (s *sender) onSignals(done <-chan struct{}, stopRead chan struct{}, cancel context.CancelFunc) {
	select {
	case <-done:
		return
	case <-s.signals:
	}
	s.interrupted.Store(true)
	s.stop(stopRead)
	s.report("lisa send", fmt.Errorf("stopping: no new sends; waiting up to %s for those in flight (signal again to exit now)", s.grace))
	grace := time.NewTimer(s.grace)
	defer grace.Stop()
	for {
		select {
		case <-done:
			return
		case <-grace.C:
			cancel()
		case <-s.signals:
			s.report("lisa send", errors.New("interrupted twice: exiting now; what was already reported is in the -failed/-rejected files (or their .partial files beside them)"))
			os.Exit(130)
		}
	}
}

// stop closes stopRead once.
func (s *sender) stop(stopRead chan struct{}) {
	s.outMu.Lock()
	defer s.outMu.Unlock()
	select {
	case <-stopRead:
	default:
		close(stopRead)
	}
}

// shouldReport says whether a failure gets a line of its own: notifications
// not sent because the run stopped are only counted in the summary.
func (s *sender) shouldReport(err error) bool {
	if errors.Is(err, lisa.ErrUnauthorized) {
		first := !s.unauthorized.Swap(true)
		return first && !errors.Is(err, lisa.ErrNotSent)
	}
	if errors.Is(err, lisa.ErrNotSent) {
		return false
	}
	return !(s.interrupted.Load() && errors.Is(err, context.Canceled))
}

// keepSpilled moves an oversize line from the spill file to -rejected.
func (s *sender) keepSpilled(spill io.ReadWriteSeeker) error {
	if spill == nil {
		return nil
	}
	if _, err := spill.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if _, err := s.rejected.copyFrom(spill); err != nil {
		return err
	}
	if f, ok := spill.(*os.File); ok {
		if err := f.Truncate(0); err != nil {
			return err
		}
	}
	_, err := spill.Seek(0, io.SeekStart)
	return err
}

// keepUnread deals with the input not read when the run was interrupted:
// with a checkpoint, the next run resumes; otherwise the rest of a regular
// file is copied verbatim into -failed, so that rerunning -failed is
// complete.
func (s *sender) keepUnread(readerDone <-chan struct{}, end int64) error {
	if s.cp != nil {
		return nil
	}
	if !s.in.regular {
		s.report("lisa send", errors.New("the rest of standard input was not read"))
		return nil
	}
	<-readerDone // a regular file does not block: the reader has stopped
	f, err := os.Open(s.in.path)
	if err != nil {
		return fmt.Errorf("lisa send: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(end, io.SeekStart); err != nil {
		return fmt.Errorf("lisa send: %w", err)
	}
	n, err := s.failed.copyFrom(f)
	s.notSent.Add(int64(n))
	if err != nil {
		return fmt.Errorf("lisa send: copy the unread input to -failed: %w", err)
	}
	return nil
}
