package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCatalogSyncRuns runs the job against its local faulty server: every
// product must be accepted despite the injected faults.
func TestCatalogSyncRuns(t *testing.T) {
	failed := filepath.Join(t.TempDir(), "failed.ndjson")
	require.NoError(t, run("testdata/catalog.ndjson", false, "", 4, failed, false))
	_, err := os.Stat(failed)
	assert.True(t, os.IsNotExist(err), "no failed file when all were accepted")
}

func TestCatalogSyncMissingCatalog(t *testing.T) {
	assert.Error(t, run("testdata/missing.ndjson", false, "", 4, "", false))
}
