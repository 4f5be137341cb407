package main

// Signals and the binary: every line read ends up accepted, kept in -failed
// or in the copy of the unread rest; an interrupted run exits 1 and says how
// to resume, whichever of SIGINT, SIGTERM or SIGHUP stopped it.

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testSignals = []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}

// TestSendStdinSignalKeepsEveryLineRead: `seq … | lisa send -ndjson - -failed
// F` then a signal. What the command read from the pipe (its buffer holds
// thousands of lines) is accepted or in F; what it did not read is still in
// the pipe, which the test reads after the command ends.
func TestSendStdinSignalKeepsEveryLineRead(t *testing.T) {
	for _, sig := range testSignals {
		t.Run(sig.String(), func(t *testing.T) {
			srv := lisatest.NewServer(tPlugin, tKey, tSecret)
			defer srv.Close()
			slowly(srv, 100_000, 20*time.Millisecond)
			lines := make([]string, 20_000)
			var all bytes.Buffer
			for i := range lines {
				lines[i] = fmt.Sprintf(`{"productId":"%d"}`, i)
				all.WriteString(lines[i] + "\n")
			}
			r, w, err := os.Pipe()
			require.NoError(t, err)
			defer r.Close()
			written := make(chan error, 1)
			go func() { _, err := w.Write(all.Bytes()); w.Close(); written <- err }()

			failed := filepath.Join(t.TempDir(), "failed.ndjson")
			cmd := exec.Command(binary(t), "send", "-ndjson", "-concurrency", "4", "-failed", failed, "-")
			cmd.Env = binEnv(srv)
			cmd.Stdin = r // the test keeps its end open, to read what the command left
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			require.NoError(t, cmd.Start())
			require.Eventually(t, func() bool { _, acc := srv.Counts(); return acc >= 25 }, 30*time.Second, 5*time.Millisecond)
			require.NoError(t, cmd.Process.Signal(sig))
			waitOrKill(t, cmd, 30*time.Second)

			left, err := io.ReadAll(r) // what the command did not read
			require.NoError(t, err)
			require.NoError(t, <-written)
			leftSet := map[string]bool{}
			for _, l := range strings.Split(strings.TrimSuffix(string(left), "\n"), "\n") {
				leftSet[l] = true
			}
			got, kept := bodies(srv), map[string]bool{}
			for _, l := range readLinesOf(t, failed) {
				kept[l] = true
			}
			lost := 0
			for _, l := range lines {
				if got[l] == 0 && !kept[l] && !leftSet[l] {
					lost++
				}
			}
			t.Logf("stdin, %s: %d accepted, %d in -failed, %d left unread in the pipe, %d lost; exit %d; %s",
				sig, len(got), len(kept), len(leftSet), lost, cmd.ProcessState.ExitCode(), strings.TrimSpace(stdout.String()))
			assert.Zero(t, lost, "every line read is accepted or in -failed\n%s", stderr.String())
			assert.Equal(t, exitFailed, cmd.ProcessState.ExitCode(), "an interrupted run never exits 0")
			assert.Contains(t, stderr.String(), "standard input")
		})
	}
}

