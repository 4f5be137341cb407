package main

// How lisa send treats the answers that are not 202, and no answer at all.

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSend422GoesToRejected: a 422 is a rejection of that payload: it goes
// to -rejected, not to -failed.
func TestSend422GoesToRejected(t *testing.T) {
	srv := lisatest.NewServer(tPlugin, tKey, tSecret)
	defer srv.Close()
	srv.Script(lisatest.Fault{Status: 422, Body: `{"errors":[{"field":"price"}]}`})
	input, lines := catalog(t, 3)
	dir := t.TempDir()
	failed, rejected := filepath.Join(dir, "failed"), filepath.Join(dir, "rejected")
	code, out, errOut := runBin(t, binEnv(srv), nil, "send", "-ndjson", "-concurrency", "1", "-failed", failed, "-rejected", rejected, input)
	t.Logf("422: exit %d, %s", code, strings.TrimSpace(out))
	assert.Equal(t, exitFailed, code, errOut)
	assert.Equal(t, "2 accepted, 0 failed, 1 rejected\n", out)
	assert.Equal(t, []string{lines[0]}, readLinesOf(t, rejected))
	assert.Empty(t, readLinesOf(t, failed))
	assert.Contains(t, errOut, "422")
	assert.Equal(t, 1, len(srv.Requests())-len(srv.Received()), "a 422 is not retried")
}

// TestSendStopsAfterA403Or404: like a 401, a 403 or a 404 fails every line
// the same way: the run stops, says what to check and keeps every line.
func TestSendStopsAfterA403Or404(t *testing.T) {
	for status, hint := range map[int]string{403: "scope", 404: "LISA_PLUGIN_ID"} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			srv := lisatest.NewServer(tPlugin, tKey, tSecret)
			defer srv.Close()
			faults := make([]lisatest.Fault, 5000)
			for i := range faults {
				faults[i] = lisatest.Fault{Status: status}
			}
			srv.Script(faults...)
			input, lines := catalog(t, 5000)
			failed := filepath.Join(t.TempDir(), "failed.ndjson")
			code, out, errOut := runBin(t, binEnv(srv), nil, "send", "-ndjson", "-concurrency", "8", "-failed", failed, input)
			requests, _ := srv.Counts()
			t.Logf("%d: %d lines, %d requests, exit %d; %s; stderr:\n%s", status, len(lines), requests, code, strings.TrimSpace(out), errOut)
			assert.Equal(t, exitFailed, code)
			// Until the SDK stops SendSeq itself after a 403 or 404 (as it
			// does after a 401), up to 2 x -concurrency results can be
			// ahead of the loop that sees the first one: 8 workers, 8
			// buffered, and what was in flight.
			assert.LessOrEqual(t, requests, 3*8, "only the sends already started (and queued)")
			assert.Contains(t, errOut, hint)
			assert.Less(t, strings.Count(errOut, "\n"), 10, "no line per line")
			assert.ElementsMatch(t, lines, readLinesOf(t, failed), "every line kept for a rerun")
		})
	}
}

// TestSendStopsWhenTheEndpointIsDown: against a closed port, the run stops
// after a run of consecutive transport failures, keeps every line, exits 1,
// says why, and does not write one line of stderr per line.
func TestSendStopsWhenTheEndpointIsDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "http://" + l.Addr().String()
	require.NoError(t, l.Close()) // nothing listens there now
	input, lines := catalog(t, 5000)
	failed := filepath.Join(t.TempDir(), "failed.ndjson")
	envv := append(credEnv(), "LISA_BASE_URL="+url)
	start := time.Now()
	cmd := exec.Command(binary(t), "send", "-ndjson", "-concurrency", "4", "-retries", "1", "-failed", failed, input)
	cmd.Env = envv
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	waitOrKill(t, cmd, 2*time.Minute)
	took := time.Since(start)
	errOut := stderr.String()
	t.Logf("endpoint down: %d lines, %s, exit %d, %d lines (%d bytes) on stderr; %s; stderr:\n%s", len(lines), took.Round(time.Millisecond),
		cmd.ProcessState.ExitCode(), strings.Count(errOut, "\n"), len(errOut), strings.TrimSpace(stdout.String()), errOut)
	assert.Equal(t, exitFailed, cmd.ProcessState.ExitCode())
	assert.Less(t, strings.Count(errOut, "\n"), 15, "repeated errors are aggregated")
	assert.Contains(t, errOut, "no answer")
	assert.ElementsMatch(t, lines, readLinesOf(t, failed), "every line kept for a rerun")
	b, _ := os.ReadFile(failed)
	assert.Equal(t, strings.Count(string(b), "\n"), len(lines))
}

