package main

import "runtime/debug"

// moduleVersion is the main module's version from the build info.
func moduleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.Main.Version
	}
	return ""
}
