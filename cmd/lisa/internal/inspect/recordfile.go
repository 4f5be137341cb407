package inspect

import (
	"bytes"
	"encoding/json"
	"io"
	"sync"
)

// recorder appends accepted bodies to the -record file as NDJSON, one body a
// line, in the format `lisa send -ndjson` reads back.
type recorder struct {
	mu  sync.Mutex
	w   io.Writer
	err error // the first write error; later bodies are not written
}

// write appends body as one line: as received when it is one line already
// (so that lisa send sends the same bytes again), else compacted. It
// reports whether this write failed first.
func (rc *recorder) write(body []byte) (failedNow bool) {
	line := body
	if bytes.ContainsAny(body, "\r\n") {
		var b bytes.Buffer
		if json.Compact(&b, body) != nil {
			return false // not JSON: the checks accepted only JSON, so this does not happen
		}
		line = b.Bytes()
	}
	line = append(line[:len(line):len(line)], '\n')
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.err != nil {
		return false
	}
	_, rc.err = rc.w.Write(line)
	return rc.err != nil
}

// failed returns the first write error, if any.
func (rc *recorder) failed() error {
	if rc == nil {
		return nil
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.err
}