// TestSendEverySignalStopsCleanly: SIGINT, SIGTERM and SIGHUP each stop a run
// from a file the same way: one summary, exit 1, every line accepted or in
// -failed; with -checkpoint, a resume hint, and the resumed run completes
// the input.
func TestSendEverySignalStopsCleanly(t *testing.T) {
	for _, sig := range testSignals {
		for _, withCheckpoint := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/checkpoint=%v", sig, withCheckpoint), func(t *testing.T) {
				srv := lisatest.NewServer(tPlugin, tKey, tSecret)
				defer srv.Close()
				slowly(srv, 100_000, 10*time.Millisecond)
				input, lines := catalog(t, 3000)
				dir := t.TempDir()
				failed, ckpt := filepath.Join(dir, "failed.ndjson"), filepath.Join(dir, "sync.ckpt")
				args := []string{"send", input, "-ndjson", "-concurrency", "4", "-failed", failed}
				if withCheckpoint {
					args = append(args, "-checkpoint", ckpt)
				}
				cmd := exec.Command(binary(t), args...)
				cmd.Env = binEnv(srv)
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				require.NoError(t, cmd.Start())
				require.Eventually(t, func() bool { _, acc := srv.Counts(); return acc >= 45 }, 30*time.Second, 5*time.Millisecond)
				require.NoError(t, cmd.Process.Signal(sig))
				waitOrKill(t, cmd, 30*time.Second)
				t.Logf("%s: exit %d; %s; stderr:\n%s", sig, cmd.ProcessState.ExitCode(), strings.TrimSpace(stdout.String()), stderr.String())
				assert.Equal(t, exitFailed, cmd.ProcessState.ExitCode(), "a run stopped before the end of its input exits 1")
				assert.Equal(t, 1, strings.Count(stdout.String(), "\n"), "one summary")
				assert.Contains(t, stderr.String(), sig.String())
				if withCheckpoint {
					assert.Contains(t, stderr.String(), "to resume")
					code, out, errOut := runBin(t, binEnv(srv), nil, args...)
					assert.Equal(t, exitOK, code, errOut)
					assert.Contains(t, errOut, "resuming")
					t.Logf("resumed: %s", strings.TrimSpace(out))
				}
				got, kept := bodies(srv), map[string]bool{}
				for _, l := range readLinesOf(t, failed) {
					kept[l] = true
				}
				lost := 0
				for _, l := range lines {
					if got[l] == 0 && !kept[l] {
						lost++
					}
				}
				assert.Zero(t, lost, "every line accepted or kept in -failed")
			})
		}
	}
}

// TestCommandsEndOnSignalWhileReadingStdin: a command waiting on an idle
// pipe ends promptly on each signal, sends nothing and exits non-zero.
func TestCommandsEndOnSignalWhileReadingStdin(t *testing.T) {
	srv := lisatest.NewServer(tPlugin, tKey, tSecret)
	defer srv.Close()
	for _, args := range [][]string{
		{"sign"},
		{"verify", "-signature", "00"},
		{"send"},
		{"send", "-dry-run"},
		{"send", "-ndjson", "-dry-run"},
		{"send", "-ndjson"},
	} {
		for _, sig := range testSignals {
			t.Run(strings.Join(args, " ")+"/"+sig.String(), func(t *testing.T) {
				r, w, err := os.Pipe()
				require.NoError(t, err)
				defer w.Close() // open and idle until the command has ended
				cmd := exec.Command(binary(t), args...)
				cmd.Env = binEnv(srv)
				cmd.Stdin = r
				var stderr syncBuffer
				cmd.Stderr = &stderr
				require.NoError(t, cmd.Start())
				r.Close()
				_, err = w.WriteString(`{"productId":`) // half a document, then nothing
				require.NoError(t, err)
				time.Sleep(200 * time.Millisecond)
				require.NoError(t, cmd.Process.Signal(sig))
				start := time.Now()
				waitOrKill(t, cmd, 10*time.Second)
				t.Logf("%v on %s: ended in %s, exit %d: %s", args, sig, time.Since(start).Round(time.Millisecond), cmd.ProcessState.ExitCode(), strings.TrimSpace(stderr.String()))
				assert.Equal(t, exitFailed, cmd.ProcessState.ExitCode())
				assert.Contains(t, stderr.String(), sig.String())
			})
		}
	}
	assert.Empty(t, srv.Requests(), "nothing was sent")
}

