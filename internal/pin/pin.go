//go:build tools

// Package pin keeps modules that later work depends on pinned in go.mod at
// the versions the project decided on, before any package imports them (the
// usual tools.go pattern: the build tag keeps it out of every build, while
// go mod tidy still sees the imports).
//
// github.com/ti-mo/conntrack v0.6.0 (on github.com/mdlayher/netlink) is the
// live collector's netlink library; the module proxy refuses to list its
// versions, so the exact version is recorded here.
package pin

import (
	_ "github.com/ti-mo/conntrack"
)
