package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/leakhunt/leakhunt/profiler/demo"
	"github.com/leakhunt/leakhunt/profiler/watch"
)

// NewCmdDemo builds `leakhunt demo`: the built-in leaky programs to practise on.
func NewCmdDemo(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "List and run the built-in leaky demo programs",
		Long: `The demos are small Go services that leak on purpose — each in its own way, and
each with a -fixed variant — and controls that look like leaks but are not.
leakhunt carries their sources and builds them with the Go toolchain, which
must be on PATH. The hunt guides in docs/hunts/ walk through each one.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("unknown demo command %q (list or run)", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(NewCmdDemoList(f, nil), NewCmdDemoRun(f, nil))
	return cmd
}

// DemoListOptions are the inputs of `leakhunt demo list`.
type DemoListOptions struct {
	IO   *IOStreams
	JSON bool
}

// NewCmdDemoList builds `leakhunt demo list`.
func NewCmdDemoList(f *Factory, runF func(context.Context, *DemoListOptions) error) *cobra.Command {
	opts := &DemoListOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the demos, one line each",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return demoListRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, `print JSON: [{"name", "kind", "summary", "cgo"}]`)
	return cmd
}

func demoListRun(_ context.Context, opts *DemoListOptions) error {
	demos := demo.List()
	if opts.JSON {
		return writeJSON(opts.IO.Out, demos)
	}
	tw := tabwriter.NewWriter(opts.IO.Out, 0, 8, 2, ' ', 0)
	for _, d := range demos {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", d.Name, d.Kind, d.Summary)
	}
	return tw.Flush()
}

// DemoRunOptions are the inputs of `leakhunt demo run`.
type DemoRunOptions struct {
	IO *IOStreams

	Name string
	// Args are the demo's own flags, passed through untouched.
	Args []string
	Dir  string
	Tags []string
	Race bool
	// MemProfileRate is the demo's heap sampling rate (--memprofilerate); 0,
	// the default here, leaves the runtime's, as in the hunt guides.
	MemProfileRate int
}

// NewCmdDemoRun builds `leakhunt demo run`.
func NewCmdDemoRun(f *Factory, runF func(context.Context, *DemoRunOptions) error) *cobra.Command {
	opts := &DemoRunOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "run [--dir DIR] [--tags TAGS] [--race] NAME [DEMO FLAGS...]",
		Short: "Build a demo, start it, and run it until Ctrl-C",
		Long: `Build the demo NAME from the sources inside leakhunt (the Go toolchain must be on
PATH), start it, print its PID and pprof endpoint, and keep it running in the
foreground until Ctrl-C or SIGTERM, then stop it.

leakhunt's own flags come before NAME; everything after NAME goes to the demo:
  -fixed             run the demo with its bug fixed
  -rate N            requests per second (the leak grows with it)
  -addr HOST:PORT    serve net/http/pprof there (127.0.0.1:0 picks a port);
                     without it the demo has no profiling endpoint
Run 'leakhunt demo list' for the names.`,
		Example: `  leakhunt demo run cache -addr 127.0.0.1:6060
  leakhunt demo run sender -fixed -rate 20 -addr 127.0.0.1:0
  leakhunt demo run --tags nopprof cache     # memory profiler off, for attaching by PID
  leakhunt demo run --race race`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("demo run needs a demo NAME (see 'leakhunt demo list')")
			}
			if _, err := demo.Lookup(args[0]); err != nil {
				return &usageError{err}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name, opts.Args = args[0], args[1:]
			if err := checkMemProfileRate(opts.MemProfileRate); err != nil {
				return err
			}
			if len(opts.Args) > 0 && opts.Args[0] == "--" {
				opts.Args = opts.Args[1:]
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return demoRunRun(cmd.Context(), opts)
		},
	}
	// Flags after NAME belong to the demo.
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().StringVar(&opts.Dir, "dir", "", "build in DIR and keep the binary and its sources there (default: a temporary directory, removed at exit)")
	cmd.Flags().StringSliceVar(&opts.Tags, "tags", nil, "build tags: nopprof gives a binary with no pprof endpoint and its memory profiler off")
	cmd.Flags().BoolVar(&opts.Race, "race", false, "build with the race detector (for the race demo)")
	addMemProfileRateFlag(cmd, &opts.MemProfileRate, 0)
	return cmd
}

func demoRunRun(ctx context.Context, opts *DemoRunOptions) (err error) {
	dir := opts.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "leakhunt-demo-")
		if err != nil {
			return fmt.Errorf("make a build directory: %w", err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("make the build directory: %w", err)
	}
	fmt.Fprintf(opts.IO.ErrOut, "building demo %s in %s\n", opts.Name, dir)
	var env []string // leakhunt's own
	if opts.MemProfileRate > 0 {
		env = watch.WithMemProfileRate(os.Environ(), opts.MemProfileRate)
	}
	p, err := demo.Run(ctx, opts.Name, dir, demo.BuildOptions{Tags: opts.Tags, Race: opts.Race},
		demo.Options{Args: opts.Args, Stdout: opts.IO.Out, Stderr: opts.IO.ErrOut, Env: env})
	if err != nil {
		return err // it names the demo and what went wrong
	}
	// Stop the demo on every way out, a panic included.
	defer p.Stop()
	for _, l := range p.Banner {
		fmt.Fprintln(opts.IO.Out, l)
	}
	fmt.Fprintf(opts.IO.ErrOut, "demo %s running as pid %d; Ctrl-C stops it\n", opts.Name, p.PID)
	if note := memProfileRateNote(os.Environ(), opts.MemProfileRate); note != "" {
		fmt.Fprintln(opts.IO.ErrOut, note)
	}
	select {
	case <-ctx.Done():
		err := p.Stop()
		fmt.Fprintf(opts.IO.ErrOut, "stopped demo %s (pid %d)%s\n", opts.Name, p.PID, exitNote(p.ExitCode()))
		return err
	case <-p.Done():
		if err := p.Wait(); err != nil {
			return fmt.Errorf("demo %s (pid %d) ended by itself: %w", opts.Name, p.PID, err)
		}
		return fmt.Errorf("demo %s (pid %d) ended by itself", opts.Name, p.PID)
	}
}

// exitNote explains a demo's exit status when it is worth a word.
func exitNote(code int) string {
	switch code {
	case 0, -1:
		return ""
	case 66:
		return ": exit status 66, the race detector found a data race"
	}
	return fmt.Sprintf(": exit status %d", code)
}
