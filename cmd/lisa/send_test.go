package main

// Tests of lisa send that run the built binary, as a cron job would: real
// signals, SIGKILL, files, exit codes.

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go"
	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// binEnv is the environment for the binary against srv.
func binEnv(srv *lisatest.Server) []string {
	return append(credEnv(), "LISA_BASE_URL="+srv.URL)
}

// runBin runs the binary to its end (within a minute) and returns its exit
// code and output.
func runBin(t *testing.T, envv []string, stdin *os.File, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = envv
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	waitOrKill(t, cmd, time.Minute)
	for _, out := range []string{stdout.String(), stderr.String()} {
		assert.NotContains(t, out, tKey)
		assert.NotContains(t, out, tSecret)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// waitOrKill waits for cmd, failing the test if it runs past limit.
func waitOrKill(t *testing.T, cmd *exec.Cmd, limit time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(limit):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%v did not end within %s", cmd.Args, limit)
	}
}

// catalog writes n NDJSON lines, each a distinct product.
func catalog(t *testing.T, n int) (string, []string) {
	t.Helper()
	lines := make([]string, n)
	for i := range lines {
		lines[i] = fmt.Sprintf(`{"productId":"%d","price":%d.5}`, i, i)
	}
	p := filepath.Join(t.TempDir(), "catalog.ndjson")
	require.NoError(t, os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
	return p, lines
}

// readLinesOf returns the lines of a file ("" when it does not exist).
func readLinesOf(t *testing.T, p string) []string {
	t.Helper()
	b, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	if len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// bodies returns how many times the server accepted each body.
func bodies(srv *lisatest.Server) map[string]int {
	out := map[string]int{}
	for _, n := range srv.Received() {
		out[string(n.Body)]++
	}
	return out
}

// slowly makes every request of srv take d, after it is processed.
func slowly(srv *lisatest.Server, n int, d time.Duration) {
	faults := make([]lisatest.Fault, n)
	for i := range faults {
		faults[i] = lisatest.Fault{Delay: d, Process: true}
	}
	srv.Script(faults...)
}

func TestSendRefusesAnOutputThatIsTheInput(t *testing.T) {
	srv := lisatest.NewServer(tPlugin, tKey, tSecret)
	defer srv.Close()
	input, _ := catalog(t, 20)
	before, err := os.ReadFile(input)
	require.NoError(t, err)
	dir := t.TempDir()
	symlink, hardlink := filepath.Join(dir, "sym"), filepath.Join(dir, "hard")
	require.NoError(t, os.Symlink(input, symlink))
	require.NoError(t, os.Link(input, hardlink))
	for name, args := range map[string][]string{
		"same path":         {"send", "-ndjson", "-failed", input, input},
		"symbolic link":     {"send", "-ndjson", "-failed", symlink, input},
		"hard link":         {"send", "-ndjson", "-failed", hardlink, input},
		"rejected":          {"send", "-ndjson", "-failed", filepath.Join(dir, "f"), "-rejected", input, input},
		"checkpoint":        {"send", "-ndjson", "-failed", filepath.Join(dir, "f"), "-checkpoint", input, input},
		"stdin from it (-)": {"send", "-ndjson", "-failed", input, "-"},
	} {
		t.Run(name, func(t *testing.T) {
			in, err := os.Open(input)
			require.NoError(t, err)
			defer in.Close()
			code, _, errOut := runBin(t, binEnv(srv), in, args...)
			assert.Equal(t, exitUsage, code, errOut)
			assert.Contains(t, errOut, "is the input")
			after, err := os.ReadFile(input)
			require.NoError(t, err)
			assert.Equal(t, before, after, "the input is untouched")
		})
	}
	assert.Empty(t, srv.Requests(), "nothing was sent")
}

func TestSendSignalStopsWithOneSummaryAndKeepsEveryLine(t *testing.T) {
	srv := lisatest.NewServer(tPlugin, tKey, tSecret)
	defer srv.Close()
	slowly(srv, 100_000, 20*time.Millisecond)
	input, lines := catalog(t, 3000)
	failed := filepath.Join(t.TempDir(), "failed.ndjson")
	cmd := exec.Command(binary(t), "send", input, "-ndjson", "-concurrency", "4", "-failed", failed, "-grace", "5s")
	cmd.Env = binEnv(srv)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	require.Eventually(t, func() bool { _, acc := srv.Counts(); return acc >= 40 }, 30*time.Second, 5*time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	waitOrKill(t, cmd, time.Minute)

	assert.Equal(t, exitFailed, cmd.ProcessState.ExitCode())
	assert.Equal(t, 1, strings.Count(stdout.String(), "\n"), "one summary: %s", stdout.String())
	assert.Contains(t, stdout.String(), "not sent")
	assert.Less(t, strings.Count(stderr.String(), "\n"), 10, "no line per unsent notification:\n%s", stderr.String())
	assert.NotContains(t, stderr.String(), "context canceled")

	got := bodies(srv)
	kept := readLinesOf(t, failed)
	keptSet := map[string]bool{}
	for _, l := range kept {
		keptSet[l] = true
	}
	for i, l := range lines {
		assert.True(t, got[l] > 0 || keptSet[l], "line %d was neither accepted nor kept in -failed", i+1)
	}
	assert.Less(t, len(got), len(lines), "the run was interrupted before the end")
	assert.Subset(t, lines, kept, "-failed holds input lines, verbatim")
}

func TestSendSecondSignalExitsAtOnce(t *testing.T) {
	srv := lisatest.NewServer(tPlugin, tKey, tSecret)
	defer srv.Close()
	srv.Script(lisatest.Fault{Delay: time.Hour, Process: true}, lisatest.Fault{Delay: time.Hour, Process: true})
	input, _ := catalog(t, 2)
	cmd := exec.Command(binary(t), "send", "-ndjson", "-grace", "1h", "-timeout", "1h", input)
	cmd.Env = binEnv(srv)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	time.Sleep(300 * time.Millisecond) // let the command start and its sends wait on the server
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "stopping") }, 30*time.Second, 10*time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	waitOrKill(t, cmd, 30*time.Second) // with a grace of an hour, only the second signal ends it
	assert.Equal(t, 130, cmd.ProcessState.ExitCode())
}

func TestSendSignalWhileWaitingOnStdin(t *testing.T) {
	srv := lisatest.NewServer(tPlugin, tKey, tSecret)
	defer srv.Close()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer w.Close()
	cmd := exec.Command(binary(t), "send", "-ndjson")
	cmd.Env = binEnv(srv)
	cmd.Stdin = r
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	require.NoError(t, cmd.Start())
	r.Close()
	_, err = w.WriteString(`{"productId":"1"}` + "\n") // then the pipe stays open
	require.NoError(t, err)
	require.Eventually(t, func() bool { _, acc := srv.Counts(); return acc == 1 }, 30*time.Second, 5*time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	waitOrKill(t, cmd, 30*time.Second)
	assert.Equal(t, "1 accepted, 0 failed\n", stdout.String())
}

func TestSendResumesAfterSIGKILL(t *testing.T) {
	srv := lisatest.NewServer(tPlugin, tKey, tSecret, lisatest.WithRandomFaults(lisatest.RandomFaults{Seed: 7, ServerError: 0.05}))
	defer srv.Close()
	slowly(srv, 1200, 5*time.Millisecond)
	const concurrency = 4
	input, lines := catalog(t, 2000)
	dir := t.TempDir()
	failed, ckpt := filepath.Join(dir, "failed.ndjson"), filepath.Join(dir, "sync.ckpt")
	args := []string{"send", input, "-ndjson", "-concurrency", fmt.Sprint(concurrency), "-retries", "0", "-failed", failed, "-checkpoint", ckpt}

	kills := 0
	for _, after := range []int{300, 900} { // killed twice, at different points
		cmd := exec.Command(binary(t), args...)
		cmd.Env = binEnv(srv)
		require.NoError(t, cmd.Start())
		require.Eventually(t, func() bool { _, acc := srv.Counts(); return acc >= after }, 60*time.Second, time.Millisecond)
		require.NoError(t, cmd.Process.Kill())
		_ = cmd.Wait()
		kills++
	}
	code, out, errOut := runBin(t, binEnv(srv), nil, args...)
	assert.Contains(t, []int{exitOK, exitFailed}, code, errOut)
	assert.Contains(t, errOut, "resuming")

	got := bodies(srv)
	keptSet := map[string]bool{}
	for _, l := range readLinesOf(t, failed) {
		keptSet[l] = true
	}
	lost, duplicates := 0, 0
	for _, l := range lines {
		if got[l] == 0 && !keptSet[l] {
			lost++
		}
		if got[l] > 1 {
			duplicates += got[l] - 1
		}
	}
	t.Logf("resume: %d lines, killed %d times: %d lost, %d delivered twice, %d in -failed; last run: %s",
		len(lines), kills, lost, duplicates, len(keptSet), strings.TrimSpace(out))
	assert.Zero(t, lost, "every line accepted at least once or kept in -failed")
	assert.LessOrEqual(t, duplicates, kills*concurrency, "at most -concurrency lines sent again per kill, as documented")

	// The checkpoint says the run completed: the next run starts over.
	cp, err := loadCheckpoint(ckpt)
	require.NoError(t, err)
	assert.True(t, cp.Complete)
}

func TestSendStopsAfterA401(t *testing.T) {
	srv := lisatest.NewServer(tPlugin, tKey, tSecret)
	defer srv.Close()
	input, lines := catalog(t, 20_000)
	failed := filepath.Join(t.TempDir(), "failed.ndjson")
	envv := append(binEnv(srv), "LISA_SECRET=not-the-secret")
	code, out, errOut := runBin(t, envv, nil, "send", "-ndjson", "-concurrency", "8", "-failed", failed, input)
	requests, _ := srv.Counts()
	t.Logf("wrong secret: %d lines, %d requests; %s", len(lines), requests, strings.TrimSpace(out))
	assert.Equal(t, exitFailed, code)
	assert.LessOrEqual(t, requests, 8, "only the sends already started")
	assert.Equal(t, 1, strings.Count(errOut, "answered 401"), "one line for the 401 itself:\n%s", errOut)
	assert.Contains(t, errOut, "LISA_SECRET")
	assert.ElementsMatch(t, lines, readLinesOf(t, failed), "every line kept for a rerun")
}

func TestSendRejectedKeepsWhatCanNeverSucceed(t *testing.T) {
	srv := lisatest.NewServer(tPlugin, tKey, tSecret)
	defer srv.Close()
	srv.Script(lisatest.Fault{Status: 400}, lisatest.Fault{Status: 503})
	good1, good2 := `{"productId":"1"}`, `{"productId":"2"}`
	oversize := `{"d":"` + strings.Repeat("x", lisa.MaxPayloadBytes) + `"}`
	input := writeFile(t, strings.Join([]string{good1, good2, "not json", oversize, `{"productId":"3"}`}, "\n")+"\n")
	dir := t.TempDir()
	failed, rejected := filepath.Join(dir, "failed"), filepath.Join(dir, "rejected")
	code, out, errOut := runBin(t, binEnv(srv), nil, "send", "-ndjson", "-concurrency", "1", "-retries", "0", "-failed", failed, "-rejected", rejected, input)
	assert.Equal(t, exitFailed, code, errOut)
	assert.Equal(t, "1 accepted, 1 failed, 3 rejected\n", out)
	assert.Equal(t, []string{good2}, readLinesOf(t, failed), "the 503 may succeed later")
	assert.ElementsMatch(t, []string{good1, "not json", oversize}, readLinesOf(t, rejected), "the 400, the invalid and the oversize line")
	assert.Contains(t, errOut, "input:3:")
	assert.Contains(t, errOut, "input:4:")
}

func TestSendRefusesEarly(t *testing.T) {
	srv := lisatest.NewServer(tPlugin, tKey, tSecret)
	defer srv.Close()

	t.Run("a 60 MB document on stdin", func(t *testing.T) {
		// Written in chunks: the forked child's peak RSS counts the test's
		// own memory at the fork.
		big := filepath.Join(t.TempDir(), "big.json")
		f, err := os.Create(big)
		require.NoError(t, err)
		chunk := bytes.Repeat([]byte("x"), 1<<20)
		for range 60 {
			_, err = f.Write(chunk)
			require.NoError(t, err)
		}
		require.NoError(t, f.Close())
		r, w, err := os.Pipe() // a pipe, so the command cannot just stat the size
		require.NoError(t, err)
		written := make(chan int64, 1)
		go func() {
			f, _ := os.Open(big)
			defer f.Close()
			defer w.Close()
			n, _ := io.Copy(w, f) // ends when the command closes its end
			written <- n
		}()
		cmd := exec.Command(binary(t), "send")
		cmd.Env = binEnv(srv)
		cmd.Stdin = r
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		require.NoError(t, cmd.Start())
		r.Close()
		waitOrKill(t, cmd, time.Minute)
		assert.Equal(t, exitFailed, cmd.ProcessState.ExitCode())
		assert.Contains(t, stderr.String(), "over the limit")
		n := <-written
		t.Logf("60 MB document on stdin: the command let %d KiB through the pipe before refusing", n>>10)
		assert.Less(t, n, int64(4<<20), "it stopped reading just past the limit")
	})
	t.Run("binary garbage", func(t *testing.T) {
		garbage := make([]byte, 200_000)
		for i := range garbage {
			garbage[i] = byte(i*7919) | 0x80
			if i%97 == 0 {
				garbage[i] = '\n'
			}
		}
		input := writeFile(t, string(garbage))
		code, _, errOut := runBin(t, binEnv(srv), nil, "send", "-ndjson", input)
		assert.Equal(t, exitUsage, code)
		assert.Contains(t, errOut, "does not look like NDJSON")
		assert.Less(t, strings.Count(errOut, "\n"), 20, "not a line per line:\n%s", errOut)
	})
	t.Run("a JSON array", func(t *testing.T) {
		var arr []string
		for i := 0; i < 50; i++ {
			arr = append(arr, fmt.Sprintf(`  {"productId":"%d"},`, i))
		}
		input := writeFile(t, "[\n"+strings.Join(arr, "\n")+"\n]\n")
		code, _, errOut := runBin(t, binEnv(srv), nil, "send", "-ndjson", input)
		assert.Equal(t, exitUsage, code)
		assert.Contains(t, errOut, "not a JSON array")
	})
	assert.Empty(t, srv.Received())
}

func TestSendStripsByteOrderMarks(t *testing.T) {
	srv := lisatest.NewServer(tPlugin, tKey, tSecret)
	defer srv.Close()
	input := writeFile(t, "\xef\xbb\xbf"+`{"productId":"1"}`+"\r\n"+`{"productId":"2"}`+"\n")
	secretFile := writeFile(t, "\xef\xbb\xbf"+tSecret+" \r\n")
	envv := append(binEnv(srv), "LISA_SECRET=")
	code, out, errOut := runBin(t, envv, nil, "send", "-ndjson", "-secret-file", secretFile, input)
	assert.Equal(t, exitOK, code, errOut)
	assert.Equal(t, "2 accepted, 0 failed\n", out)
}

func TestSendConventions(t *testing.T) {
	srv := lisatest.NewServer(tPlugin, tKey, tSecret)
	defer srv.Close()
	input, _ := catalog(t, 3)

	code, out, errOut := runBin(t, binEnv(srv), nil, "send", input, "-ndjson", "-concurrency", "2")
	assert.Equal(t, exitOK, code, "flags after the file: %s", errOut)
	assert.Equal(t, "3 accepted, 0 failed\n", out)

	code, out, errOut = runBin(t, binEnv(srv), nil, "send", "-bogus", input)
	assert.Equal(t, exitUsage, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, "-bogus")
	assert.Contains(t, errOut, "Usage: lisa send")
	assert.Less(t, strings.Count(errOut, "\n"), 4, "a short usage, not the whole help")

	code, _, errOut = runBin(t, []string{"PATH=" + os.Getenv("PATH")}, nil, "send", input)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "LISA_PLUGIN_ID, LISA_API_KEY, LISA_SECRET", "every missing variable, in one message")

	code, _, errOut = runBin(t, binEnv(srv), nil, "send", "-ndjson", "-concurrency", "1000000", input)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "-concurrency")

	code, _, errOut = runBin(t, binEnv(srv), nil, "serve", "-addr", "0.0.0.0:0")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "loopback")

	code, out, _ = runBin(t, nil, nil, "version")
	assert.Equal(t, exitOK, code)
	assert.Equal(t, 1, strings.Count(out, lisa.Version), "the version once: %s", out)
}

// syncBuffer is a bytes.Buffer that a test may read while a command writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestSendRate(t *testing.T) {
	srv := lisatest.NewServer(tPlugin, tKey, tSecret)
	defer srv.Close()
	input, _ := catalog(t, 21)
	code, _, errOut := runBin(t, binEnv(srv), nil, "send", input, "-ndjson", "-concurrency", "8", "-rate", "50")
	require.Equal(t, exitOK, code, errOut)
	reqs := srv.Requests()
	require.Len(t, reqs, 21)
	span := reqs[len(reqs)-1].Time.Sub(reqs[0].Time)
	assert.GreaterOrEqual(t, span, 20*20*time.Millisecond*9/10, "21 requests at 50/s span at least 20 intervals of 20 ms")

	code, _, _ = runBin(t, binEnv(srv), nil, "send", input, "-ndjson", "-rate", "-1")
	assert.Equal(t, exitUsage, code)
}
