package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/leakhunt/leakhunt/profiler/attach"
)

// CoreOptions are the inputs of `leakhunt core`.
type CoreOptions struct {
	IO *IOStreams

	PID     int
	Output  string
	Force   bool
	JSON    bool
	Verbose bool
}

// NewCmdCore builds `leakhunt core`. Tests pass runF to see the parsed options.
func NewCmdCore(f *Factory, runF func(context.Context, *CoreOptions) error) *cobra.Command {
	opts := &CoreOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "core PID -o FILE",
		Short: "Write a core dump of a running Go process for offline work",
		Long: `Write an ELF core dump of a running Go process, like gcore, with no debugger
installed. The process is stopped while its memory is written (a few hundred
milliseconds per GiB) and runs on afterwards. The file is written atomically
with mode 0600: it holds everything in the process's memory, secrets included.

Read it back with any command that takes a TARGET: leakhunt snapshot core:FILE
(add --exe BINARY when the executable has moved).`,
		Example: `  leakhunt core 12345 -o api.core
  leakhunt snapshot core:api.core`,
		Args: exactArgs(1, "PID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			pid, err := strconv.Atoi(args[0])
			if err != nil || pid <= 0 {
				return usageErrorf("%q is not a PID: give the process number (see leakhunt ps)", args[0])
			}
			opts.PID = pid
			if opts.Output == "" {
				return usageErrorf("core needs -o FILE: where to write the dump")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return coreRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "", "file to write (required)")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "overwrite the output file if it exists")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print a JSON summary of what was written")
	cmd.Flags().BoolVarP(&opts.Verbose, "verbose", "v", false, "report how long the process was stopped")
	return cmd
}

// coreSummary is the --json output of `leakhunt core`.
type coreSummary struct {
	File      string `json:"file"`
	PID       int    `json:"pid"`
	Bytes     uint64 `json:"bytes"`
	Segments  int    `json:"segments"`
	StoppedNs int64  `json:"stopped_ns"`
}

func coreRun(ctx context.Context, opts *CoreOptions) error {
	st, err := attach.WriteCore(ctx, opts.PID, opts.Output, opts.Force)
	if err != nil {
		return err
	}
	if opts.JSON {
		return writeJSON(opts.IO.Out, coreSummary{File: opts.Output, PID: opts.PID, Bytes: st.Bytes, Segments: st.Segments, StoppedNs: int64(st.Stopped)})
	}
	fmt.Fprintln(opts.IO.Out, opts.Output)
	fmt.Fprintf(opts.IO.ErrOut, "wrote %s: %d MiB of process %d's memory in %d segments\n", opts.Output, st.Bytes>>20, opts.PID, st.Segments)
	if opts.Verbose {
		fmt.Fprintf(opts.IO.ErrOut, "took %s; process stopped %s\n", st.Duration.Round(time.Millisecond), st.Stopped.Round(time.Microsecond))
	}
	return nil
}
