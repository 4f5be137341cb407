package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// checkpoint records how far the input of `lisa send -checkpoint` is
// settled: every line before Offset was accepted, or written to -failed or
// -rejected, whose sizes at that point it records too. A run killed at any
// moment and started again with the same files continues from there,
// cutting what the killed run wrote after the checkpoint, so each line is
// delivered at least once or kept; only the lines settled after the last
// checkpoint (those in flight) are sent again. The file is replaced
// atomically (written beside, then renamed).
type checkpoint struct {
	Input        string `json:"input"` // absolute path
	InputSize    int64  `json:"inputSize"`
	InputModTime int64  `json:"inputModTime"` // Unix nanoseconds
	Failed       string `json:"failed"`
	Rejected     string `json:"rejected,omitempty"`

	Offset       int64 `json:"offset"`
	Line         int   `json:"line"` // lines before Offset
	FailedSize   int64 `json:"failedSize"`
	RejectedSize int64 `json:"rejectedSize"`
	Complete     bool  `json:"complete"`

	path string
	mu   sync.Mutex // one save at a time
}

// loadCheckpoint reads path; it returns nil, nil when there is none.
func loadCheckpoint(path string) (*checkpoint, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var cp checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return nil, fmt.Errorf("%s is not a lisa checkpoint: %w", path, err)
	}
	cp.path = path
	return &cp, nil
}

// matches reports whether the checkpoint is for this input and these files.
func (cp *checkpoint) matches(in *input, failed, rejected string) bool {
	return cp.Input == in.path && cp.InputSize == in.info.Size() && cp.InputModTime == in.info.ModTime().UnixNano() &&
		cp.Failed == failed && cp.Rejected == rejected
}

// save writes the checkpoint in place of the last one.
func (cp *checkpoint) save() error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	b, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(cp.path), "."+filepath.Base(cp.path)+".tmp-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(append(b, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), cp.path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// settler tracks which lines are settled (accepted, or written to -failed
// or -rejected), in whatever order they finish, and moves the checkpoint to
// the end of the longest settled prefix. After a kill -9 the next run sends
// again what lies past that prefix, so with a checkpoint the reader waits
// (wait) while window lines past it are unsettled: that bounds what is sent
// twice by the window, -concurrency, however long one slow line holds the
// prefix.
type settler struct {
	mu      sync.Mutex
	next    int          // the first line, by read order, not yet settled
	pending map[int]mark // lines read and not yet passed by next
	offset  int64        // the input is settled up to here
	line    int          // and this many lines
	advance func(int64, int) error
	moved   chan struct{} // closed, and replaced, when next moves
}

// mark is a line's place in the input and whether it is settled.
type mark struct {
	end     int64 // input offset just after the line
	line    int
	settled bool
}

func newSettler(offset int64, line int, advance func(int64, int) error) *settler {
	return &settler{pending: map[int]mark{}, offset: offset, line: line, advance: advance, moved: make(chan struct{})}
}

// add registers line i (numbered in read order from 0) ending at end.
func (s *settler) add(i int, end int64, line int) {
	s.mu.Lock()
	s.pending[i] = mark{end: end, line: line}
	s.mu.Unlock()
}

// wait blocks while window lines before i are unsettled, or until stop is
// closed (then it returns false).
func (s *settler) wait(i, window int, stop <-chan struct{}) bool {
	for {
		s.mu.Lock()
		ahead, moved := i-s.next, s.moved
		s.mu.Unlock()
		if ahead < window {
			return true
		}
		select {
		case <-moved:
		case <-stop:
			return false
		}
	}
}

// settle marks line i settled and advances the checkpoint if it can.
func (s *settler) settle(i int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.pending[i]
	m.settled = true
	s.pending[i] = m
	moved := false
	for m, ok := s.pending[s.next]; ok && m.settled; m, ok = s.pending[s.next] {
		delete(s.pending, s.next)
		s.offset, s.line = m.end, m.line
		s.next++
		moved = true
	}
	if !moved {
		return nil
	}
	close(s.moved)
	s.moved = make(chan struct{})
	if s.advance != nil {
		return s.advance(s.offset, s.line)
	}
	return nil
}

// settledLines is how many lines of the input, from its start, are all
// settled.
func (s *settler) settledLines() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.line
}
