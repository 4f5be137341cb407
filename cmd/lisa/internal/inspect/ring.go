package inspect

// ring keeps the last n entries; ids are consecutive, so one is found by
// arithmetic.
type ring struct {
	buf   []*entry
	start int // index of the oldest entry
	n     int // entries held
}

func newRing(size int) *ring { return &ring{buf: make([]*entry, size)} }

// add appends e, dropping the oldest entry when full.
func (r *ring) add(e *entry) {
	if r.n < len(r.buf) {
		r.buf[(r.start+r.n)%len(r.buf)] = e
		r.n++
		return
	}
	r.buf[r.start] = e
	r.start = (r.start + 1) % len(r.buf)
}

// newestFirst returns the entries held, newest first.
func (r *ring) newestFirst() []*entry {
	out := make([]*entry, r.n)
	for i := range out {
		out[i] = r.buf[(r.start+r.n-1-i)%len(r.buf)]
	}
	return out
}

// get returns the entry with the given id, or nil when it was never held or
// was dropped.
func (r *ring) get(id int64) *entry {
	if r.n == 0 {
		return nil
	}
	oldest := r.buf[r.start].row.ID
	if id < oldest || id >= oldest+int64(r.n) {
		return nil
	}
	return r.buf[(r.start+int(id-oldest))%len(r.buf)]
}
