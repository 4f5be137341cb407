package main

// The output files of lisa send against what is at their path.

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hello-lisa/lisa-go/lisatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSendRefusesTargetsThatAreNotRegularFiles: a FIFO, a device node, a
// directory or a symbolic link at the path of -failed, -rejected or
// -checkpoint is refused with exit 2 before anything is sent, and left as
// it was.
func TestSendRefusesTargetsThatAreNotRegularFiles(t *testing.T) {
	srv := lisatest.NewServer(tPlugin, tKey, tSecret)
	defer srv.Close()
	input, _ := catalog(t, 5)
	dir := t.TempDir()
	regular := filepath.Join(dir, "regular")
	require.NoError(t, os.WriteFile(regular, []byte("kept\n"), 0o600))
	targets := map[string]string{}
	targets["fifo"] = filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(targets["fifo"], 0o600))
	targets["directory"] = filepath.Join(dir, "directory")
	require.NoError(t, os.Mkdir(targets["directory"], 0o700))
	targets["symlink"] = filepath.Join(dir, "symlink")
	require.NoError(t, os.Symlink(regular, targets["symlink"]))
	if os.Geteuid() == 0 { // a copy of /dev/null's node
		var st syscall.Stat_t
		require.NoError(t, syscall.Stat("/dev/null", &st))
		targets["device"] = filepath.Join(dir, "null")
		require.NoError(t, syscall.Mknod(targets["device"], syscall.S_IFCHR|0o666, int(st.Rdev)))
	} else {
		t.Log("not root: the device-node case is skipped (mknod needs root)")
	}
	modes := map[string]os.FileMode{}
	for kind, p := range targets {
		fi, err := os.Lstat(p)
		require.NoError(t, err)
		modes[kind] = fi.Mode().Type()
	}
	for kind, target := range targets {
		for _, flag := range []string{"-failed", "-rejected", "-checkpoint"} {
			t.Run(kind+flag, func(t *testing.T) {
				args := []string{"send", "-ndjson", input, flag, target}
				if flag != "-failed" {
					args = append(args, "-failed", filepath.Join(t.TempDir(), "f"))
				}
				code, _, errOut := runBin(t, binEnv(srv), nil, args...)
				t.Logf("%s %s: exit %d: %s", flag, kind, code, strings.TrimSpace(errOut))
				assert.Equal(t, exitUsage, code)
				assert.Contains(t, errOut, flag)
				fi, err := os.Lstat(target)
				require.NoError(t, err)
				assert.Equal(t, modes[kind], fi.Mode().Type(), "the %s is left as it was", kind)
			})
		}
	}
	b, err := os.ReadFile(regular)
	require.NoError(t, err)
	assert.Equal(t, "kept\n", string(b), "the symbolic link's target is untouched")
	assert.Empty(t, srv.Requests(), "nothing was sent")
}
