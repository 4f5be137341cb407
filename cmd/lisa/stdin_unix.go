//go:build unix

package main

import (
	"os"
	"syscall"
)

// interruptible returns standard input as a file whose blocked Read ends
// when its read deadline is set, so that a signal is acted on while a
// command waits on an idle pipe or terminal, without losing a byte already
// read. It puts the descriptor (shared with whoever else holds it) in
// non-blocking mode, which restore undoes; ok is false when the descriptor
// cannot be polled (a regular file, /dev/null), whose reads do not block.
func interruptible(stdin *os.File) (f *os.File, restore func(), ok bool) {
	orig := int(stdin.Fd())
	fd, err := syscall.Dup(orig)
	if err != nil {
		return nil, nil, false
	}
	syscall.CloseOnExec(fd)
	// The mode belongs to the open file both descriptors share: restore
	// through the original, which stays open after f is closed.
	restore = func() { _ = syscall.SetNonblock(orig, false) }
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, nil, false
	}
	f = os.NewFile(uintptr(fd), "stdin") // non-blocking: Go polls it
	if err := f.SetReadDeadline(noDeadline); err != nil {
		restore()
		f.Close()
		return nil, nil, false
	}
	return f, restore, true
}
