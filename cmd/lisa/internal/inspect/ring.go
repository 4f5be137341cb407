package inspect

// maxRingBytes bounds what the ring holds as a whole, whatever Keep says: a
// kept request may hold its body (up to 192 KiB), that body as shown, its
// indented view and the bytes its signature matched (up to 1 MiB each), so
// Keep alone would allow gigabytes. Past this, the oldest are dropped.
const maxRingBytes = 32 << 20

// ring keeps the last entries, at most len(buf) of them and at most
// maxRingBytes of them; ids are consecutive, so one is found by arithmetic.
type ring struct {
	buf   []*entry
	start int // index of the oldest entry
	n     int // entries held
	bytes int // their sizes summed
}

func newRing(size int) *ring { return &ring{buf: make([]*entry, size)} }

// add appends e, dropping the oldest entries while the ring is full or over
// maxRingBytes (e itself is kept).
func (r *ring) add(e *entry) {
	if r.n == len(r.buf) {
		r.dropOldest()
	}
	r.buf[(r.start+r.n)%len(r.buf)] = e
	r.n++
	r.bytes += e.size
	for r.bytes > maxRingBytes && r.n > 1 {
		r.dropOldest()
	}
}

func (r *ring) dropOldest() {
	r.bytes -= r.buf[r.start].size
	r.buf[r.start] = nil
	r.start = (r.start + 1) % len(r.buf)
	r.n--
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
