//go:build gendocs

// This file is built only with -tags gendocs:
//
//	go run -tags gendocs ./cmd/ctdiag DIR
//
// writes the man pages (section 1, one per command, made by cobra/doc from
// the commands themselves, so they say what --help says) and the bash, zsh
// and fish completions into DIR, for scripts/package.sh. It is a build of
// the command itself because package main cannot be imported by a
// generator elsewhere; the tag keeps cobra/doc out of ctdiag's binary.

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

func init() {
	if err := genDocs(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// genDocs writes DIR/man1/*.1 and DIR/completions/{ctdiag.bash,_ctdiag,ctdiag.fish}.
// The pages' date is SOURCE_DATE_EPOCH's when set, so a rebuild of the same
// commit makes the same pages.
func genDocs(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: go run -tags gendocs ./cmd/ctdiag DIR")
	}
	dir := args[0]
	root := newRootCmd(env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr})
	root.DisableAutoGenTag = true
	date := time.Now()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH=%q: %w", s, err)
		}
		date = time.Unix(sec, 0).UTC()
	}
	man := filepath.Join(dir, "man1")
	if err := os.MkdirAll(man, 0o755); err != nil {
		return err
	}
	header := &doc.GenManHeader{Title: "CTDIAG", Section: "1", Date: &date, Source: "ctdiag " + version(), Manual: "ctdiag manual"}
	if err := doc.GenManTree(root, header, man); err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	comp := filepath.Join(dir, "completions")
	if err := os.MkdirAll(comp, 0o755); err != nil {
		return err
	}
	for name, gen := range map[string]func(*cobra.Command, string) error{
		"ctdiag.bash": func(c *cobra.Command, p string) error { return c.GenBashCompletionFileV2(p, true) },
		"_ctdiag":     (*cobra.Command).GenZshCompletionFile,
		"ctdiag.fish": func(c *cobra.Command, p string) error { return c.GenFishCompletionFile(p, true) },
	} {
		if err := gen(root, filepath.Join(comp, name)); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}
