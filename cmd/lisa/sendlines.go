package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
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
// input and hands each line on; when the run stops early (see halt), it
// stops there, and once the lines in flight are settled the rest is kept
// (keepRest).
func (s *sender) lines() error {
	var start int64
	var startLine int
	var advance func(int64, int) error
	if s.cp != nil {
		start, startLine, advance = s.cp.Offset, s.cp.Line, s.saveCheckpoint
	}
	st := newSettler(start, startLine, advance)
	s.stop.setNote(func() string { // said by an exit at once: what a rerun must send again
		n := st.settledLines()
		return fmt.Sprintf("; lines 1 to %d of %s are accepted or kept in the -failed/-rejected files (or their .partial files beside them); "+
			"lines after %d that were read are not: send %s again from line %d", n, s.in.name, n, s.in.name, n+1)
	})
	stopProgress := s.showProgress(startLine)

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
		readerDone = make(chan struct{})
		readErr    error
		stopped    bool   // the reader stopped before the end of the input
		inHand     []byte // the line it held then, read and not handed on
		restFrom   int    // the first line not handed on
	)
	lr := newLineReader(s.in.r, lisa.MaxPayloadBytes)
	go func() { // the reader
		defer close(readerDone)
		defer close(lines)
		var spillTo io.Writer = io.Discard
		if spill != nil {
			spillTo = spill
		}
		invalid, valid := 0, false
		stop := func(data []byte, line int) { stopped, inHand, restFrom = true, data, line }
		for i := 0; ; {
			if s.isHalted() {
				stop(nil, startLine+lr.line+1)
				return
			}
			data, over, n, err := lr.next(spillTo)
			if errors.Is(err, io.EOF) {
				return
			}
			if errors.Is(err, errInterrupted) {
				s.halt(haltSignal, nil) // the signal watcher may not have yet
				stop(nil, startLine+lr.line+1)
				return
			}
			if err != nil {
				readErr = fmt.Errorf("lisa send: read %s: %w", s.in.name, err)
				return
			}
			end, line := start+lr.read.Load(), startLine+lr.line
			if lr.line == 1 {
				data = trimBOM(data)
			}
			st.add(i, end, line)
			switch {
			case over:
				s.report.failure(fmt.Sprintf("%s:%d", s.in.name, line), tooLarge(n), perKind)
				s.nRejected.Add(1)
				s.settleOrHalt(st, i, s.keepSpilled(spill))
				invalid++
			case blank(data):
				s.blanks.Add(1)
				s.settleOrHalt(st, i, nil)
			default:
				if !valid && !json.Valid(data) {
					invalid++
				} else {
					valid = true
				}
				// With a checkpoint, at most -concurrency lines are in
				// progress past it: what a kill -9 makes the next run send
				// again.
				if s.cp != nil && !st.wait(i, s.concurrency, s.halted) {
					stop(data, line)
					return
				}
				select {
				case lines <- readLine{i, data, line}:
				case <-s.halted:
					stop(data, line)
					return
				}
			}
			i++
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
			case <-s.halted:
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
	go s.onSignal(done, cancel)

	downAfter := max(8, 2*s.concurrency)
	streak := 0 // lines in a row that got no answer at all
	for r := range s.client.SendSeq(ctx, payloads) {
		mu.Lock()
		rl := inFlight[r.Index]
		delete(inFlight, r.Index)
		mu.Unlock()
		if r.Err == nil {
			s.accepted.Add(1)
			streak = 0
			s.settleOrHalt(st, rl.i, nil)
			continue
		}
		where := fmt.Sprintf("%s:%d", s.in.name, rl.line)
		switch {
		case failsEveryRequest(r.Err):
			s.report.failure(where, r.Err, 1) // once: the summary says the rest
			// No new sends; those in flight get their answers (cancelled,
			// one the server took would be sent again on a rerun).
			s.halt(haltEvery, r.Err)
		case noAnswer(r.Err):
			if k, _ := s.why(); k == haltNone || k == haltDown {
				s.report.failure(where, r.Err, perKind)
			}
			if streak++; streak >= downAfter {
				s.halt(haltDown, r.Err)
				cancel()
			}
		case notSent(r.Err), errors.Is(r.Err, context.Canceled): // the run stopped: the summary says so
		default:
			streak = 0
			s.report.failure(where, r.Err, perKind)
		}
		s.settleOrHalt(st, rl.i, s.keep(rl.data, r.Err))
	}
	close(done)
	<-readerDone
	if stopped {
		s.keepRest(lr, inHand, restFrom)
	}
	stopProgress()
	s.settledTo = st.settledLines()
	return readErr
}

// settleOrHalt settles line i, unless keeping it failed (err): then the
// run stops, since nothing more could be kept.
func (s *sender) settleOrHalt(st *settler, i int, err error) {
	if err == nil {
		err = st.settle(i)
	}
	if err != nil {
		s.halt(haltWrite, err) // the summary says what and where
	}
}

// isHalted reports whether the run stopped early.
func (s *sender) isHalted() bool {
	select {
	case <-s.halted:
		return true
	default:
		return false
	}
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

// keepRest deals with the input not handed on when the run stopped early,
// from line first (inHand, when not nil, is that line, read and not sent).
// With a checkpoint it stays where it is, for the next run; after a write
// error it cannot be kept; otherwise it is copied verbatim into -failed: the
// line in hand, a line a signal cut, what was read ahead, then the input to
// its end -- except standard input after a signal, of which only what was
// read is copied, up to the end of the line it is in (waiting at most a
// second for it), so that the signal ends the run promptly.
//
// It runs once the reader has stopped and the lines in flight are settled,
// so that those are written first: if the disk fills during the copy, every
// line before the rest is kept.
func (s *sender) keepRest(lr *lineReader, inHand []byte, first int) {
	s.restFrom = first
	k, _ := s.why()
	if s.cp != nil || k == haltWrite || s.failed == nil {
		return
	}
	var head []byte
	if inHand != nil {
		head = append(append(head, inHand...), '\n')
	}
	head = append(head, lr.partial...)
	var rest io.Reader = lr.r // what the reader holds, then the input
	all := s.in.regular || k != haltSignal
	if !all {
		buffered, _ := lr.r.Peek(lr.r.Buffered())
		head = append(head, buffered...)
		lr.r.Discard(len(buffered))
		rest = bytes.NewReader(nil)
		if len(head) > 0 && head[len(head)-1] != '\n' && s.in.setDeadline != nil {
			// A byte at a time, straight from the input: whatever the
			// buffer would read past the newline would be lost.
			s.in.setDeadline(time.Now().Add(time.Second))
			b := make([]byte, 1)
			for len(head) < 2*lisa.MaxPayloadBytes && head[len(head)-1] != '\n' {
				if n, err := s.in.r.Read(b); n == 0 || err != nil {
					break
				}
				head = append(head, b[0])
			}
		}
		if len(head) > 0 && head[len(head)-1] != '\n' {
			s.report.say("lisa send: line %d of %s was cut by the signal: its start is the last line of %s, its end was not read", first+bytes.Count(head, []byte{'\n'}), s.in.name, s.failedPath)
		}
	}
	n, err := s.failed.copyFrom(io.MultiReader(bytes.NewReader(head), rest))
	s.restCopied = n
	s.notSent.Add(int64(n))
	s.restAll = all && err == nil
	if err != nil && !errors.Is(err, errInterrupted) {
		s.restErr = err
		s.halt(haltWrite, err)
	}
}
