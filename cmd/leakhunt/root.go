package main

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// run executes the command line args and returns the process exit status.
// A panic becomes an error line and exit status 1, never a stack trace, after
// every deferred cleanup (detaching from a target) has run.
func run(ctx context.Context, args []string, io *IOStreams) int {
	return runRoot(ctx, NewCmdRoot(newFactory(io)), args, io)
}

// runRoot executes args on a built command tree; tests add commands to it.
func runRoot(ctx context.Context, root *cobra.Command, args []string, io *IOStreams) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(io.ErrOut, "leakhunt: internal error: %v (please report it)\n", r)
			if debugPanics() {
				fmt.Fprintf(io.ErrOut, "%s", debug.Stack())
			}
			code = exitError
		}
	}()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil && !isLeak(err) {
		fmt.Fprintln(io.ErrOut, errorLine(err))
		var ue *usageError
		if asUsage(err, &ue) {
			fmt.Fprintf(io.ErrOut, "Run '%s --help' for usage.\n", commandPath(root, args))
		}
	}
	return exitCode(err)
}

// NewCmdRoot builds the leakhunt command tree.
func NewCmdRoot(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "leakhunt",
		Short: "Find memory and goroutine leaks in Go programs",
		Long: `leakhunt finds memory and goroutine leaks in Go programs.

A TARGET is one of:
  http://HOST:PORT[/debug/pprof/]   a program serving net/http/pprof
  PID                               a running Go process (attach, no code change)
  core:FILE                         a core dump (with --exe BINARY if needed)
  FILE                              a leakhunt snapshot, or a pprof profile
                                    (.pb.gz, or the text debug=1/debug=2 forms)`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(f.IO.In)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	root.PersistentFlags().StringVar(&f.Exe, "exe", "", "the executable of a core:FILE target, when it cannot be found from the core")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &usageError{err} })
	root.AddCommand(
		NewCmdSnapshot(f, nil),
		NewCmdExport(f, nil),
		NewCmdTop(f, nil),
		NewCmdDiff(f, nil),
		NewCmdStats(f, nil),
		NewCmdCore(f, nil),
		NewCmdScript(f, nil), NewCmdDlv(f, nil), NewCmdSnoop(f, nil),
		NewCmdDemo(f),
		NewCmdWatch(f, nil),
		NewCmdReport(f, nil), NewCmdWeb(f, nil),
		NewCmdStacks(f, nil), NewCmdPs(f, nil),
		NewCmdHunt(f, nil),
		NewCmdObjects(f, nil), NewCmdWhy(f, nil),
	)
	return root
}
