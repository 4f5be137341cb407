//go:build !unix

package lisaotel_test

import "time"

// processCPU is not measured here: the CPU ratios are left out.
func processCPU() time.Duration { return 0 }
