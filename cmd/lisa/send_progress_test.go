//go:build linux

package main

// The progress line, seen through a pseudo-terminal as an operator sees it,
// and not seen through a pipe as a log sees it.

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// openPTY opens a pseudo-terminal pair (Linux /dev/ptmx).
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("open /dev/ptmx: %v", err)
		}
		t.Skipf("no pseudo-terminal (%v): skipping the progress test", err)
	}
	var unlock int32
	var n uint32
	ioctl := func(req uintptr, arg unsafe.Pointer) {
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), req, uintptr(arg)); e != 0 {
			t.Fatalf("ioctl %#x on /dev/ptmx: %v", req, e)
		}
	}
	ioctl(syscall.TIOCSPTLCK, unsafe.Pointer(&unlock))
	ioctl(syscall.TIOCGPTN, unsafe.Pointer(&n))
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	require.NoError(t, err)
	return m, s
}

// TestSendProgressOnATerminalOnly: with stderr on a terminal, one updating
// line gives lines done of the total, accepted, failed, the rate and the time
// left; with stderr on a pipe, none of it appears.
func TestSendProgressOnATerminalOnly(t *testing.T) {
	srv := lisatest.NewServer(tPlugin, tKey, tSecret)
	defer srv.Close()
	slowly(srv, 100_000, 10*time.Millisecond)
	input, _ := catalog(t, 600)
	args := []string{"send", "-ndjson", "-concurrency", "4", input}

	master, slave := openPTY(t)
	defer master.Close()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = binEnv(srv)
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, slave
	require.NoError(t, cmd.Start())
	slave.Close()
	var screen bytes.Buffer
	copied := make(chan struct{})
	go func() { io.Copy(&screen, master); close(copied) }() // ends with EIO once the command has exited
	waitOrKill(t, cmd, time.Minute)
	<-copied
	shown := screen.String()
	t.Logf("on a terminal: exit %d, %s; stderr shown %q", cmd.ProcessState.ExitCode(), strings.TrimSpace(stdout.String()), lastLine(shown))
	assert.Equal(t, "600 accepted, 0 failed\n", stdout.String())
	progress := regexp.MustCompile(`\d+ of 600 lines, \d+ accepted, \d+ failed, [\d.]+/s, \S+ left`)
	assert.Regexp(t, progress, shown, "the progress line")
	assert.Contains(t, shown, "\r", "one line, updated in place")

	cmd = exec.Command(binary(t), args...)
	cmd.Env = binEnv(srv)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	require.NoError(t, cmd.Run())
	assert.Empty(t, stderr.String(), "nothing on a pipe")
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\r\n")
	if i := strings.LastIndexAny(s, "\r\n"); i >= 0 {
		return s[i+1:]
	}
	return s
}
