package main

// The resume bound after kill -9.

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSendResumeSendsAtMostConcurrencyLinesTwice: one slow line holds the
// checkpoint while the others finish; after kill -9, the resumed run sends
// again at most -concurrency lines.
func TestSendResumeSendsAtMostConcurrencyLinesTwice(t *testing.T) {
	srv := lisatest.NewServer(tPlugin, tKey, tSecret)
	defer srv.Close()
	srv.Script(lisatest.Fault{Delay: 3 * time.Second, Process: true}) // the first line: processed, answered late
	const concurrency = 4
	input, lines := catalog(t, 3000)
	dir := t.TempDir()
	failed, ckpt := filepath.Join(dir, "failed.ndjson"), filepath.Join(dir, "sync.ckpt")
	args := []string{"send", input, "-ndjson", "-concurrency", fmt.Sprint(concurrency), "-failed", failed, "-checkpoint", ckpt}
	cmd := exec.Command(binary(t), args...)
	cmd.Env = binEnv(srv)
	require.NoError(t, cmd.Start())
	require.Eventually(t, func() bool { return len(srv.Requests()) >= 1 }, 30*time.Second, time.Millisecond)
	time.Sleep(time.Second) // the slow line is in flight; the others go on
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	before := len(srv.Received())

	code, out, errOut := runBin(t, binEnv(srv), nil, args...)
	assert.Equal(t, exitOK, code, errOut)
	got := bodies(srv)
	lost, twice := 0, 0
	for _, l := range lines {
		if got[l] == 0 {
			lost++
		}
		if got[l] > 1 {
			twice += got[l] - 1
		}
	}
	t.Logf("resume bound: %d accepted before kill -9, %d lost, %d sent twice (concurrency %d); resumed run: %s", before, lost, twice, concurrency, strings.TrimSpace(out))
	assert.Zero(t, lost)
	assert.LessOrEqual(t, twice, concurrency, "at most -concurrency lines are sent twice after a kill -9")
}
