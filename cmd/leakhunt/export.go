package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/leakhunt/leakhunt/profiler/atomicfile"
	"github.com/leakhunt/leakhunt/profiler/goroutines"
	"github.com/leakhunt/leakhunt/profiler/source"
)

// ExportOptions are the inputs of `leakhunt export`.
type ExportOptions struct {
	IO      *IOStreams
	Factory *Factory

	Snapshot string
	Part     string
	Output   string
	Force    bool
}

// NewCmdExport builds `leakhunt export`.
func NewCmdExport(f *Factory, runF func(context.Context, *ExportOptions) error) *cobra.Command {
	opts := &ExportOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		Use:   "export SNAPSHOT heap|goroutines -o FILE",
		Short: "Write a snapshot's heap or goroutine profile for go tool pprof",
		Long: `Write the heap profile, or the goroutines as a goroutine profile, of a snapshot
as a gzipped pprof protobuf that go tool pprof and other pprof tools read.
With -o - (or no -o when standard output is not a terminal) it goes to stdout.`,
		Example: `  leakhunt export before.lhsnap heap -o heap.pb.gz && go tool pprof -top heap.pb.gz`,
		Args:    exactArgs(2, "SNAPSHOT", "heap|goroutines"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Snapshot, opts.Part = args[0], args[1]
			if opts.Part != "heap" && opts.Part != "goroutines" {
				return usageErrorf("unknown part %q: export heap or goroutines", opts.Part)
			}
			if opts.Output == "" && opts.IO.OutTTY {
				return usageErrorf("name the output file with -o FILE (or -o - for standard output)")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return exportRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "", "file to write, or - for standard output")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "overwrite the output file if it exists")
	return cmd
}

func exportRun(ctx context.Context, opts *ExportOptions) error {
	s, err := opts.Factory.Snapshot(ctx, opts.Snapshot, source.Options{})
	if err != nil {
		return err
	}
	var write func(io.Writer) error
	switch opts.Part {
	case "heap":
		if s.Heap == nil {
			return fmt.Errorf("%s holds no heap profile", opts.Snapshot)
		}
		write = s.Heap.Write
	case "goroutines":
		if !s.HasGoroutines() {
			return fmt.Errorf("%s holds no goroutines", opts.Snapshot)
		}
		write = goroutines.ToProfile(s.Goroutines).Write
	}
	if opts.Output == "" || opts.Output == "-" {
		return write(opts.IO.Out)
	}
	if err := atomicfile.Write(opts.Output, opts.Force, write); err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "wrote %s\n", opts.Output)
	return nil
}
