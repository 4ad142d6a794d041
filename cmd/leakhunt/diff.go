package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/leakhunt/leakhunt/profiler/analyze"
	"github.com/leakhunt/leakhunt/profiler/report"
	"github.com/leakhunt/leakhunt/profiler/snapshot"
	"github.com/leakhunt/leakhunt/profiler/source"
)

// DiffOptions are the inputs of `leakhunt diff`.
type DiffOptions struct {
	IO      *IOStreams
	Factory *Factory

	Old, New string
	Heap     heapFlags
	Force    bool
	JSON     bool
	Timeout  time.Duration
}

// NewCmdDiff builds `leakhunt diff`.
func NewCmdDiff(f *Factory, runF func(context.Context, *DiffOptions) error) *cobra.Command {
	opts := &DiffOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		Use:   "diff OLD NEW",
		Short: "Compare two snapshots: what grew, by site, goroutine state and runtime statistic",
		Long: `Compare two snapshots of one program: for each line (or function, file, stack)
the size and count in NEW and the change since OLD, largest change first; the
heap totals; goroutine counts by state; runtime memory statistics. Like
tracemalloc's Snapshot.compare_to(old, key_type).

OLD and NEW are snapshot or profile files; NEW may also be a live TARGET.`,
		Example: `  leakhunt diff before.lhsnap after.lhsnap
  leakhunt diff before.lhsnap http://127.0.0.1:6060 --by function`,
		Args: exactArgs(2, "OLD", "NEW"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Old, opts.New = args[0], args[1]
			if _, err := opts.Heap.options(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return diffRun(cmd.Context(), opts)
		},
	}
	opts.Heap.register(cmd)
	cmd.Flags().BoolVar(&opts.Force, "force", false, "compare snapshots even when they are of different programs")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON (schema in docs/json.md)")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 30*time.Second, "how long to wait for a network target's answer")
	return cmd
}

// diffJSON is the --json output of `leakhunt diff`.
type diffJSON struct {
	Old snapshot.Target `json:"old_target"`
	New snapshot.Target `json:"new_target"`
	*analyze.Diff
}

func diffRun(ctx context.Context, opts *DiffOptions) error {
	hopts, err := opts.Heap.options()
	if err != nil {
		return err
	}
	sopts := source.Options{Timeout: opts.Timeout, LazyHeap: true}
	old, err := opts.Factory.Snapshot(ctx, opts.Old, sopts)
	if err != nil {
		return err
	}
	new, err := opts.Factory.Snapshot(ctx, opts.New, sopts)
	if err != nil {
		return err
	}
	d, err := analyze.CompareSnapshots(old, new, analyze.DiffOptions{HeapOptions: hopts, N: opts.Heap.N, Force: opts.Force})
	if err != nil {
		return err
	}
	if opts.JSON {
		return writeJSON(opts.IO.Out, diffJSON{Old: old.Target, New: new.Target, Diff: d})
	}
	return report.Diff(opts.IO.Out, old, new, d, report.HeapOptions{Width: opts.IO.Width, Source: sourceLine(opts.Heap.Source)})
}