// TestSendDocumentHonoursGrace: a signal 0.3 s into a 1 s answer lets the
// answer arrive (no duplicate on resend), and -failed holds the document as
// given, with no extra blank line.
func TestSendDocumentHonoursGrace(t *testing.T) {
	h := lisatest.NewHandler(tPlugin, tKey, tSecret)
	h.Script(lisatest.Fault{Delay: time.Second, Process: true})
	arrived := make(chan struct{}, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	envv := append(credEnv(), "LISA_BASE_URL="+srv.URL)
	doc := `{"productId":"1","price":2.5}` + "\n"
	input := writeFile(t, doc)
	failed := filepath.Join(t.TempDir(), "failed.json")
	cmd := exec.Command(binary(t), "send", "-failed", failed, "-grace", "5s", input)
	cmd.Env = envv
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("the request never arrived")
	}
	time.Sleep(300 * time.Millisecond) // 0.3 s into the 1 s answer
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	waitOrKill(t, cmd, 30*time.Second)
	t.Logf("document, SIGINT 0.3 s into a 1 s answer: exit %d, %s; stderr: %s", cmd.ProcessState.ExitCode(), strings.TrimSpace(stdout.String()), strings.TrimSpace(stderr.String()))
	assert.Equal(t, "1 accepted, 0 failed\n", stdout.String(), "the answer arrived within -grace")
	assert.NotContains(t, stderr.String(), "context canceled")
	assert.Empty(t, readLinesOf(t, failed), "nothing to resend")
	assert.Equal(t, exitFailed, cmd.ProcessState.ExitCode(), "an interrupted run exits 1")

	h.Script(lisatest.Fault{Status: 503})
	code, _, errOut := runBin(t, envv, nil, "send", "-failed", failed, "-retries", "0", input)
	assert.Equal(t, exitFailed, code, errOut)
	kept, err := os.ReadFile(failed)
	require.NoError(t, err)
	assert.Equal(t, doc, string(kept), "-failed holds the document as given, without an extra blank line")
}

// TestHelpSaysWhatSendDoesWhenItStops: `lisa help send` tells what the
// command does on each signal, a full disk, 403, 404 and 422 answers, and
// the endpoint down; `lisa help` names the signals.
func TestHelpSaysWhatSendDoesWhenItStops(t *testing.T) {
	code, out, _ := runBin(t, nil, nil, "help", "send")
	assert.Equal(t, exitOK, code)
	for _, want := range []string{"SIGINT", "SIGTERM", "SIGHUP", "-grace", "full disk", "403", "404", "422", "endpoint down", "at most -concurrency lines are sent twice", "progress line"} {
		assert.Contains(t, out, want)
	}
	_, out, _ = runBin(t, nil, nil, "help")
	assert.Contains(t, out, "SIGHUP")
}

// TestSendASecondSignalSaysWhatToSendAgain: a second signal exits at once,
// without waiting for the sends in flight; it said only that what was kept
// is in -failed, while lines already read from standard input were in no
// file. It now names the line to send again from, and every line before it
// is accepted or kept.
func TestSendASecondSignalSaysWhatToSendAgain(t *testing.T) {
	srv := lisatest.NewServer(tPlugin, tKey, tSecret)
	defer srv.Close()
	slowly(srv, 100_000, 20*time.Millisecond)
	lines := make([]string, 5_000)
	var all bytes.Buffer
	for i := range lines {
		lines[i] = fmt.Sprintf(`{"productId":"%d"}`, i)
		all.WriteString(lines[i] + "\n")
	}
	failed := filepath.Join(t.TempDir(), "failed.ndjson")
	cmd := exec.Command(binary(t), "send", "-ndjson", "-concurrency", "4", "-failed", failed, "-")
	cmd.Env = binEnv(srv)
	cmd.Stdin = bytes.NewReader(all.Bytes())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	require.Eventually(t, func() bool { _, acc := srv.Counts(); return acc >= 25 }, 30*time.Second, 5*time.Millisecond)
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	time.Sleep(5 * time.Millisecond) // within -grace
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	waitOrKill(t, cmd, 30*time.Second)

	m := regexp.MustCompile(`send stdin again from line (\d+)`).FindStringSubmatch(stderr.String())
	require.NotNil(t, m, "the exit says where to start again:\n%s", stderr.String())
	from, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	got, kept := bodies(srv), map[string]bool{}
	for _, l := range readPartialOrFinal(t, failed) {
		kept[l] = true
	}
	for _, l := range lines[:from-1] {
		assert.True(t, got[l] > 0 || kept[l], "line %s is before line %d: accepted or kept", l, from)
	}
	assert.NotEqual(t, 0, cmd.ProcessState.ExitCode())
}

// readPartialOrFinal reads the lines of p, or of the .partial file beside
// it that an exit at once leaves.
func readPartialOrFinal(t *testing.T, p string) []string {
	t.Helper()
	if _, err := os.Stat(p); err == nil {
		return readLinesOf(t, p)
	}
	matches, err := filepath.Glob(filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".partial-*"))
	require.NoError(t, err)
	var out []string
	for _, m := range matches {
		out = append(out, readLinesOf(t, m)...)
	}
	return out
}
