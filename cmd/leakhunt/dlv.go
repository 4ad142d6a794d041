package main

import (
	"context"
	"fmt"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/leakhunt/leakhunt/profiler/dlvscript"
	"github.com/leakhunt/leakhunt/scripts"
)

// DlvOptions are the inputs of `leakhunt dlv`.
type DlvOptions struct {
	IO *IOStreams

	Target string
	Exe    string
}

// leakhuntCommands are the commands scripts/leakhunt.star adds to delve.
var leakhuntCommands = []string{"gbt", "gbt_full", "gleaks", "heaptop", "gsource", "retainers"}

// NewCmdDlv builds `leakhunt dlv`. Tests pass runF to see the parsed options.
func NewCmdDlv(f *Factory, runF func(context.Context, *DlvOptions) error) *cobra.Command {
	opts := &DlvOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "dlv TARGET",
		Short: "Open delve's interactive terminal on a process or core file, with leakhunt's commands",
		Long: `Open delve's own interactive terminal, running inside leakhunt (no dlv binary
needed), on a running Go process (PID) or a core file (core:FILE), with
leakhunt's Starlark commands loaded: ` + strings.Join(leakhuntCommands, ", ") + `
(help NAME for each). Everything delve can do works.

A live target is stopped while the terminal is open (delve's continue lets it
run). Quitting (quit, exit, Ctrl-D) detaches and leaves the target running:
leakhunt never kills it, and never asks. SIGTERM does the same. delve's
breakpoints on runtime.throw/fatalpanic, which it sets on attach, are removed
so that a killed leakhunt leaves nothing behind in the target's crash path.`,
		Example: `  leakhunt dlv 12345
  leakhunt dlv core:./core.12345 --exe ./server`,
		Args: exactArgs(1, "TARGET"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Target = args[0]
			opts.Exe = f.Exe // the root's --exe
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return dlvRun(cmd.Context(), opts)
		},
	}
	return cmd
}

func dlvRun(ctx context.Context, opts *DlvOptions) error {
	t, err := delveTarget(opts.Target, opts.Exe)
	if err != nil {
		return err
	}
	// Ctrl-C belongs to delve's terminal (it halts a continued target), so
	// only SIGTERM and SIGHUP end the session from outside.
	ctx, stop := signal.NotifyContext(context.WithoutCancel(ctx), syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	sess, err := dlvscript.Open(ctx, t)
	if err != nil {
		return err
	}
	defer sess.Close()
	fmt.Fprintf(opts.IO.ErrOut, "leakhunt: delve on %s; leakhunt commands: %s (help NAME); quit detaches and leaves the target running\n",
		t, strings.Join(leakhuntCommands, ", "))
	if removed := sess.RemovedBreakpoints(); len(removed) > 0 {
		fmt.Fprintf(opts.IO.ErrOut, "leakhunt: removed delve's %s breakpoints from the runtime's crash path (break runtime.fatalpanic to stop on a crash)\n", strings.Join(removed, " and "))
	}
	err = sess.Terminal(ctx, dlvscript.TerminalOptions{
		Init: []dlvscript.Script{{Name: scripts.LeakhuntStarName, Source: scripts.LeakhuntStar}},
		Out:  opts.IO.Out,
	})
	if cerr := sess.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}
