package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"sync/atomic"
)

// lineReader reads NDJSON one line at a time in bounded memory: a line up to
// limit bytes is returned whole; a longer one is streamed to a spill writer
// as it is read, so that it can be reported (and kept) without being held.
type lineReader struct {
	r     *bufio.Reader
	limit int
	line  int          // number of the last line returned, from 1
	read  atomic.Int64 // bytes consumed so far, the partial line included

	// partial is the start of a line whose read failed (a signal ended
	// it): read from the input, not returned; nil when there is none.
	partial []byte
}

func newLineReader(r io.Reader, limit int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 64<<10), limit: limit}
}

// next returns the next line without its "\n" (a "\r" before it is kept, so
// the line stays byte-exact). For a line longer than the limit, data is nil,
// over is true, size is its length, and the line followed by "\n" has been
// written to spill. At the end of the input next returns io.EOF.
func (lr *lineReader) next(spill io.Writer) (data []byte, over bool, size int, err error) {
	var buf []byte
	started := false
	for {
		chunk, rerr := lr.r.ReadSlice('\n')
		lr.read.Add(int64(len(chunk)))
		if len(chunk) > 0 {
			started = true
		}
		end := rerr == nil // chunk ends with "\n"
		content := chunk
		if end {
			content = chunk[:len(chunk)-1]
		}
		size += len(content)
		switch {
		case over:
			if _, err := spill.Write(content); err != nil {
				return nil, true, size, err
			}
		case size > lr.limit:
			over = true
			if _, err := spill.Write(buf); err != nil {
				return nil, true, size, err
			}
			if _, err := spill.Write(content); err != nil {
				return nil, true, size, err
			}
			buf = nil
		default:
			buf = append(buf, content...)
		}
		switch {
		case rerr == nil, rerr == io.EOF && started:
			lr.line++
			if over {
				_, err := spill.Write([]byte{'\n'})
				return nil, true, size, err
			}
			if buf == nil {
				buf = []byte{}
			}
			return buf, false, size, nil
		case rerr == io.EOF:
			return nil, false, 0, io.EOF
		case errors.Is(rerr, bufio.ErrBufferFull):
			continue
		default:
			if !over {
				lr.partial = append(buf, content...)
			}
			return nil, false, 0, rerr
		}
	}
}

// blank reports whether a line holds only white space.
func blank(line []byte) bool {
	return len(bytes.TrimSpace(line)) == 0
}
