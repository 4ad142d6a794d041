package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/leakhunt/leakhunt/profiler/snapshot"
	"github.com/leakhunt/leakhunt/profiler/source"
	"github.com/leakhunt/leakhunt/profiler/srcfile"
	"github.com/leakhunt/leakhunt/profiler/verdict"
	"github.com/leakhunt/leakhunt/profiler/watch"
)

// WatchOptions are the inputs of `leakhunt watch`.
type WatchOptions struct {
	IO      *IOStreams
	Factory *Factory

	// Target is the TARGET argument; Command the program to start instead.
	Target  string
	Command []string

	Interval     time.Duration
	Duration     time.Duration
	Output       string
	JSON         bool
	N            int
	Timeout      time.Duration
	StartTimeout time.Duration
	GC           bool
	NoLeak       bool
	// Refs walks the live heap every RefsEvery (leakhunt objects).
	Refs      bool
	RefsEvery time.Duration
	// MemProfileRate is the heap sampling rate of a program started with
	// -- COMMAND (--memprofilerate; 0 leaves the runtime's).
	MemProfileRate int
	// MemProfileRateSet is --memprofilerate given: with a running TARGET it
	// is written into the process (with consent) and set back at the end.
	MemProfileRateSet bool
	// WarmUp is how long heap growth must last to be called a leak.
	WarmUp time.Duration
}

