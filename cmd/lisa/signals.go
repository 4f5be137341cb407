package main

import (
	"fmt"
	"os"
	"sync"
	"syscall"
)

// The signals that stop a command, all alike: Ctrl-C, kill, and a closed
// terminal or a dropped ssh session.
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

// stopper turns the first stop signal into a request to stop that the
// command acts on (done is closed), and a second one into an exit at once.
// A command that reads its input or sends makes one; serve reads the
// signals itself.
type stopper struct {
	done chan struct{}

	mu     sync.Mutex
	sig    os.Signal
	atExit []func()      // run before an exit at once (restore standard input)
	note   func() string // what an exit at once leaves behind, said before it
}

// stopOnSignal starts watching e's signals; with none (in-process tests),
// done is never closed.
func (e env) stopOnSignal() *stopper {
	st := &stopper{done: make(chan struct{})}
	if e.signals == nil {
		return st
	}
	go func() {
		sig := <-e.signals
		st.mu.Lock()
		st.sig = sig
		st.mu.Unlock()
		close(st.done)
		second := <-e.signals
		st.mu.Lock()
		defer st.mu.Unlock()
		for _, f := range st.atExit {
			f()
		}
		note := ""
		if st.note != nil {
			note = st.note()
		}
		fmt.Fprintf(e.stderr, "lisa: %s again: exiting now%s\n", signalName(second), note)
		os.Exit(128 + signalNumber(second))
	}()
	return st
}

// signal names the signal that asked to stop.
func (st *stopper) signal() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return signalName(st.sig)
}

// onExit registers f to run before an exit at once.
func (st *stopper) onExit(f func()) {
	st.mu.Lock()
	st.atExit = append(st.atExit, f)
	st.mu.Unlock()
}

// setNote sets what an exit at once says it leaves behind.
func (st *stopper) setNote(note func() string) {
	st.mu.Lock()
	st.note = note
	st.mu.Unlock()
}

// signalName is "SIGTERM (terminated)": the name scripts use and the
// description the shell prints.
func signalName(sig os.Signal) string {
	names := map[os.Signal]string{os.Interrupt: "SIGINT", syscall.SIGTERM: "SIGTERM", syscall.SIGHUP: "SIGHUP"}
	if sig == nil {
		return "a signal"
	}
	return fmt.Sprintf("%s (%s)", names[sig], sig)
}

func signalNumber(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return int(s)
	}
	return 2
}
