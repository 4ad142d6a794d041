package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/leakhunt/leakhunt/profiler/analyze"
	"github.com/leakhunt/leakhunt/profiler/report"
	"github.com/leakhunt/leakhunt/profiler/source"
)

// StatsOptions are the inputs of `leakhunt stats`.
type StatsOptions struct {
	IO      *IOStreams
	Factory *Factory

	Target  string
	JSON    bool
	Timeout time.Duration
}

// NewCmdStats builds `leakhunt stats`.
func NewCmdStats(f *Factory, runF func(context.Context, *StatsOptions) error) *cobra.Command {
	opts := &StatsOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		Use:   "stats SNAPSHOT|TARGET",
		Short: "Show heap in use and peak, GC count, goroutines by state, RSS",
		Long: `Show a program's memory and goroutine totals: heap in use and the most the
heap took from the OS, GC cycles, what the heap profile holds, goroutines by
state with their longest wait, and RSS when known. Like tracemalloc's
get_traced_memory(), and more.`,
		Example: `  leakhunt stats http://127.0.0.1:6060
  leakhunt stats after.lhsnap --json`,
		Args: exactArgs(1, "SNAPSHOT|TARGET"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Target = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return statsRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON (schema in docs/json.md)")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 30*time.Second, "how long to wait for a network target's answer")
	return cmd
}

func statsRun(ctx context.Context, opts *StatsOptions) error {
	s, err := opts.Factory.Snapshot(ctx, opts.Target, source.Options{Timeout: opts.Timeout})
	if err != nil {
		return err
	}
	st := analyze.Summarize(s)
	if opts.JSON {
		return writeJSON(opts.IO.Out, st)
	}
	return report.Stats(opts.IO.Out, st, opts.IO.Width)
}
