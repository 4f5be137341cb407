package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"
)

// progressEvery is how often the progress line is redrawn.
const progressEvery = 250 * time.Millisecond

// showProgress draws, on a terminal only, one line updated in place: lines
// done (of the total, once a FILE's lines are counted), accepted, failed,
// the rate and the time left. It returns a function that stops it and
// clears the line.
func (s *sender) showProgress(startLine int) (stop func()) {
	if !s.terminal {
		return func() {}
	}
	var total atomic.Int64 // 0 until counted
	if s.in.regular && s.in.path != "" {
		go func() { total.Store(int64(countLines(s.in.path))) }()
	}
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		began := time.Now()
		tick := time.NewTicker(progressEvery)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
			}
			s.report.progress(s.progressLine(startLine, int(total.Load()), time.Since(began)))
		}
	}()
	return func() {
		close(quit)
		<-finished
		s.report.clear()
	}
}

// progressLine is "1200 of 3000 lines, 1150 accepted, 50 failed, 410.2/s, 4s left".
func (s *sender) progressLine(startLine, total int, elapsed time.Duration) string {
	acc := s.accepted.Load()
	failed := s.nFailed.Load() + s.nRejected.Load() + s.notSent.Load()
	doneNow := acc + failed + s.blanks.Load()
	done := int64(startLine) + doneNow
	rate := float64(doneNow) / elapsed.Seconds()
	line := fmt.Sprintf("%d", done)
	if total > 0 {
		line += fmt.Sprintf(" of %d", total)
	}
	line += fmt.Sprintf(" lines, %d accepted, %d failed, %.1f/s", acc, failed, rate)
	if total > 0 && rate > 0 {
		left := time.Duration(float64(int64(total)-done) / rate * float64(time.Second))
		line += fmt.Sprintf(", %s left", max(left, 0).Round(time.Second))
	}
	return line
}

// countLines counts the lines of a file, a last one without "\n" included.
func countLines(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	buf := make([]byte, 256<<10)
	n, last := 0, byte('\n')
	for {
		m, err := f.Read(buf)
		if m > 0 {
			n += bytes.Count(buf[:m], []byte{'\n'})
			last = buf[m-1]
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0
		}
	}
	if last != '\n' {
		n++
	}
	return n
}
