package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/leakhunt/leakhunt/profiler/snapshot"
	"github.com/leakhunt/leakhunt/profiler/source"
)

// SnapshotOptions are the inputs of `leakhunt snapshot`.
type SnapshotOptions struct {
	IO      *IOStreams
	Factory *Factory

	Target  string
	Output  string
	Force   bool
	Timeout time.Duration
	JSON    bool
	Verbose bool
	GC      bool
	NoLeak  bool
	Locals  bool
	// EnableProfiling consents to writing runtime.MemProfileRate into a PID
	// target whose memory profiler is off.
	EnableProfiling bool
}

// NewCmdSnapshot builds `leakhunt snapshot`. Tests pass runF to see the parsed options.
func NewCmdSnapshot(f *Factory, runF func(context.Context, *SnapshotOptions) error) *cobra.Command {
	opts := &SnapshotOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		Use:   "snapshot TARGET",
		Short: "Capture heap, goroutines and memory statistics into one file",
		Long: `Capture, in one moment, the heap profile, every goroutine with its stack, state
and wait time, the runtime's memory statistics, and the target's identity, into
one snapshot file (mode 0600: it may hold secrets). Like tracemalloc's
take_snapshot() + dump(). top, diff, stats and export read it back.

The default file name says which program and when: PROGRAM-YYYYMMDD-HHMMSS.lhsnap.`,
		Example: `  leakhunt snapshot http://127.0.0.1:6060 -o before.lhsnap
  leakhunt snapshot 12345`,
		Args: exactArgs(1, "TARGET"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Target = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return snapshotRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "", "file to write (default: PROGRAM-TIME.lhsnap in the current directory)")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "overwrite the output file if it exists")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 30*time.Second, "how long to wait for a network target's answer")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print a JSON summary of what was written")
	cmd.Flags().BoolVar(&opts.GC, "gc", false, "have an HTTP target collect garbage first, so the heap profile is current (costs it one GC)")
	cmd.Flags().BoolVar(&opts.Locals, "locals", false, "read each frame's arguments and locals (PID and core targets; the target stays stopped longer)")
	cmd.Flags().BoolVar(&opts.EnableProfiling, "enable-profiling", false, "if the PID target's memory profiler is off, switch it on by writing runtime.MemProfileRate into it (asks first on a terminal)")
	cmd.Flags().BoolVar(&opts.NoLeak, "no-leak-check", false, "skip the runtime's goroutine leak detector (Go 1.27 /debug/pprof/goroutineleak, one extra GC in the target)")
	cmd.Flags().BoolVarP(&opts.Verbose, "verbose", "v", false, "report how long the capture took and how long the target was stopped")
	return cmd
}

// errNoConsent is returned when the user declines a write into the target.
var errNoConsent = errors.New("nothing was written into the target: the user declined")

// consentToWrite asks, on a terminal, before leakhunt writes into a target.
// Off a terminal, the --enable-profiling flag is the consent.
func consentToWrite(io *IOStreams, target string) error {
	if !io.InTTY || !io.ErrTTY {
		return nil
	}
	fmt.Fprintf(io.ErrOut, `--enable-profiling: if the memory profiler of %s is off, leakhunt will write
runtime.MemProfileRate = 524288 into the running process. From then on the
program samples one allocation per 512 KiB, as every program that imports
runtime/pprof does (a small CPU and memory cost); earlier allocations stay
unseen. Nothing else is changed. Write into the process? [y/N] `, target)
	answer, _ := bufio.NewReader(io.In).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
		return errNoConsent
	}
	return nil
}

// snapshotSummary is the --json output of `leakhunt snapshot`.
type snapshotSummary struct {
	File       string           `json:"file"`
	Target     snapshot.Target  `json:"target"`
	Capture    snapshot.Capture `json:"capture"`
	HeapSample int              `json:"heap_samples"`
	Goroutines int              `json:"goroutines"`
}

func snapshotRun(ctx context.Context, opts *SnapshotOptions) error {
	if opts.EnableProfiling {
		if err := consentToWrite(opts.IO, opts.Target); err != nil {
			return err
		}
	}
	s, err := opts.Factory.Snapshot(ctx, opts.Target, source.Options{Timeout: opts.Timeout, GC: opts.GC, NoLeakCheck: opts.NoLeak,
		Locals: opts.Locals, EnableProfiling: opts.EnableProfiling})
	if err != nil {
		return err
	}
	out := opts.Output
	if out == "" {
		out = source.DefaultName(s)
	}
	if err := s.Save(out, opts.Force); err != nil {
		return err
	}
	sum := snapshotSummary{File: out, Target: s.Target, Capture: s.Capture, Goroutines: len(s.Goroutines)}
	if s.Heap != nil {
		sum.HeapSample = len(s.Heap.Sample)
	}
	if opts.JSON {
		return writeJSON(opts.IO.Out, sum)
	}
	fmt.Fprintln(opts.IO.Out, out)
	prog := s.Target.Program
	if prog == "" {
		prog = filepath.Base(s.Capture.Address)
	}
	fmt.Fprintf(opts.IO.ErrOut, "wrote %s: %s, %d heap samples, %d goroutines\n", out, prog, sum.HeapSample, sum.Goroutines)
	if opts.Verbose {
		fmt.Fprintf(opts.IO.ErrOut, "capture took %s; target stopped %s\n", s.Capture.Duration.Round(time.Microsecond), s.Capture.Stopped.Round(time.Microsecond))
	}
	return nil
}
