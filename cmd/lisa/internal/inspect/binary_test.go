package inspect_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// served is a `lisa serve -ui` process built from this tree.
type served struct {
	cmd    *exec.Cmd
	url    string // base URL, such as http://127.0.0.1:41234
	mu     sync.Mutex
	stderr bytes.Buffer
}

// buildLisa builds the lisa command into a temporary directory.
func buildLisa(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "lisa")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/hello-lisa/lisa-go/cmd/lisa").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// startServeUI runs `lisa serve -ui` from bin on a free loopback port with
// the given credentials and extra arguments. The process is stopped when the
// test ends.
func startServeUI(t *testing.T, bin, id, key, secret string, args ...string) *served {
	t.Helper()
	s := &served{cmd: exec.Command(bin, append([]string{"serve", "-ui", "-addr", "127.0.0.1:0"}, args...)...)}
	s.cmd.Env = append(os.Environ(), "LISA_PLUGIN_ID="+id, "LISA_API_KEY="+key, "LISA_SECRET="+secret)
	s.cmd.Stderr = writerFunc(func(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.stderr.Write(p) })
	stdout, err := s.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, s.cmd.Start())
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		_ = s.cmd.Wait()
	})
	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case first <- sc.Text():
			default:
			}
		}
	}()
	select {
	case line := <-first:
		_, base, ok := strings.Cut(line, "listening on ")
		require.True(t, ok, line)
		s.url = base
	case <-time.After(30 * time.Second):
		t.Fatalf("lisa serve -ui did not start: %s", s.stderrText())
	}
	return s
}

type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(p []byte) (int, error) { return w(p) }

func (s *served) stderrText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// post sends body to the process's ingest endpoint with the given headers and
// returns the status.
func (s *served) post(pluginID string, body []byte, hdr map[string]string) (int, error) {
	req, err := http.NewRequest(http.MethodPost, s.url+"/plugin-notifications/"+pluginID+"/updates", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

// get fetches path and returns the status and the body.
func (s *served) get(t *testing.T, path string) (int, []byte) {
	t.Helper()
	res, err := http.Get(s.url + path)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, b
}

// memory returns a field of the process's /proc/PID/status, such as VmHWM
// (the peak resident set size) or VmRSS, in bytes.
func (s *served) memory(t *testing.T, field string) int64 {
	t.Helper()
	n, err := procStatus(s.cmd.Process.Pid, field)
	if err != nil && os.Getenv("CI") == "true" {
		t.Fatalf("cannot read the process's memory from /proc, and CI must measure it: %v", err)
	}
	if err != nil {
		t.Skipf("cannot read the process's memory from /proc (%v): skipping", err)
	}
	return n
}

func procStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}
