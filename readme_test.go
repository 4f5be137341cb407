//go:build !race

package lisa_test

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

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
		if cmd == "" || strings.HasPrefix(cmd, "go test") {
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
	require.GreaterOrEqual(t, ran, 2, "the quickstart and the outbox example")
}
