package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/leakhunt/leakhunt/profiler/atomicfile"
	"github.com/leakhunt/leakhunt/profiler/demo"
	"github.com/leakhunt/leakhunt/profiler/hunt"
	"github.com/leakhunt/leakhunt/profiler/procfs"
	"github.com/leakhunt/leakhunt/profiler/refs"
	"github.com/leakhunt/leakhunt/profiler/report"
	"github.com/leakhunt/leakhunt/profiler/snapshot"
	"github.com/leakhunt/leakhunt/profiler/source"
	"github.com/leakhunt/leakhunt/profiler/srcfile"
	"github.com/leakhunt/leakhunt/profiler/verdict"
	"github.com/leakhunt/leakhunt/profiler/watch"
)

// defaultDemo is the demo `leakhunt hunt --demo` hunts when none is named.
const defaultDemo = "sender"

// HuntOptions are the inputs of `leakhunt hunt`.
type HuntOptions struct {
	IO      *IOStreams
	Factory *Factory

	Target string
	// UseDemo is --demo; Demo names the demo to start ("" for a TARGET hunt).
	UseDemo  bool
	Demo     string
	DemoArgs []string
	Yes      bool
	Dir      string
	Interval time.Duration
	Duration time.Duration
	Timeout  time.Duration
	NoReport bool
	// NoObjects skips the walks of the live heap (leakhunt objects).
	NoObjects bool
	// MemProfileRate is the demo's heap sampling rate (--memprofilerate; 0
	// leaves the runtime's).
	MemProfileRate int
	// MemProfileRateSet is --memprofilerate given: with a running TARGET it
	// is written into the process (with consent) and set back at the end.
	MemProfileRateSet bool
	// WarmUp is how long heap growth must last to be called a leak.
	WarmUp time.Duration
}

// NewCmdHunt builds `leakhunt hunt`.
func NewCmdHunt(f *Factory, runF func(context.Context, *HuntOptions) error) *cobra.Command {
	opts := &HuntOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		Use:   "hunt [TARGET | --demo [NAME]]",
		Short: "A guided leak hunt: what an expert would do, step by step",
		Long: `Walk through a leak hunt the way an expert would: look at the target, keep a
baseline, watch it grow, name the leak, drill into it, say what pattern it
likely is and how such leaks are fixed, and write an HTML report. Each step
prints what it does, why, and the one leakhunt command that does the same, so
you learn them as you go.

On a terminal the hunt pauses after each step (Enter to go on) and lets you
pick the suspect; --yes runs it through without asking. --demo starts one of
the built-in leaky programs (default: ` + defaultDemo + `) and hunts it; the demo is
stopped at the end. With no TARGET and no --demo, the Go processes on this
machine are listed.

Exit status: 0 no leak found, 3 a leak was found, 1 an error.`,
		Example: `  leakhunt hunt --demo
  leakhunt hunt --demo sender --yes
  leakhunt hunt http://127.0.0.1:6060 --duration 2m
  leakhunt hunt 4242`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageErrorf("hunt takes at most one TARGET, or --demo and a demo name (got %d arguments)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case opts.UseDemo && len(args) == 1:
				opts.Demo = args[0]
			case opts.UseDemo:
				opts.Demo = defaultDemo
			case len(args) == 1:
				opts.Target = args[0]
			}
			if opts.Interval <= 0 || opts.Duration < opts.Interval {
				return usageErrorf("--interval must be positive and --duration at least one interval")
			}
			if err := checkMemProfileRate(opts.MemProfileRate); err != nil {
				return err
			}
			if err := checkWarmUp(opts.WarmUp); err != nil {
				return err
			}
			opts.MemProfileRateSet = cmd.Flags().Changed("memprofilerate")
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return huntRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.UseDemo, "demo", false, "start a built-in leaky demo (the argument names it; default "+defaultDemo+"; see leakhunt demo list) and hunt it")
	cmd.Flags().StringSliceVar(&opts.DemoArgs, "demo-args", nil, "flags for the demo, e.g. -fixed or -rate=50")
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "run every step without asking")
	cmd.Flags().StringVarP(&opts.Dir, "output", "o", "", "directory for the hunt's snapshots and report (default: leakhunt-PROGRAM-TIME)")
	cmd.Flags().DurationVar(&opts.Interval, "interval", time.Second, "time between samples while watching")
	cmd.Flags().DurationVar(&opts.Duration, "duration", time.Minute, "how long to watch")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 30*time.Second, "how long to wait for a network target's answer")
	cmd.Flags().BoolVar(&opts.NoReport, "no-report", false, "do not write report.html at the end")
	addMemProfileRateFlag(cmd, &opts.MemProfileRate, watch.DefaultMemProfileRate)
	addWarmUpFlag(cmd, &opts.WarmUp)
	cmd.Flags().BoolVar(&opts.NoObjects, "no-objects", false, "do not walk the live heap to find what keeps the growth alive (the walk stops the process for the copy of its memory)")
	return cmd
}

