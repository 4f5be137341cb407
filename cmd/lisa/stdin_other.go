//go:build !unix

package main

import "os"

// interruptible is not available here: a command waiting on standard input
// ends on a signal by the signal's default action.
func interruptible(stdin *os.File) (f *os.File, restore func(), ok bool) {
	return nil, nil, false
}
