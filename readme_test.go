//go:build !race

package lisa_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReadmeFirstCommands runs the commands of the README's "First two
// commands" block exactly as written, from the repository's root, all but
// the test command itself (which is running this test).
func TestReadmeFirstCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the examples; skipped with -short")
	}
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	block := regexp.MustCompile("(?s)## First two commands.*?```sh\n(.*?)```").FindSubmatch(readme)
	require.NotNil(t, block, "the README has a First two commands block")
	ran := 0
	for _, line := range strings.Split(string(block[1]), "\n") {
		cmd, _, _ := strings.Cut(line, "  #") // the comment after the command
		cmd = strings.TrimSpace(cmd)
		if cmd == "" {
			continue
		}
		if strings.HasPrefix(cmd, "go test") { // running now; CI must run it too
			ci, err := os.ReadFile(".ci/run")
			require.NoError(t, err)
			require.Contains(t, string(ci), cmd, ".ci/run calls the README's test command")
			continue
		}
		t.Run(cmd, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ctx, "bash", "-c", cmd).CombinedOutput()
			require.NoError(t, err, "%s\n%s", cmd, out)
		})
		ran++
	}
	require.Equal(t, 1, ran, "the quickstart; the other of the two is the test command")
}

// TestReadmeInstallAndQuickStart follows the README as a newcomer would: a
// module of their own beside a clone named ../lisa-go, the Install block's
// commands as written, the Quick start as its main.go; then runs it against
// a local endpoint, once with the right secret and once with a wrong one.
func TestReadmeInstallAndQuickStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the README's quick start; skipped with -short")
	}
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	install := regexp.MustCompile("(?s)## Install.*?```sh\n(.*?)```").FindSubmatch(readme)
	quick := regexp.MustCompile("(?s)## Quick start.*?```go\n(.*?)```").FindSubmatch(readme)
	require.NotNil(t, install, "the README has an Install block")
	require.NotNil(t, quick, "the README has a Quick start program")

	root, err := os.Getwd()
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.Symlink(root, filepath.Join(dir, "lisa-go")))
	app := filepath.Join(dir, "app")
	require.NoError(t, os.Mkdir(app, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(app, "main.go"), quick[1], 0o644))
	run := func(name string, args ...string) {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = app
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s %v\n%s", name, args, out)
	}
	run("go", "mod", "init", "example.com/app")
	run("bash", "-e", "-c", string(install[1]))
	run("go", "build", "-o", "quickstart", ".")

	srv := lisatest.NewServer("demo-plugin", "demo-key", "demo-secret")
	defer srv.Close()
	start := func(secret string) (string, error) {
		cmd := exec.Command(filepath.Join(app, "quickstart"))
		cmd.Env = append(os.Environ(), "LISA_BASE_URL="+srv.URL, "LISA_PLUGIN_ID=demo-plugin", "LISA_API_KEY=demo-key", "LISA_SECRET="+secret)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := start("demo-secret")
	require.NoError(t, err, out)
	assert.Contains(t, out, "accepted (request id ")
	require.Len(t, srv.Received(), 1)

	out, err = start("wrong-secret")
	require.Error(t, err, "a wrong secret exits non-zero")
	assert.Contains(t, out, "check your credentials")
	assert.NotContains(t, out, "wrong-secret")
}
