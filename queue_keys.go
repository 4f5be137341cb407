package lisa

import "encoding/json"

// line holds the payloads of a Queue waiting to be sent, oldest first, and
// coalesces them by key: a key has at most one payload waiting and one in
// flight. It is guarded by the queue's mutex.
type line struct {
	head, tail *item
	keys       map[string]*keyState
	items      int   // payloads waiting: in the list, or parked behind their key
	bytes      int64 // and their bytes
}

// item is one payload waiting or in flight.
type item struct {
	index   int
	key     string
	body    []byte
	carried []any // Observer.Enqueued's values, of this payload and those it replaced
	next    *item
}

// keyState is the state of one key.
type keyState struct {
	waiting *item // the key's payload waiting: in the list, or parked while busy
	busy    bool  // a payload of the key is in flight
	latest  int   // the index of the newest payload of the key
}

// maxCarried bounds the Observer values one payload carries for the
// payloads it replaced: a key updated without pause must not grow them.
const maxCarried = 32

func newLine() line { return line{keys: map[string]*keyState{}} }

// add queues a checked payload. q.mu is held.
func (q *Queue) add(key string, body []byte, carried any) {
	index := q.nextIndex
	q.nextIndex++
	q.stats.Enqueued++
	q.outstanding++
	if old := q.line.add(index, key, body, carried); old != nil {
		q.stats.Superseded++
		q.addResult(report{r: Result{Index: old.index, Key: key, Err: ErrSuperseded}})
	}
	q.work.Signal()
}

// add puts a payload in line. A keyed payload replaces the key's payload
// still waiting, in its place, and returns the one replaced.
func (l *line) add(index int, key string, body []byte, carried any) (replaced *item) {
	var values []any
	if carried != nil {
		values = []any{carried}
	}
	it := &item{index: index, key: key, body: body, carried: values}
	if key == "" {
		l.push(it)
		l.items++
		l.bytes += int64(len(body))
		return nil
	}
	k := l.keys[key]
	if k == nil {
		k = &keyState{}
		l.keys[key] = k
	}
	k.latest = index
	if old := k.waiting; old != nil {
		replaced = &item{index: old.index, key: key}
		l.bytes += int64(len(body) - len(old.body))
		old.index, old.body = index, body
		old.carried = append(old.carried, values...)
		if n := len(old.carried); n > maxCarried {
			old.carried = old.carried[n-maxCarried:]
		}
		return replaced
	}
	k.waiting = it
	l.items++
	l.bytes += int64(len(body))
	if !k.busy { // otherwise it is parked until the payload in flight is done
		l.push(it)
	}
	return nil
}

func (l *line) push(it *item) {
	if l.tail == nil {
		l.head = it
	} else {
		l.tail.next = it
	}
	l.tail = it
}

// take returns the next payload to send, or nil, and marks its key busy.
func (l *line) take() *item {
	it := l.head
	if it == nil {
		return nil
	}
	l.head = it.next
	if l.head == nil {
		l.tail = nil
	}
	it.next = nil
	l.items--
	l.bytes -= int64(len(it.body))
	if it.key != "" {
		k := l.keys[it.key]
		k.waiting, k.busy = nil, true
	}
	return it
}

// done ends the flight of it: the key's parked payload, if any, gets in
// line. It reports whether it was still its key's newest payload.
func (l *line) done(it *item) (newest bool) {
	if it.key == "" {
		return true
	}
	k := l.keys[it.key]
	k.busy = false
	newest = k.latest == it.index
	if k.waiting != nil {
		l.push(k.waiting)
	} else {
		delete(l.keys, it.key)
	}
	return newest
}

// drain removes and returns every payload waiting, parked ones included.
func (l *line) drain() []*item {
	var out []*item
	for it := l.head; it != nil; it = it.next {
		out = append(out, it)
	}
	l.head, l.tail = nil, nil
	for key, k := range l.keys {
		if k.waiting != nil && k.busy { // parked: not in the list
			out = append(out, k.waiting)
		}
		k.waiting = nil
		if !k.busy {
			delete(l.keys, key)
		}
	}
	l.items, l.bytes = 0, 0
	return out
}

// hasRoom reports whether a body of size bytes fits: what waits to be sent
// and what waits for OnResult count. q.mu is held.
func (q *Queue) hasRoom(size int) bool {
	return q.line.items+q.resultItems < q.opts.MaxItems &&
		q.line.bytes+q.resultBytes+int64(size) <= q.opts.MaxBytes
}

// firstByte is the address of a []byte or json.RawMessage payload's first
// byte, or nil.
func firstByte(payload any) *byte {
	switch p := payload.(type) {
	case []byte:
		if len(p) > 0 {
			return &p[0]
		}
	case json.RawMessage:
		if len(p) > 0 {
			return &p[0]
		}
	}
	return nil
}

// signalRoom wakes the Enqueue calls waiting for room. q.mu is held.
func (q *Queue) signalRoom() {
	if q.room != nil {
		close(q.room)
		q.room = nil
	}
}
