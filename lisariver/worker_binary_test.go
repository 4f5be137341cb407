package lisariver_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The worker process of the crash and multi-process tests, built once per
// test binary from ./internal/testworker into the cluster's directory, which
// is removed with the cluster.
var workerBinary struct {
	once sync.Once
	path string
	err  error
}

// workerProcess is a running testworker.
type workerProcess struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startWorker builds the worker if needed and starts it against dsn (from
// postgresDSN) and the server at url, waiting until it says it is ready. It
// is killed at the end of the test if still running, and stops by itself
// when its standard input closes, as when this process dies.
func startWorker(t *testing.T, dsn, url, name string, flags ...string) *workerProcess {
	t.Helper()
	return startWorkerEnv(t, nil, dsn, url, name, flags...)
}

// startWorkerEnv is startWorker with more environment variables, which
// override the default credentials (LISA_SECRET=… for a wrong secret,
// LISA_PLUGINS for more plugins).
func startWorkerEnv(t *testing.T, env []string, dsn, url, name string, flags ...string) *workerProcess {
	t.Helper()
	workerBinary.once.Do(func() {
		workerBinary.path = filepath.Join(cluster.dir, "testworker")
		out, err := exec.Command("go", "build", "-o", workerBinary.path, "./internal/testworker").CombinedOutput()
		if err != nil {
			workerBinary.err = &buildError{err: err, out: string(out)}
		}
	})
	if workerBinary.err != nil {
		t.Fatalf("building the worker: %v", workerBinary.err)
	}
	args := append([]string{"-dsn", dsn, "-url", url, "-name", name}, flags...)
	cmd := exec.Command(workerBinary.path, args...)
	cmd.Env = append(append(os.Environ(), "LISA_PLUGIN_ID="+pluginID, "LISA_API_KEY="+apiKey, "LISA_SECRET="+secret), env...)
	cmd.Stderr = &testWriter{t: t, prefix: name + ": "}
	if _, err := cmd.StdinPipe(); err != nil { // closed when this process ends
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &workerProcess{cmd: cmd, done: make(chan struct{})}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		ready <- sc.Scan() && sc.Text() == "ready"
		for sc.Scan() {
		}
		cmd.Wait()
		close(w.done)
	}()
	t.Cleanup(func() { w.kill() })
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("worker %s exited before it was ready", name)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("worker %s not ready after 30s", name)
	}
	return w
}

// kill sends SIGKILL and waits for the process to end.
func (w *workerProcess) kill() {
	w.cmd.Process.Signal(syscall.SIGKILL)
	<-w.done
}

// stop asks the worker to stop (SIGTERM) and kills it after 15 s.
func (w *workerProcess) stop() {
	w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.done:
	case <-time.After(15 * time.Second):
		w.kill()
	}
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

// testWriter logs a process's stderr lines in the test.
type testWriter struct {
	t      *testing.T
	prefix string
	mu     sync.Mutex
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.t.Log(w.prefix + line)
	}
	return len(p), nil
}
