package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// input is the FILE argument, or standard input for none or "-".
type input struct {
	r       io.Reader
	name    string      // for messages: the path, or "stdin"
	path    string      // "" for standard input
	info    os.FileInfo // nil when unknown (standard input in tests)
	regular bool        // a regular file: seekable, with a size
	close   func()

	// setDeadline bounds a blocked read of standard input; nil when reads
	// cannot block (a regular file) or cannot be interrupted.
	setDeadline func(time.Time) error
}

// noDeadline clears a read deadline.
var noDeadline time.Time

// errInterrupted is what a read returns once a signal asked to stop.
var errInterrupted = errors.New("interrupted")

// openInput opens the input. A read of standard input that blocks (an idle
// pipe, a terminal) ends with errInterrupted when stop is done.
func (e env) openInput(files []string, stop *stopper) (*input, error) {
	switch {
	case len(files) > 1:
		return nil, usageError(errors.New("lisa: give at most one FILE (or - for standard input)"))
	case len(files) == 0 || files[0] == "-":
		return e.openStdin(stop), nil
	}
	f, err := os.Open(files[0])
	if err != nil {
		return nil, usageError(fmt.Errorf("lisa: %w", err))
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, usageError(fmt.Errorf("lisa: %w", err))
	}
	abs, _ := filepath.Abs(files[0])
	return &input{r: f, name: files[0], path: abs, info: fi, regular: fi.Mode().IsRegular(), close: func() { f.Close() }}, nil
}

func (e env) openStdin(stop *stopper) *input {
	in := &input{r: e.stdin, name: "stdin", close: func() {}}
	f, ok := e.stdin.(*os.File)
	if !ok {
		return in
	}
	if fi, err := f.Stat(); err == nil {
		in.info = fi
		in.regular = fi.Mode().IsRegular()
	}
	if in.regular {
		return in
	}
	nf, restore, ok := interruptible(f)
	if !ok {
		return in
	}
	stop.onExit(restore)
	closed := make(chan struct{})
	go func() {
		select {
		case <-stop.done:
			nf.SetReadDeadline(time.Now()) // ends a blocked read at once
		case <-closed:
		}
	}()
	in.r = deadlineReader{nf}
	in.setDeadline = nf.SetReadDeadline
	in.close = func() {
		close(closed)
		restore()
		nf.Close()
	}
	return in
}

// deadlineReader reports a read ended by its deadline as errInterrupted.
type deadlineReader struct{ f *os.File }

func (d deadlineReader) Read(p []byte) (int, error) {
	n, err := d.f.Read(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = errInterrupted
	}
	return n, err
}

// sameFile reports whether path names the input's file (by identity: a
// symbolic or hard link to it counts, and so does standard input
// redirected from it).
func (in *input) sameFile(path string) bool {
	if in.info == nil || path == "" {
		return false
	}
	fi, err := os.Stat(path)
	return err == nil && os.SameFile(fi, in.info)
}

// readAtMost reads at most limit bytes, and says whether there was more,
// without reading past limit+1.
func readAtMost(r io.Reader, limit int64) ([]byte, bool, error) {
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, limit+1))
	if err != nil {
		return nil, false, err
	}
	if n > limit {
		return nil, true, nil
	}
	return buf.Bytes(), false, nil
}

// readError says why reading the input failed: a signal, or the error.
func readError(cmd string, in *input, stop *stopper, err error) error {
	if errors.Is(err, errInterrupted) {
		return &exitError{code: exitFailed, err: fmt.Errorf("lisa %s: stopped by %s while reading %s: nothing was done", cmd, stop.signal(), in.name)}
	}
	return fmt.Errorf("lisa %s: read %s: %w", cmd, in.name, err)
}
