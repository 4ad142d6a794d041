package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/leakhunt/leakhunt/profiler/analyze"
	"github.com/leakhunt/leakhunt/profiler/report"
	"github.com/leakhunt/leakhunt/profiler/source"
	"github.com/leakhunt/leakhunt/profiler/srcfile"
)

// TopOptions are the inputs of `leakhunt top`.
type TopOptions struct {
	IO      *IOStreams
	Factory *Factory

	Target  string
	Heap    heapFlags
	JSON    bool
	Timeout time.Duration
	GC      bool
}

// NewCmdTop builds `leakhunt top`.
func NewCmdTop(f *Factory, runF func(context.Context, *TopOptions) error) *cobra.Command {
	opts := &TopOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		Use:   "top SNAPSHOT|TARGET",
		Short: "Show the allocation sites holding the most heap memory",
		Long: `Show heap statistics grouped by source line, function, file or whole stack:
size, object count and share of the heap, largest first. Like tracemalloc's
Snapshot.statistics(key_type) with include/exclude filters.

--sample inuse_space (the default) ranks what is live now; alloc_space ranks
everything allocated since the program started.`,
		Example: `  leakhunt top after.lhsnap
  leakhunt top http://127.0.0.1:6060 --by function -n 20
  leakhunt top heap.pb.gz --by stack --focus 'myapp/' --ignore 'bufio'`,
		Args: exactArgs(1, "SNAPSHOT|TARGET"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Target = args[0]
			if _, err := opts.Heap.options(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return topRun(cmd.Context(), opts)
		},
	}
	opts.Heap.register(cmd)
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON (schema in docs/json.md)")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 30*time.Second, "how long to wait for a network target's answer")
	cmd.Flags().BoolVar(&opts.GC, "gc", false, "have an HTTP target collect garbage first, so the heap profile is current (costs it one GC)")
	return cmd
}

// topJSON is the --json output of `leakhunt top`.
type topJSON struct {
	Title string `json:"title"`
	*analyze.Top
}

func topRun(ctx context.Context, opts *TopOptions) error {
	hopts, err := opts.Heap.options()
	if err != nil {
		return err
	}
	s, err := opts.Factory.Snapshot(ctx, opts.Target, source.Options{Parts: source.PartHeap, Timeout: opts.Timeout, GC: opts.GC, LazyHeap: true})
	if err != nil {
		return err
	}
	top, err := analyze.HeapTop(s, hopts, opts.Heap.N)
	if err != nil {
		return err
	}
	if opts.JSON {
		return writeJSON(opts.IO.Out, topJSON{Title: report.Title(s), Top: top})
	}
	return report.Top(opts.IO.Out, s, top, report.HeapOptions{Width: opts.IO.Width, Source: sourceLine(opts.Heap.Source)})
}

// sourceLine returns the source-line reader for tables, or nil when off.
func sourceLine(on bool) report.SourceLine {
	if !on {
		return nil
	}
	cache := srcfile.NewCache()
	return func(file string, line int) string { return cache.Line(file, line) }
}
