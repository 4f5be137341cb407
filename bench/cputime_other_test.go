//go:build !unix

package bench

import "time"

// processCPU is unknown here: the paired table leaves its CPU column empty.
func processCPU() time.Duration { return 0 }
