package main

import (
	"os"
	"runtime/debug"
)

// batchGC tunes the collector for the commands that stream a table once
// (report, list, replay, whatif). Their live heap is small, since the
// table is streamed, but they allocate fast (tallies, radix buffers), so
// the default GOGC=100 collects every few megabytes. GOGC=400 under a
// 256 MiB soft limit took a million-entry report from 450 to 387 ms with
// peak RSS 112 → 120 MB, and three such samples to 186 MB
// (docs/PERFORMANCE.md). GOGC and GOMEMLIMIT in the environment win.
func batchGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(256 << 20)
	}
}