func huntRun(ctx context.Context, opts *HuntOptions) error {
	io := opts.IO
	interactive := !opts.Yes && io.InTTY && io.OutTTY
	if opts.Target == "" && opts.Demo == "" {
		return huntChooseProcess(ctx, opts, interactive)
	}
	if opts.Demo != "" {
		if _, err := demo.Lookup(opts.Demo); err != nil {
			return usageErrorf("--demo %s: %v", opts.Demo, err)
		}
	}
	dir := opts.Dir
	if dir == "" {
		dir = fmt.Sprintf("leakhunt-%s-%s", huntName(opts), opts.Factory.Now().Format("20060102-150405"))
	}
	if opts.Target != "" {
		t, err := source.Parse(opts.Target)
		if err != nil {
			return err
		}
		if t.Kind == snapshot.SourceFile || t.Kind == snapshot.SourceCore {
			return usageErrorf("a hunt watches a live program: give a URL or a PID, not a file (for files use top, diff or report)")
		}
		if opts.MemProfileRateSet {
			restore, err := setTargetRate(ctx, io, opts.Target, opts.MemProfileRate, !opts.Yes && io.InTTY && io.ErrTTY)
			if err != nil {
				return err
			}
			defer restore()
		}
	}
	demoPID := 0
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s exists: name a new directory with -o", dir)
		}
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if opts.Demo != "" {
		// The demo is built inside the hunt's directory, so its sources stay
		// readable for the report and for the commands the hunt suggests.
		build := filepath.Join(dir, "demo")
		rateFlag := ""
		if opts.MemProfileRate > 0 {
			rateFlag = fmt.Sprintf("--memprofilerate %d ", opts.MemProfileRate)
		}
		fmt.Fprintf(io.Out, "Building and starting the demo %q in %s (leakhunt demo run %s%s -addr 127.0.0.1:0)...\n", opts.Demo, build, rateFlag, opts.Demo)
		args := append([]string{"-addr", "127.0.0.1:0"}, opts.DemoArgs...)
		env := watch.WithMemProfileRate(os.Environ(), opts.MemProfileRate)
		p, err := demo.Run(ctx, opts.Demo, build, demo.BuildOptions{}, demo.Options{Args: args, Env: env})
		if err != nil {
			return err
		}
		defer p.Stop()
		demoPID = p.PID
		for _, l := range p.Banner {
			fmt.Fprintf(io.Out, "  %s\n", l)
		}
		if note := memProfileRateNote(os.Environ(), opts.MemProfileRate); note != "" {
			fmt.Fprintf(io.Out, "  %s\n", note)
		}
		opts.Target = strings.TrimSuffix(p.URL, "debug/pprof/")
	}
	t, err := source.Parse(opts.Target)
	if err != nil {
		return err
	}
	capture := func(ctx context.Context) (*snapshot.Snapshot, error) {
		// As watch does: a current heap profile from HTTP targets (one GC each).
		return opts.Factory.Capture(ctx, t, source.Options{Timeout: opts.Timeout, Now: opts.Factory.Now, Tool: "leakhunt " + version, GC: true})
	}
	hopts := hunt.Options{
		Target: opts.Target, Capture: capture, Dir: dir, Interval: opts.Interval, Duration: opts.Duration, WarmUp: minHeapSpan(opts.WarmUp),
		Out: io.Out, In: io.In, Interactive: interactive, Width: io.Width, Now: opts.Factory.Now,
	}
	if !opts.NoReport {
		hopts.Report = writeHuntReport
	}
	if pid := huntPID(t, demoPID); pid > 0 && !opts.NoObjects {
		arg := strconv.Itoa(pid)
		hopts.ObjectsTarget = arg
		hopts.Objects = func(ctx context.Context) (*refs.Analysis, error) {
			if pid == demoPID {
				return walkChild(ctx, pid)
			}
			return loadAnalysis(ctx, io, opts.Factory, source.Graph, arg)
		}
	}
	res, err := hunt.Run(ctx, hopts)
	if err != nil {
		if errors.Is(err, hunt.ErrStopped) {
			fmt.Fprintf(io.ErrOut, "hunt stopped; what it gathered is in %s\n", dir)
			return nil
		}
		return err
	}
	if len(res.Verdicts) > 0 {
		return errLeakFound
	}
	return nil
}

func huntName(opts *HuntOptions) string {
	if opts.Demo != "" {
		return opts.Demo
	}
	return "hunt"
}

// writeHuntReport writes the hunt's HTML report.
func writeHuntReport(snaps []*snapshot.Snapshot, vs []verdict.Verdict, path string) error {
	rvs := make([]report.Verdict, len(vs))
	for i, v := range vs {
		rvs[i] = reportVerdict(v)
	}
	src := srcfile.NewCache()
	return atomicfile.Write(path, false, func(w io.Writer) error {
		return report.HTML(w, snaps, report.HTMLOptions{Verdicts: rvs, Tool: "leakhunt " + version, Source: src.Line})
	})
}

// huntChooseProcess lists the Go processes to hunt, and on a terminal lets
// the user pick one.
func huntChooseProcess(ctx context.Context, opts *HuntOptions, interactive bool) error {
	io := opts.IO
	procs, err := procfs.GoProcesses(ctx, procfs.GoProcessOptions{})
	if err != nil {
		return err
	}
	fmt.Fprintln(io.Out, "Which program leaks? The Go processes on this machine (leakhunt ps):")
	if err := report.Processes(io.Out, procs, io.Width); err != nil {
		return err
	}
	if !interactive || len(procs) == 0 {
		return usageErrorf("give a TARGET (a URL or a PID from the list), or --demo to practise on a built-in leaky program")
	}
	fmt.Fprint(io.Out, "\nPID or URL to hunt: ")
	var answer string
	if _, err := fmt.Fscanln(io.In, &answer); err != nil || answer == "" {
		return usageErrorf("no target chosen")
	}
	opts.Target = answer
	return huntRun(ctx, opts)
}

// huntPID is the process on this machine a hunt watches, for walks of its
// heap: the demo, a PID target, or the process serving a loopback URL; 0
// when there is none.
func huntPID(t source.Target, demoPID int) int {
	if demoPID > 0 {
		return demoPID
	}
	return source.LocalPID(t)
}
