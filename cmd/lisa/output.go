package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// outFile is the -failed or the -rejected file. Each line is written at
// once, unbuffered, so that nothing reported is lost if the process is
// killed afterwards. Without a checkpoint the lines go to a temporary file
// beside the target, renamed over it when the run ends: a crash never
// leaves a half-written file in place of a good one. With a checkpoint the
// target is appended to in place, from the size the checkpoint recorded.
// A nil *outFile discards everything.
type outFile struct {
	path string // the target
	tmp  string // the file written, when renamed at the end

	mu    sync.Mutex
	f     *os.File
	size  int64
	lines int
	err   error
}

// createOut starts a new output file: a temporary file renamed over path at
// the end.
func createOut(path string) (*outFile, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*")
	if err != nil {
		return nil, err
	}
	return &outFile{path: path, tmp: f.Name(), f: f}, nil
}

// appendOut continues path in place from size (what a checkpoint recorded):
// anything written after it, a line half-written by a killed run, is cut.
func appendOut(path string, size int64) (*outFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && fi.Size() < size {
		err = fmt.Errorf("%s is shorter than the checkpoint recorded (%d < %d bytes)", path, fi.Size(), size)
	}
	if err == nil {
		err = f.Truncate(size)
	}
	if err == nil {
		_, err = f.Seek(size, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &outFile{path: path, f: f, size: size}, nil
}

// writeLine writes b and a newline in one write.
func (o *outFile) writeLine(b []byte) error {
	if o == nil {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err == nil {
		line := make([]byte, 0, len(b)+1)
		n, err := o.f.Write(append(append(line, b...), '\n'))
		if err != nil {
			o.cut(o.size, err)
		} else {
			o.size += int64(n)
			o.lines++
		}
	}
	return o.err
}

// cut records a write error and cuts the file back to size, the end of its
// last whole line, so that what a failed write left (a full disk) is never
// half a line.
func (o *outFile) cut(size int64, err error) {
	o.err = err // an *os.PathError: it names the file
	o.size = size
	if o.f.Truncate(size) == nil {
		o.f.Seek(size, io.SeekStart)
	}
}

// copyFrom appends everything r holds, and counts the lines in it.
func (o *outFile) copyFrom(r io.Reader) (lines int, err error) {
	if o == nil {
		return 0, nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return 0, o.err
	}
	defer func() { o.lines += lines }()
	buf := make([]byte, 64<<10)
	last := byte('\n')
	lineEnd := o.size // the end of the last whole line written
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			if _, werr := o.f.Write(chunk); werr != nil {
				o.cut(lineEnd, werr)
				return lines, o.err
			}
			o.size += int64(n)
			lines += bytes.Count(chunk, []byte{'\n'})
			if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
				lineEnd = o.size - int64(n-1-i)
			}
			last = chunk[n-1]
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			err = rerr
			break
		}
	}
	if last != '\n' { // a last line without its newline
		if _, werr := o.f.Write([]byte{'\n'}); werr != nil {
			o.cut(lineEnd, werr)
		} else {
			o.size++
			lines++
		}
	}
	if err == nil {
		err = o.err
	}
	return lines, err
}

// state returns the bytes and lines written so far.
func (o *outFile) state() (size int64, lines int) {
	if o == nil {
		return 0, 0
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.size, o.lines
}

// sync flushes what was written to the disk.
func (o *outFile) sync() error {
	if o == nil {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err == nil {
		o.err = o.f.Sync()
	}
	return o.err
}

// finish syncs and closes the file and puts it in place, even after a
// write error: it holds whole lines only, and they are kept. If it cannot
// be put in place, the error names the file that holds them.
func (o *outFile) finish() error {
	if o == nil {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	var err error
	if o.err == nil { // a write error was reported when it happened
		err = o.f.Sync()
	}
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	if o.tmp != "" {
		if rerr := os.Rename(o.tmp, o.path); rerr != nil {
			return fmt.Errorf("%w; the %d lines written are in %s", rerr, o.lines, o.tmp)
		}
	}
	return err
}
