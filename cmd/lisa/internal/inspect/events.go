package inspect

import (
	"encoding/json"
	"sync"
)

// hub fans events out to the open event streams. A stream that falls behind
// is ended rather than waited for: the page's EventSource reconnects and
// reloads the list.
type hub struct {
	mu     sync.Mutex
	subs   map[chan []byte]struct{}
	closed bool
}

// subscriberBuffer is how many events a stream may fall behind.
const subscriberBuffer = 256

func newHub() *hub { return &hub{subs: map[chan []byte]struct{}{}} }

// subscribe returns a channel of encoded events, closed when the stream
// should end, and a function to leave.
func (h *hub) subscribe() (<-chan []byte, func()) {
	ch := make(chan []byte, subscriberBuffer)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(ch)
		return ch, func() {}
	}
	h.subs[ch] = struct{}{}
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.subs[ch]; ok {
			delete(h.subs, ch)
			close(ch)
		}
	}
}

// publish sends one event of the given name with v as its JSON data.
func (h *hub) publish(name string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		return
	}
	msg := []byte("event: " + name + "\ndata: " + string(data) + "\n\n")
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- msg:
		default: // too far behind: end this stream
			delete(h.subs, ch)
			close(ch)
		}
	}
}

// close ends every stream, and any later one at once.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for ch := range h.subs {
		delete(h.subs, ch)
		close(ch)
	}
}
