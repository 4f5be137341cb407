package main

// The output files of lisa send on a full disk.

import (
	"bytes"
	"fmt"
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

// TestSendFullDiskKeepsWhatWasWritten: -failed on a 256 KiB filesystem that
// fills up, while lines answered 5xx are written one by one, or while the
// rest of the input is copied after a 403 stopped the run. What was written
// stays there, in whole lines; the run stops feeding, prints its summary,
// exits 1 and names the input line from which to send again.
func TestSendFullDiskKeepsWhatWasWritten(t *testing.T) {
	dir := t.TempDir()
	mnt := filepath.Join(dir, "small")
	require.NoError(t, os.Mkdir(mnt, 0o700))
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the full-disk test mounts a tmpfs and needs root; CI runs as root")
		}
		t.Skip("not root: cannot mount a small tmpfs for the full-disk test")
	}
	lines := make([]string, 3000)
	for i := range lines {
		lines[i] = fmt.Sprintf(`{"productId":"%d","description":"%s"}`, i, strings.Repeat("x", 250))
	}
	input := filepath.Join(dir, "catalog.ndjson")
	require.NoError(t, os.WriteFile(input, []byte(strings.Join(lines, "\n")+"\n"), 0o600))

	for name, status := range map[string]int{"5xx written line by line": 0, "the rest copied after a 403": 403} {
		t.Run(name, func(t *testing.T) {
			if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt).CombinedOutput(); err != nil {
				if os.Getenv("CI") == "true" {
					t.Fatalf("mount a tmpfs: %v: %s", err, out)
				}
				t.Skipf("cannot mount a tmpfs (%v: %s): skipping the full-disk test", err, out)
			}
			defer exec.Command("umount", mnt).Run()
			srv := lisatest.NewServer(tPlugin, tKey, tSecret, lisatest.WithRandomFaults(lisatest.RandomFaults{Seed: 1, ServerError: 1}))
			defer srv.Close()
			if status != 0 {
				srv.Script(lisatest.Fault{Status: status})
			}
			failed := filepath.Join(mnt, "failed.ndjson")
			cmd := exec.Command(binary(t), "send", "-ndjson", "-concurrency", "4", "-retries", "0", "-failed", failed, input)
			cmd.Env = binEnv(srv)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			require.NoError(t, cmd.Start())
			waitOrKill(t, cmd, 2*time.Minute)

			kept := readLinesOf(t, failed)
			requests, _ := srv.Counts()
			t.Logf("full disk, %s: exit %d, %d requests, %d lines kept in -failed; stdout %q; stderr:\n%s",
				name, cmd.ProcessState.ExitCode(), requests, len(kept), stdout.String(), stderr.String())
			assert.Equal(t, exitFailed, cmd.ProcessState.ExitCode())
			assert.NotEmpty(t, kept, "-failed keeps what was written before the disk filled")
			assert.Subset(t, lines, kept, "whole input lines only")
			assert.Contains(t, stdout.String(), "failed", "the summary is printed")
			assert.Contains(t, stderr.String(), failed)
			assert.Less(t, requests, len(lines), "the run stopped feeding")
			// Everything before the line the command names is in -failed
			// (the server accepted nothing).
			var from int
			for _, l := range strings.Split(stderr.String(), "\n") {
				if i := strings.Index(l, "again from line "); i >= 0 {
					fmt.Sscanf(l[i:], "again from line %d", &from)
				}
			}
			require.Greater(t, from, 1, "stderr says from which line to send again")
			keptSet := map[string]bool{}
			for _, l := range kept {
				keptSet[l] = true
			}
			missing := 0
			for i := 0; i < from-1; i++ {
				if !keptSet[lines[i]] {
					missing++
				}
			}
			assert.Zero(t, missing, "every line before line %d is in -failed", from)
		})
	}
}