// TestSendSurvivesAStderrThatGoesAway: with stderr piped to a reader that
// has gone (`2>&1 | head`, a tee that died), the first error line raised
// SIGPIPE: exit 141, no -failed file, every line unaccounted for.
func TestSendSurvivesAStderrThatGoesAway(t *testing.T) {
	srv := lisatest.NewServer(tPlugin, tKey, tSecret)
	defer srv.Close()
	faults := make([]lisatest.Fault, 300)
	for i := range faults {
		faults[i] = lisatest.Fault{Status: 500}
	}
	srv.Script(faults...)
	input, lines := catalog(t, 300)
	failed := filepath.Join(t.TempDir(), "failed.ndjson")
	r, w, err := os.Pipe()
	require.NoError(t, err)
	require.NoError(t, r.Close()) // nobody reads stderr
	cmd := exec.Command(binary(t), "send", "-ndjson", "-retries", "0", "-failed", failed, input)
	cmd.Env = binEnv(srv)
	cmd.Stderr = w
	require.NoError(t, cmd.Start())
	require.NoError(t, w.Close())
	waitOrKill(t, cmd, time.Minute)
	assert.Equal(t, exitFailed, cmd.ProcessState.ExitCode(), "not killed by SIGPIPE (141)")
	assert.ElementsMatch(t, lines, readLinesOf(t, failed), "every line kept")
}

// TestSendLetsTheSendsInFlightFinishAfterA401: a 401 cancelled the sends
// in flight, which the server had taken: they went to -failed and were
// sent twice on the rerun.
func TestSendLetsTheSendsInFlightFinishAfterA401(t *testing.T) {
	srv := lisatest.NewServer(tPlugin, tKey, tSecret)
	defer srv.Close()
	slow := lisatest.Fault{Delay: 300 * time.Millisecond, Process: true}
	srv.Script(slow, slow, slow, lisatest.Fault{Status: 401})
	input, lines := catalog(t, 10)
	failed := filepath.Join(t.TempDir(), "failed.ndjson")
	code, out, errOut := runBin(t, binEnv(srv), nil, "send", "-ndjson", "-concurrency", "4", "-failed", failed, input)
	assert.Equal(t, exitFailed, code, errOut)
	require.Len(t, srv.Received(), 3, "the server took the three slow ones")
	assert.Contains(t, out, "3 accepted", "the sends in flight got their answers")
	assert.Len(t, readLinesOf(t, failed), len(lines)-3, "only what was not taken is kept for the rerun")
}

// TestSendWarnsOfCredentialsTooShortToBeReal: with credentials of a letter
// or two (as in a quick try), every occurrence of them in what the server
// echoes is masked, and the messages read "[REDACTED][REDACTED]pe" with no
// word of why.
func TestSendWarnsOfCredentialsTooShortToBeReal(t *testing.T) {
	input, _ := catalog(t, 1)
	short := append(os.Environ(), "LISA_PLUGIN_ID=p", "LISA_API_KEY=k", "LISA_SECRET=s")
	_, _, errOut := runBin(t, short, nil, "send", "-dry-run", input)
	assert.Equal(t, 1, strings.Count(errOut, "too short to be real"), errOut)
	_, _, errOut = runBin(t, credEnv(), nil, "send", "-dry-run", input)
	assert.NotContains(t, errOut, "too short")
}
