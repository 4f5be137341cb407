package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestQuickstartRuns runs the README's first command in-process: it must end
// without error (run checks each outcome it shows).
func TestQuickstartRuns(t *testing.T) {
	require.NoError(t, run())
}
