package main

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestDescribeBuild(t *testing.T) {
	vcs := []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef"}, {Key: "vcs.modified", Value: "true"}}
	for _, c := range []struct {
		name            string
		version, commit string
		bi              *debug.BuildInfo
		want            buildDescription
	}{
		{"release build: the stamps win", "v1.2.0", "feedface", &debug.BuildInfo{GoVersion: "go1.24.1", Main: debug.Module{Version: "(devel)"}, Settings: vcs},
			buildDescription{Version: "v1.2.0", Commit: "feedface", Go: "go1.24.1"}},
		{"go install …@v1.1.0", "", "", &debug.BuildInfo{GoVersion: "go1.24.1", Main: debug.Module{Version: "v1.1.0"}},
			buildDescription{Version: "v1.1.0", Commit: "unknown", Go: "go1.24.1"}},
		{"a checkout with VCS stamping", "", "", &debug.BuildInfo{GoVersion: "go1.24.1", Main: debug.Module{Version: "(devel)"}, Settings: vcs},
			buildDescription{Version: "dev", Commit: "0123456789abcdef", Modified: true, Go: "go1.24.1"}},
		{"a checkout with -buildvcs=false", "", "", &debug.BuildInfo{GoVersion: "go1.24.1", Main: debug.Module{Version: "(devel)"}},
			buildDescription{Version: "dev", Commit: "unknown", Go: "go1.24.1"}},
		{"no build info", "", "", nil, buildDescription{Version: "dev", Commit: "unknown", Go: runtime.Version()}},
	} {
		c.want.Go += " " + runtime.GOOS + "/" + runtime.GOARCH
		if got := describeBuild(c.version, c.commit, c.bi); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestVersionCommand(t *testing.T) {
	out, errOut, code := ctdiag(t, "", "version")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// Tests build without stamps or VCS information.
	want := "ctdiag dev\ncommit unknown\ngo     " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if out != want {
		t.Errorf("ctdiag version printed\n%s\nwant\n%s", out, want)
	}
	if out, _, _ := ctdiag(t, "", "--version"); !strings.Contains(out, "dev") {
		t.Errorf("--version: %q", out)
	}
}
