//go:build !unix

package tui

import "time"

// cpuTime falls back to the wall clock where rusage is not available.
func cpuTime() time.Duration { return time.Duration(time.Now().UnixNano()) }
