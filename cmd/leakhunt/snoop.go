package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/leakhunt/leakhunt/profiler/dlvscript"
)

// SnoopOptions are the inputs of `leakhunt snoop`.
type SnoopOptions struct {
	IO *IOStreams

	Target   string
	Func     string
	Duration time.Duration
	MaxCalls int
	Watch    []string
	Lines    bool
	// NoGuard traces from this process instead of a tracer child (see
	// snoopRun): a SIGKILL of leakhunt then leaves breakpoints in the target.
	NoGuard bool
}

// snoopChildEnv marks the tracer child of `leakhunt snoop`; its value is the
// file descriptor of the lifeline pipe from the parent.
const snoopChildEnv = "LEAKHUNT_SNOOP_LIFELINE"

// NewCmdSnoop builds `leakhunt snoop`. Tests pass runF to see the parsed options.
func NewCmdSnoop(f *Factory, runF func(context.Context, *SnoopOptions) error) *cobra.Command {
	opts := &SnoopOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "snoop PID --func PKG.FUNC",
		Short: "Trace each call of a function in a running process: arguments, return values, time (PySnooper for Go)",
		Long: `Trace each call of a function in a running Go process, as it happens: its
arguments, its return values and the time it took; with --lines, each line
executed and the locals that changed; with --watch EXPR, the value of EXPR at
each call (and line). Like Python's PySnooper, with no change to the program.

Cost: snoop sets breakpoints. Each hit stops the whole process while the
values are read (typically a fraction of a millisecond; more with --lines and
--watch), so a function called thousands of times a second slows it down
noticeably. snoop states this at the start and, at the end, the number of
hits and the total time the target was stopped. The run is bounded by
--duration and --max-calls.

In optimised code some values print as "(unreadable ...)": the debug
information has no location for them at that instruction (return values at
the return, often). Build with -gcflags=all='-N -l' to see them all.

Every breakpoint is removed and the process left running at the end, on
Ctrl-C, on SIGTERM and on error. The tracing runs in a child process of
leakhunt so that even a SIGKILL of leakhunt is survived: the child notices and
removes the breakpoints. Only a SIGKILL of that child itself (or a crash of the
machine's tracer) while the breakpoints are in place can leave them behind,
and the target would then die of SIGTRAP at its next call of the function.`,
		Example: `  leakhunt snoop 12345 --func main.handle --max-calls 5
  leakhunt snoop 12345 --func 'example.com/app/store.(*Cache).Put' --watch len(c.items) --duration 30s
  leakhunt snoop 12345 --func main.parse --lines --max-calls 1`,
		Args: exactArgs(1, "PID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Target = args[0]
			if opts.Func == "" {
				return usageErrorf("snoop needs --func PKG.FUNC, the function to trace (for example --func main.handle)")
			}
			if opts.Duration <= 0 {
				return usageErrorf("--duration must be positive (got %s)", opts.Duration)
			}
			if opts.MaxCalls < 0 {
				return usageErrorf("--max-calls must be 0 (no limit) or more (got %d)", opts.MaxCalls)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return snoopRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Func, "func", "", "the function to trace, as delve names it: main.handle, example.com/pkg.(*T).Method")
	cmd.Flags().DurationVar(&opts.Duration, "duration", 10*time.Second, "stop after this long")
	cmd.Flags().IntVar(&opts.MaxCalls, "max-calls", 0, "stop after this many calls returned (0: no limit)")
	cmd.Flags().StringArrayVar(&opts.Watch, "watch", nil, "an expression to print at each call (repeatable)")
	cmd.Flags().BoolVar(&opts.Lines, "lines", false, "trace each line of the function and the locals that changed (more hits: slower)")
	cmd.Flags().BoolVar(&opts.NoGuard, "no-guard", false, "trace from this process, without the tracer child (a SIGKILL of leakhunt then leaves breakpoints in the target)")
	_ = cmd.Flags().MarkHidden("no-guard")
	return cmd
}

// snoopRun traces in a child process (the tracer) and waits for it. The
// child holds the target's breakpoints; it watches a pipe from this process
// and, when the pipe closes because this process died (even of SIGKILL), it
// removes them and detaches. Ctrl-C and SIGTERM here are passed on to the
// child as SIGTERM, which makes it clean up the same way.
func snoopRun(ctx context.Context, opts *SnoopOptions) error {
	t, err := delveTarget(opts.Target, "")
	if err != nil {
		return err
	}
	if !t.Live() {
		return usageErrorf("snoop needs a running process (PID), not a core file")
	}
	if fd := os.Getenv(snoopChildEnv); fd != "" || opts.NoGuard {
		return snoopTrace(ctx, opts, t, fd)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("snoop: find leakhunt's executable for the tracer: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("snoop: %w", err)
	}
	args := []string{"leakhunt", "snoop", opts.Target, "--func", opts.Func, "--duration", opts.Duration.String(), "--max-calls", strconv.Itoa(opts.MaxCalls)}
	for _, w := range opts.Watch {
		args = append(args, "--watch", w)
	}
	if opts.Lines {
		args = append(args, "--lines")
	}
	child := exec.Command(exe)
	child.Args = args
	child.Env = append(os.Environ(), snoopChildEnv+"=3")
	child.ExtraFiles = []*os.File{r}
	child.Stdin = nil
	child.Stdout, child.Stderr = opts.IO.Out, opts.IO.ErrOut
	// Its own process group: a Ctrl-C (or a kill of the terminal's
	// foreground group) reaches this process, which relays it as SIGTERM.
	child.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := child.Start(); err != nil {
		r.Close()
		w.Close()
		return fmt.Errorf("snoop: start the tracer: %w", err)
	}
	r.Close()
	done := make(chan error, 1)
	go func() { done <- child.Wait() }()
	var werr error
	select {
	case werr = <-done:
	case <-ctx.Done():
		_ = child.Process.Signal(syscall.SIGTERM)
		werr = <-done
	}
	w.Close()
	var ee *exec.ExitError
	if errors.As(werr, &ee) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("snoop: the tracer failed (exit status %d; its message is above)", ee.ExitCode())
	}
	if werr != nil {
		return fmt.Errorf("snoop: %w", werr)
	}
	return ctx.Err()
}

// snoopTrace is the tracer: attach, snoop, remove the breakpoints, detach.
// lifeline is the descriptor of the pipe from the parent ("" for none).
func snoopTrace(ctx context.Context, opts *SnoopOptions, t dlvscript.Target, lifeline string) error {
	// The tracer cleans up on SIGTERM and SIGINT whatever main set up.
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if lifeline != "" {
		fd, err := strconv.Atoi(lifeline)
		if err != nil {
			return fmt.Errorf("snoop: bad %s=%q", snoopChildEnv, lifeline)
		}
		f := os.NewFile(uintptr(fd), "lifeline")
		go func() {
			// The parent never writes: a read returns when it has exited.
			_, _ = io.Copy(io.Discard, f)
			cancel()
		}()
	}
	sess, err := dlvscript.Open(ctx, t)
	if err != nil {
		return err
	}
	defer sess.Close()
	_, err = sess.Snoop(ctx, dlvscript.SnoopOptions{
		Func: opts.Func, Duration: opts.Duration, MaxCalls: opts.MaxCalls, Watch: opts.Watch, Lines: opts.Lines,
		Out: opts.IO.Out, Log: opts.IO.ErrOut,
	})
	if cerr := sess.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}
