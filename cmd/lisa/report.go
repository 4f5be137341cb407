package main

import (
	"fmt"
	"io"
	"sort"
	"sync"
)

// perKind is how many failures of one kind get a line of their own on
// stderr; the rest are counted and told once at the end, so that 100,000
// lines refused the same way make a few lines, not 100,000.
const perKind = 3

// reporter writes the run's lines on stderr, one at a time, clearing the
// progress line first when there is one.
type reporter struct {
	mu       sync.Mutex
	w        io.Writer
	terminal bool
	shown    map[string]int // failures shown, by kind
	hidden   map[string]int // failures not shown, by kind
}

func newReporter(w io.Writer, terminal bool) *reporter {
	return &reporter{w: w, terminal: terminal, shown: map[string]int{}, hidden: map[string]int{}}
}

// failure reports a line that was not accepted, unless perKind of its kind
// (limit, when smaller) were reported already.
func (r *reporter) failure(where string, err error, limit int) {
	k := kind(err)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shown[k] >= min(limit, perKind) {
		r.hidden[k]++
		return
	}
	r.shown[k]++
	r.clearLocked()
	fmt.Fprintf(r.w, "%s: %v\n", where, err)
}

// say writes one line.
func (r *reporter) say(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clearLocked()
	fmt.Fprintf(r.w, format+"\n", args...)
}

// progress replaces the progress line (a terminal only).
func (r *reporter) progress(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.terminal {
		fmt.Fprintf(r.w, "\r\033[K%s", line)
	}
}

// clear clears the progress line.
func (r *reporter) clear() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clearLocked()
}

// clearLocked clears the progress line.
func (r *reporter) clearLocked() {
	if r.terminal {
		io.WriteString(r.w, "\r\033[K")
	}
}

// hiddenCounts tells, once, how many failures of each kind had no line.
func (r *reporter) hiddenCounts() {
	r.mu.Lock()
	kinds := make([]string, 0, len(r.hidden))
	for k, n := range r.hidden {
		kinds = append(kinds, fmt.Sprintf("lisa send: … and %d more like it (%s), not shown", n, k))
	}
	r.mu.Unlock()
	sort.Strings(kinds)
	for _, line := range kinds {
		r.say("%s", line)
	}
}
