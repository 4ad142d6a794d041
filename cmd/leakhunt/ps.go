package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/leakhunt/leakhunt/profiler/procfs"
	"github.com/leakhunt/leakhunt/profiler/report"
)

// PsOptions are the inputs of `leakhunt ps`.
type PsOptions struct {
	IO *IOStreams

	JSON    bool
	NoProbe bool
	Timeout time.Duration
}

// NewCmdPs builds `leakhunt ps`. Tests pass runF to see the parsed options.
func NewCmdPs(f *Factory, runF func(context.Context, *PsOptions) error) *cobra.Command {
	opts := &PsOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "ps",
		Short: "List the Go processes on this machine, with their pprof address",
		Long: `List the Go programs running on this machine that you can see: PID, program,
the Go version that built it, its resident memory, and the address of its
net/http/pprof handlers when it has them. Like gops, with no agent in the
programs: the Go version comes from the build information in the executable,
the pprof address from the process's listening TCP sockets, each one reachable
on this machine asked once for /debug/pprof/ (a harmless GET; --no-probe skips
it). Any PID listed is a TARGET for the other commands.

Processes of other users are listed only when you may read their executable
(root). leakhunt itself is left out.`,
		Example: `  leakhunt ps
  leakhunt ps --json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return psRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON (schema in docs/json.md)")
	cmd.Flags().BoolVar(&opts.NoProbe, "no-probe", false, "do not ask listening ports whether they serve pprof")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 500*time.Millisecond, "how long each pprof probe may take")
	return cmd
}

// psJSON is the --json output of `leakhunt ps`.
type psJSON struct {
	Processes []procfs.GoProcess `json:"processes"`
}

func psRun(ctx context.Context, opts *PsOptions) error {
	procs, err := procfs.GoProcesses(ctx, procfs.GoProcessOptions{NoProbe: opts.NoProbe, Timeout: opts.Timeout})
	if err != nil {
		return err
	}
	if opts.JSON {
		if procs == nil {
			procs = []procfs.GoProcess{}
		}
		return writeJSON(opts.IO.Out, psJSON{Processes: procs})
	}
	if len(procs) == 0 {
		fmt.Fprintln(opts.IO.ErrOut, "no Go process visible (other users' processes are listed only for root)")
	}
	return report.Processes(opts.IO.Out, procs, opts.IO.Width)
}