// NewCmdWatch builds `leakhunt watch`.
func NewCmdWatch(f *Factory, runF func(context.Context, *WatchOptions) error) *cobra.Command {
	opts := &WatchOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		Use:   "watch TARGET | watch [flags] -- COMMAND [ARGS...]",
		Short: "Watch a program over time and name what leaks",
		Long: `Take a snapshot every --interval for --duration, keep each one in a series
directory (ordinary snapshot files: top and diff work on any two), and show
the allocation sites and goroutine groups that grew since the start and since
the last sample, with heap, RSS and goroutine totals. Like objgraph's
show_growth() in a loop.

Leak verdicts are printed as soon as the evidence is strong, and at the end:
heap (an allocation site whose in-use bytes keep growing), goroutine (a group
whose count keeps growing) and non-go-memory (RSS grows, the Go heap does
not). docs/verdicts.md explains the rule: a cache warming up to a plateau, a
sawtooth of temporary buffers, GC timing and an idle pool are not leaks.
Heap growth is called a leak once it has lasted --warm-up (40 s), so that a
cache filling up within about 30 s shows its plateau first; a verdict printed
while a longer warm-up was still going on is listed as cleared at the end.
A program leakhunt starts has its heap sampled once per 64 KiB
(--memprofilerate), so that slow leaks are placed sooner.

With -- COMMAND, leakhunt starts the program and watches it: through the
net/http/pprof URL it prints (http://127.0.0.1:PORT/..., read from its
output), or, when it prints none within 5 s, by its PID (attaching, with no
endpoint needed). leakhunt stops the program (SIGTERM) when the watch ends;
on Linux the program also gets SIGTERM if leakhunt itself is killed.

Ctrl-C ends the watch with the verdicts so far. Exit status: 0 no leak, 3 at
least one leak verdict, 1 error.`,
		Example: `  leakhunt watch http://127.0.0.1:6060 --interval 5s --duration 2m
  leakhunt watch http://127.0.0.1:6060 -o series --json > watch.json
  leakhunt watch --interval 1s --duration 1m -- ./myserver -addr 127.0.0.1:0`,
		Args: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			switch {
			case dash == 0 && len(args) > 0:
				opts.Command = args
			case dash > 0:
				return usageErrorf("watch takes either a TARGET or -- COMMAND, not both")
			case len(args) == 1:
				opts.Target = args[0]
			default:
				return usageErrorf("watch takes one TARGET, or -- COMMAND [ARGS...] (got %d arguments)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Interval <= 0 {
				return usageErrorf("--interval must be more than 0, got %s", opts.Interval)
			}
			if opts.Duration < opts.Interval {
				return usageErrorf("--duration (%s) must be at least one --interval (%s)", opts.Duration, opts.Interval)
			}
			if opts.N < 0 {
				return usageErrorf("-n must be 0 or more, got %d", opts.N)
			}
			if opts.Refs && opts.RefsEvery <= 0 {
				return usageErrorf("--refs-every must be more than 0, got %s", opts.RefsEvery)
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
			return watchRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.DurationVar(&opts.Interval, "interval", 5*time.Second, "time between samples")
	fl.DurationVar(&opts.Duration, "duration", 2*time.Minute, "how long to watch")
	fl.StringVarP(&opts.Output, "output", "o", "", "series directory to write (default: leakhunt-watch-TIME in the current directory)")
	fl.BoolVar(&opts.JSON, "json", false, "print JSON at the end (schema in docs/json.md)")
	fl.IntVarP(&opts.N, "n", "n", 10, "rows of growing sites and groups to show")
	fl.DurationVar(&opts.Timeout, "timeout", 30*time.Second, "how long to wait for a network target's answer")
	fl.DurationVar(&opts.StartTimeout, "start-timeout", 30*time.Second, "with -- COMMAND: how long to wait for the program to print its pprof URL")
	fl.BoolVar(&opts.GC, "gc", true, "have an HTTP target collect garbage before each heap profile, so each sample is current (one GC per sample)")
	fl.BoolVar(&opts.Refs, "refs", false, "also walk the live heap (leakhunt objects) at the start, every --refs-every and at the end, and show the types and root paths that grew: what keeps the growth alive (a process on this machine; it is stopped for the copy of its memory)")
	fl.DurationVar(&opts.RefsEvery, "refs-every", 30*time.Second, "with --refs: time between walks of the heap")
	addMemProfileRateFlag(cmd, &opts.MemProfileRate, watch.DefaultMemProfileRate)
	addWarmUpFlag(cmd, &opts.WarmUp)
	fl.BoolVar(&opts.NoLeak, "no-leak-check", false, "skip the runtime's goroutine leak detector (Go 1.27 /debug/pprof/goroutineleak, one extra GC per sample)")
	return cmd
}

// watchJSON is the --json output of `leakhunt watch`.
type watchJSON struct {
	Target   watchTarget       `json:"target"`
	Dir      string            `json:"dir"`
	Interval time.Duration     `json:"interval_ns"`
	Duration time.Duration     `json:"duration_ns"`
	Planned  int               `json:"planned"`
	Stop     watch.Stop        `json:"stop"`
	Error    string            `json:"error,omitempty"`
	Samples  []watch.Sample    `json:"samples"`
	Verdicts []verdict.Verdict `json:"verdicts"`
	// Objects are the walks of the heap (--refs).
	Objects *watchRefsJSON `json:"objects,omitempty"`
}

type watchTarget struct {
	snapshot.Target
	Address string `json:"address,omitempty"`
}

func watchRun(ctx context.Context, opts *WatchOptions) error {
	f := opts.Factory
	target := opts.Target
	var exited func() bool
	childPID := 0
	if len(opts.Command) > 0 {
		child, err := watch.StartWith(opts.Command, opts.IO.ErrOut, watch.StartOptions{MemProfileRate: opts.MemProfileRate})
		if err != nil {
			return err
		}
		defer child.Stop()
		exited = child.Exited
		childPID = child.PID()
		target, err = childTarget(ctx, opts, child)
		if err != nil {
			return err
		}
		fmt.Fprintf(opts.IO.ErrOut, "watching %s (pid %d) at %s\n", opts.Command[0], child.PID(), target)
		if note := memProfileRateNote(os.Environ(), opts.MemProfileRate); note != "" {
			fmt.Fprintln(opts.IO.ErrOut, note)
		}
	}
	t, err := source.Parse(target)
	if err != nil {
		return err
	}
	if t.Kind == snapshot.SourceFile {
		return usageErrorf("%s is a file: watch needs a live target (a URL, a PID, or -- COMMAND)", target)
	}
	dir := opts.Output
	if dir == "" {
		dir = "leakhunt-watch-" + f.Now().Format("20060102-150405")
	}
	sopts := source.Options{Timeout: opts.Timeout, GC: opts.GC, NoLeakCheck: opts.NoLeak, Now: f.Now, Tool: "leakhunt " + version}
	capture := func(ctx context.Context) (*snapshot.Snapshot, error) {
		return f.Capture(ctx, t, sopts)
	}

	var wr *watchRefs
	if opts.Refs {
		if wr, err = newWatchRefs(opts, t, childPID, dir); err != nil {
			return err
		}
	}
	if len(opts.Command) == 0 && opts.MemProfileRateSet {
		restore, err := setTargetRate(ctx, opts.IO, target, opts.MemProfileRate, opts.IO.InTTY && opts.IO.ErrTTY)
		if err != nil {
			return err
		}
		defer restore()
	}
	view := newWatchView(opts, target, dir)
	view.refs = wr
	vopts := verdict.Options{Source: srcfile.NewCache(), Target: target, Dir: dir, MinHeapSpan: minHeapSpan(opts.WarmUp)}
	var current []verdict.Verdict
	res, err := watch.Run(ctx, capture, watch.Options{
		Interval: opts.Interval, Duration: opts.Duration, Dir: dir, Now: f.Now, Exited: exited, WarmUp: minHeapSpan(opts.WarmUp),
		OnSample: func(s *watch.Series, smp watch.Sample) {
			if wr != nil && wr.due(time.Now()) {
				if err := wr.walk(ctx, smp.Index); err != nil && ctx.Err() == nil {
					view.note("heap walk failed: " + errorLine(err))
				}
			}
			current = verdict.Analyze(s, vopts)
			view.sample(s, smp, current)
		},
		OnError: func(err error) { view.note("sample failed: " + errorLine(err)) },
	})
	if err != nil {
		return err
	}
	if wr != nil && wr.first != nil && ctx.Err() == nil && res.Stop == watch.StopDone {
		// The last walk, at the end of the watch.
		if err := wr.walk(ctx, res.Series.Len()); err != nil {
			view.note("heap walk failed: " + errorLine(err))
		}
	}
	final := verdict.Analyze(res.Series, vopts)
	if final == nil {
		final = []verdict.Verdict{}
	}
	if opts.JSON {
		out := watchJSON{
			Target: watchTarget{Target: res.Series.Target, Address: res.Series.Address}, Dir: dir,
			Interval: opts.Interval, Duration: opts.Duration, Planned: res.Planned, Stop: res.Stop,
			Samples: res.Series.Samples, Verdicts: final,
		}
		if res.Err != nil {
			out.Error = errorLine(res.Err)
		}
		if wr != nil {
			out.Objects = wr.json()
		}
		if err := writeJSON(opts.IO.Out, out); err != nil {
			return err
		}
	}
	view.end(res, final)
	if res.Stop == watch.StopFailed && len(final) == 0 {
		return fmt.Errorf("watch stopped after %d samples: %w", res.Series.Len(), res.Err)
	}
	if len(final) > 0 {
		return errLeakFound
	}
	return nil
}

// childTarget finds how to watch a program leakhunt started: the pprof URL it
// prints; or, when it prints none within a few seconds, its PID if this
// build can attach to it; or the URL it prints later, up to --start-timeout.
func childTarget(ctx context.Context, opts *WatchOptions, child *watch.Child) (string, error) {
	first := min(opts.StartTimeout, 5*time.Second)
	url, err := child.WaitURL(ctx, first)
	if err == nil {
		return url, nil
	}
	if child.Exited() || errors.Is(err, context.Canceled) {
		return "", err
	}
	pid := strconv.Itoa(child.PID())
	t, perr := source.Parse(pid)
	if perr == nil {
		_, perr = opts.Factory.Capture(ctx, t, source.Options{Parts: source.PartMemStats, Timeout: opts.Timeout})
	}
	if perr == nil {
		fmt.Fprintf(opts.IO.ErrOut, "note: %s printed no pprof URL within %s: watching it by PID %s\n", opts.Command[0], first, pid)
		return pid, nil
	}
	if rest := opts.StartTimeout - first; rest > 0 {
		if url, err = child.WaitURL(ctx, rest); err == nil {
			return url, nil
		}
	}
	return "", fmt.Errorf("%w (leakhunt needs it to serve net/http/pprof and print its http://127.0.0.1:PORT URL); and watching it by PID failed: %v", err, perr)
}
