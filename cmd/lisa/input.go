package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// input is the FILE argument, or standard input for none or "-".
type input struct {
	r       io.Reader
	name    string      // for messages: the path, or "stdin"
	path    string      // "" for standard input
	info    os.FileInfo // nil when unknown (standard input in tests)
	regular bool        // a regular file: seekable, with a size
	close   func()
}

func (e env) openInput(files []string) (*input, error) {
	switch {
	case len(files) > 1:
		return nil, usageError(errors.New("lisa: give at most one FILE (or - for standard input)"))
	case len(files) == 0 || files[0] == "-":
		in := &input{r: e.stdin, name: "stdin", close: func() {}}
		if f, ok := e.stdin.(*os.File); ok {
			if fi, err := f.Stat(); err == nil {
				in.info = fi
			}
		}
		return in, nil
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
