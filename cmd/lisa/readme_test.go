package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReadmeCLIWalkthrough runs the README's `lisa` walkthrough exactly as
// written, with bash, from the root of the repository: go install, serve in
// the background, the sends, sign and verify. Only GOBIN is set, to a
// temporary directory put first on PATH.
func TestReadmeCLIWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("installs the command and runs the README's walkthrough; skipped with -short")
	}
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	block := regexp.MustCompile("(?s)## The `lisa` command.*?```sh\n(.*?)```").FindSubmatch(readme)
	require.NotNil(t, block, "the README has the walkthrough")
	script := string(block[1])
	require.Contains(t, script, "go install ./cmd/lisa")

	bin := t.TempDir()
	t.Cleanup(func() {
		os.Remove(filepath.Join(root, "retry.ndjson"))
		os.Remove(filepath.Join(root, "bad.ndjson"))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-e", "-c", script)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOBIN="+bin, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // so that a failure cannot leave serve running
	defer func() {
		if cmd.Process != nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	text := string(out)
	assert.Contains(t, text, "listening on http://127.0.0.1:8787")
	assert.Contains(t, text, "1 accepted, 0 failed")
	assert.Contains(t, text, "300 accepted, 0 failed")
	assert.Contains(t, text, "0 accepted, 0 failed")
	assert.Contains(t, text, "Authorization: ApiKey ****")
	assert.Contains(t, text, "valid")
	assert.Equal(t, 301, strings.Count(text, " 202 accepted"), "serve printed every accepted request")
	assert.NotContains(t, text, "demo-key")
	assert.NotContains(t, text, "demo-secret")
}
