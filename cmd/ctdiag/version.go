package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// A release build stamps its version and commit with
//
//	go build -ldflags "-X main.stampedVersion=v1.2.0 -X main.stampedCommit=0123abcd…"
//
// (scripts/package.sh does), since builds here run with -buildvcs=false and
// a build from a checkout carries no version of its own. These two are the
// package's only variables: -X can set nothing else.
var (
	stampedVersion string
	stampedCommit  string
)

// buildDescription is what ctdiag version prints.
type buildDescription struct {
	Version  string // v1.2.0, a go install's module version, or "dev"
	Commit   string // the VCS revision, or "unknown"
	Modified bool   // built from a working tree with uncommitted changes
	Go       string // the Go toolchain and target
}

// describeBuild combines the stamps with the module's build info: a stamp
// wins; then what the Go toolchain recorded (the module version for go
// install …@version, the VCS revision for a build from a checkout with VCS
// stamping on).
func describeBuild(version, commit string, bi *debug.BuildInfo) buildDescription {
	d := buildDescription{Version: version, Commit: commit, Go: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if d.Version == "" && bi.Main.Version != "" && !strings.HasPrefix(bi.Main.Version, "(") {
			d.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if d.Commit == "" {
					d.Commit = s.Value
				}
			case "vcs.modified":
				d.Modified = d.Modified || s.Value == "true" && commit == ""
			}
		}
		if bi.GoVersion != "" {
			d.Go = bi.GoVersion + " " + runtime.GOOS + "/" + runtime.GOARCH
		}
	}
	if d.Version == "" {
		d.Version = "dev"
	}
	if d.Commit == "" {
		d.Commit = "unknown"
	}
	return d
}

// thisBuild describes the running binary.
func thisBuild() buildDescription {
	bi, _ := debug.ReadBuildInfo()
	return describeBuild(stampedVersion, stampedCommit, bi)
}

// version is the version reports, bundles and --version carry.
func version() string { return thisBuild().Version }

func newVersionCmd(e env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, the commit and the Go toolchain of this build",
		Long: `Print the version, the commit it was built from and the Go toolchain.

A release build (the .deb, scripts/package.sh) has both stamped in; a build by
go install …@vX.Y.Z knows its version from the module; a build from a
checkout says "dev", with its commit when Go recorded one.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			d := thisBuild()
			commit := d.Commit
			if d.Modified {
				commit += " (modified)"
			}
			_, err := fmt.Fprintf(e.stdout, "ctdiag %s\ncommit %s\ngo     %s\n", d.Version, commit, d.Go)
			return err
		},
	}
}
