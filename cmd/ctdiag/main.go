// Command ctdiag diagnoses Linux netfilter connection tracking: it reads
// conntrack tables from the live kernel or captured dumps, shows them in a
// terminal UI (top), lists and converts them (list), names what is wrong
// with evidence and remedies (report, rules), records bundles (record), and
// predicts tables from packet captures with its reference engine (replay,
// whatif).
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ctdiag/ctdiag/filter"
)

// Exit codes, one meaning each in every command (the README's table).
// conntrack uses 1 for any failure; ctdiag keeps 1 for "a finding at or
// above --fail-on", because CI scripts branch on it, and gives failures
// their own code.
const (
	exitOK         = 0
	exitFindings   = 1 // report: a finding at or above --fail-on
	exitParameter  = 2 // bad usage, unusable input, or malformed input under --strict
	exitIncomplete = 3 // report: some rules could not be judged (nothing at or above --fail-on fired)
	exitFailure    = 4 // the live source or the output failed: no privilege, namespace gone, write error
)

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// inputError marks an input that cannot be used (missing, unreadable, not
// a format ctdiag reads): exit 2, as bad usage.
func inputError(err error) error { return &exitError{code: exitParameter, err: err} }

// usageError marks errors in how the command was called.
func usageError(format string, args ...any) error {
	return &exitError{code: exitParameter, err: fmt.Errorf(format, args...)}
}

// env is what a command may touch: its streams. Commands never read
// os.Stdin/os.Stdout directly, so tests can run them in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func main() {
	os.Exit(run(os.Args[1:], env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}))
}

// run executes the command line and returns the exit code.
func run(args []string, e env) int {
	root := newRootCmd(e)
	root.SetArgs(attachFilterValues(root, args))
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var xe *exitError
	if errors.As(err, &xe) {
		if xe.err != nil && xe.err.Error() != "" {
			fmt.Fprintf(e.stderr, "ctdiag: %v\n", xe.err)
		}
		return xe.code
	}
	// cobra's own errors are about usage (unknown flag, bad argument).
	fmt.Fprintf(e.stderr, "ctdiag: %v\nRun 'ctdiag --help' for usage.\n", err)
	return exitParameter
}

// attachFilterValues lets the commands that take conntrack's filters read
// the NAT options' optional values as conntrack does ("--dst-nat 1.2.3.4",
// "-g1.2.3.4"); pflag alone takes only "--dst-nat=1.2.3.4".
func attachFilterValues(root *cobra.Command, args []string) []string {
	if cmd, _, err := root.Find(args); err == nil && cmd.Flags().Lookup("dst-nat") != nil {
		return filter.AttachOptionalValues(args)
	}
	return args
}

func newRootCmd(e env) *cobra.Command {
	var demo bool
	root := &cobra.Command{
		Use:   "ctdiag",
		Short: "Diagnose Linux conntrack: tables, pressure, and what is wrong",
		Long: `ctdiag reads the Linux connection tracking table, from the live kernel or from
captured dumps (/proc/net/nf_conntrack, conntrack -L [-o extended], conntrack -S,
/proc/net/stat/nf_conntrack, sysctls, kernel logs, ctdiag record bundles), and
tells you what it holds and what is wrong with it.

On a terminal, plain ctdiag opens the terminal UI on the live table (as root;
the same as ctdiag top). ctdiag --demo shows a built-in real capture without
root: in the terminal UI on a terminal, as a report otherwise.

It never changes kernel state: remedies are printed, never applied.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version(),
		// On a terminal, plain ctdiag opens the TUI (like top); otherwise
		// it prints help. --demo shows the built-in capture either way: in
		// the TUI on a terminal, as a report elsewhere.
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case demo && isTerminal(e.stdout):
				return runTop(e, &topOptions{demo: true, demoKind: "capture", speed: 1, pane: 2, theme: "auto", live: &liveFlags{procRoot: "/proc"}}, nil)
			case demo:
				return runReport(e, &reportOptions{demo: true, output: "text", failOn: "never", color: "auto", top: 5, live: &liveFlags{procRoot: "/proc"}}, pflag.NewFlagSet("demo", pflag.ContinueOnError), nil)
			case !isTerminal(e.stdout):
				return cmd.Help()
			}
			return runTop(e, &topOptions{speed: 1, pane: 2, theme: "auto", live: &liveFlags{procRoot: "/proc"}}, nil)
		},
	}
	root.Flags().BoolVar(&demo, "demo", false, "show the built-in capture (a real table filling up to nf_conntrack_max): the terminal UI on a terminal, else its report")
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.AddCommand(newListCmd(e))
	root.AddCommand(newReportCmd(e))
	root.AddCommand(newRulesCmd(e))
	root.AddCommand(newTopCmd(e))
	root.AddCommand(newRecordCmd(e))
	root.AddCommand(newReplayCmd(e))
	root.AddCommand(newWhatifCmd(e))
	root.AddCommand(newStatsCmd(e))
	root.AddCommand(newCountCmd(e))
	root.AddCommand(newEventsCmd(e))
	root.AddCommand(newRulesetCmd(e))
	root.AddCommand(newVersionCmd(e))
	root.AddCommand(newExporterCmd(e))
	addExitCodes(root)
	return root
}

// exitCodesHelp ends every command's --help: one meaning per code in every
// command (README.md, "Exit codes").
const exitCodesHelp = `

Exit codes (the same in every command; README.md, "Exit codes"): 0 done;
1 report: a finding at or above --fail-on; 2 bad usage or an input that
cannot be used (or malformed input with --strict); 3 report: some rules could
not be judged; 4 the live source or the output failed (no privilege, the
namespace gone, a write error).`

// addExitCodes appends exitCodesHelp to the help of cmd and every command
// below it.
func addExitCodes(cmd *cobra.Command) {
	if !strings.Contains(cmd.Long, "Exit codes (the same in every command") {
		long := cmd.Long
		if long == "" {
			long = cmd.Short
		}
		cmd.Long = long + exitCodesHelp
	}
	for _, c := range cmd.Commands() {
		addExitCodes(c)
	}
}
