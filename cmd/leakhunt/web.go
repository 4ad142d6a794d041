package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/google/pprof/profile"
	"github.com/spf13/cobra"

	"github.com/leakhunt/leakhunt/profiler/analyze"
	"github.com/leakhunt/leakhunt/profiler/goroutines"
	"github.com/leakhunt/leakhunt/profiler/pprofweb"
	"github.com/leakhunt/leakhunt/profiler/refs"
	"github.com/leakhunt/leakhunt/profiler/snapshot"
	"github.com/leakhunt/leakhunt/profiler/source"
)

// WebOptions are the inputs of `leakhunt web`.
type WebOptions struct {
	IO      *IOStreams
	Factory *Factory

	Target  string
	Diff    string
	HTTP    string
	Profile string
	Sample  string
	Force   bool
	Timeout time.Duration
	// Ready, when set, is told the UI's URL once it listens (tests use it;
	// the URL is printed to stderr either way).
	Ready func(url string)
}

// The profiles `leakhunt web --profile` can show.
const (
	webHeap       = "heap"
	webGoroutines = "goroutines"
	webObjects    = "objects"
)

// NewCmdWeb builds `leakhunt web`. Tests pass runF to see the parsed options.
func NewCmdWeb(f *Factory, runF func(context.Context, *WebOptions) error) *cobra.Command {
	opts := &WebOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		Use:   "web SNAPSHOT|TARGET [--diff OLD]",
		Short: "Open pprof's web UI (flame graph, graph, top, source) on a snapshot or a diff",
		Long: `Serve pprof's own web UI on a snapshot's heap profile (or its goroutines with
--profile goroutines): flame graph, call graph, top, source and peek views, as
go tool pprof -http shows them. A live TARGET is captured first.

With --diff OLD the UI shows NEW minus OLD, as go tool pprof -diff_base does:
what grew is positive, what shrank negative.

It listens on 127.0.0.1 on a free port unless --http says otherwise, prints
the URL to stderr and runs until Ctrl-C. It opens no browser.`,
		Example: `  leakhunt web after.lhsnap
  leakhunt web after.lhsnap --diff before.lhsnap
  leakhunt web http://127.0.0.1:6060 --profile goroutines --http 127.0.0.1:8080`,
		Args: exactArgs(1, "SNAPSHOT|TARGET"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Target = args[0]
			switch opts.Profile {
			case webHeap, webGoroutines, webObjects:
			case "goroutine":
				opts.Profile = webGoroutines
			default:
				return usageErrorf("unknown --profile %q: use heap, goroutines or objects", opts.Profile)
			}
			if opts.Sample != "" {
				if opts.Profile == webGoroutines {
					return usageErrorf("--sample applies to the heap and objects profiles only")
				}
				if !webValidSample(opts.Sample) && !webObjectsSample(opts.Sample) {
					return usageErrorf("unknown --sample %q: use inuse_space, inuse_objects, alloc_space or alloc_objects", opts.Sample)
				}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return webRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Diff, "diff", "", "show the change from this older snapshot or TARGET (pprof -diff_base)")
	cmd.Flags().StringVar(&opts.HTTP, "http", pprofweb.DefaultAddr, "HOST:PORT to serve the UI on (port 0: any free port)")
	cmd.Flags().StringVar(&opts.Profile, "profile", webHeap, "profile to show: heap, goroutines, or objects (the reachable heap by root path, from a PID, core or saved objects analysis)")
	cmd.Flags().StringVar(&opts.Sample, "sample", "", "heap sample type shown first: inuse_space, inuse_objects, alloc_space or alloc_objects")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "compare snapshots of different programs")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 30*time.Second, "how long to wait for a network target's answer")
	return cmd
}

// webObjectsSample reports whether s is a sample type of the objects profile.
func webObjectsSample(s string) bool {
	switch s {
	case "inuse_space", "inuse_objects", "retained_space", "retained_objects":
		return true
	}
	return false
}

func webValidSample(s string) bool {
	for _, v := range analyze.Samples {
		if v == s {
			return true
		}
	}
	return false
}

func webRun(ctx context.Context, opts *WebOptions) error {
	if opts.Profile == webHeap && webIsObjects(opts.Target) {
		opts.Profile = webObjects
	}
	if opts.Profile == webObjects {
		return webObjectsRun(ctx, opts)
	}
	if opts.Sample != "" && !webValidSample(opts.Sample) {
		return usageErrorf("unknown --sample %q for a heap profile: use inuse_space, inuse_objects, alloc_space or alloc_objects", opts.Sample)
	}
	sopts := source.Options{Timeout: opts.Timeout}
	sopts.Parts = source.PartHeap
	if opts.Profile == webGoroutines {
		sopts.Parts = source.PartGoroutines
	}
	s, err := opts.Factory.Snapshot(ctx, opts.Target, sopts)
	if err != nil {
		return err
	}
	p, err := webProfile(s, opts.Target, opts.Profile)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("the %s of %s", opts.Profile, opts.Target)
	var base *profile.Profile
	if opts.Diff != "" {
		old, err := opts.Factory.Snapshot(ctx, opts.Diff, sopts)
		if err != nil {
			return err
		}
		if a, b := webProgramOf(old), webProgramOf(s); a != "" && b != "" && a != b && !opts.Force {
			return fmt.Errorf("%s and %s are snapshots of different programs (%s and %s): compare snapshots of one program, or pass --force", opts.Diff, opts.Target, a, b)
		}
		if base, err = webProfile(old, opts.Diff, opts.Profile); err != nil {
			return err
		}
		what = fmt.Sprintf("the %s of %s minus %s", opts.Profile, opts.Target, opts.Diff)
	}
	return webServe(ctx, opts, p, base, what)
}

// webServe runs pprof's UI on p (minus base, when set) until ctx ends.
func webServe(ctx context.Context, opts *WebOptions, p, base *profile.Profile, what string) error {
	return pprofweb.Serve(ctx, p, pprofweb.Options{
		Addr: opts.HTTP, Base: base, SampleIndex: opts.Sample, Log: opts.IO.ErrOut,
		Ready: func(url string) {
			fmt.Fprintf(opts.IO.ErrOut, "pprof web UI on %s for %s (Ctrl-C to stop)\n", url, what)
			if opts.Ready != nil {
				opts.Ready(url)
			}
		},
	})
}

// webProfile picks the profile of a snapshot the UI shows.
func webProfile(s *snapshot.Snapshot, arg, kind string) (*profile.Profile, error) {
	if kind == webGoroutines {
		if !s.HasGoroutines() {
			return nil, fmt.Errorf("%s holds no goroutines: use --profile heap, or a snapshot taken with its goroutines", arg)
		}
		return goroutines.ToProfile(s.Goroutines), nil
	}
	p, err := s.HeapProfile()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", arg, err)
	}
	if p == nil {
		return nil, fmt.Errorf("%s holds no heap profile: use --profile goroutines, or a snapshot with a heap profile", arg)
	}
	return p, nil
}

// webProgramOf names the program of a snapshot for comparing two.
func webProgramOf(s *snapshot.Snapshot) string {
	if s.Target.Path != "" {
		return s.Target.Path
	}
	return s.Target.Program
}

// webIsObjects reports whether arg is a file holding an objects analysis:
// saved by objects -o, or its pprof profile (objects --profile).
func webIsObjects(arg string) bool {
	t, err := source.Parse(arg)
	if err != nil || t.Kind != snapshot.SourceFile {
		return false
	}
	data, err := os.ReadFile(t.Path)
	if err != nil {
		return false
	}
	if refs.IsAnalysis(data) {
		return true
	}
	p, err := profile.ParseData(data)
	return err == nil && webObjectsProfile(p)
}

// webObjectsProfile reports whether p is a leakhunt objects profile.
func webObjectsProfile(p *profile.Profile) bool {
	for _, st := range p.SampleType {
		if st.Type == "retained_space" {
			return true
		}
	}
	return false
}

// webObjectsLoad gives the objects profile of arg: a PID or core (walked
// now), a saved analysis, or a profile objects --profile wrote.
func webObjectsLoad(ctx context.Context, opts *WebOptions, arg string) (*profile.Profile, error) {
	if t, err := source.Parse(arg); err == nil && t.Kind == snapshot.SourceFile {
		if data, err := os.ReadFile(t.Path); err == nil && !refs.IsAnalysis(data) {
			if p, err := profile.ParseData(data); err == nil && webObjectsProfile(p) {
				return p, nil
			}
		}
	}
	a, err := loadAnalysis(ctx, opts.IO, opts.Factory, source.Graph, arg)
	if err != nil {
		return nil, err
	}
	return a.Profile(), nil
}

// webObjectsRun serves the reachable heap by root path.
func webObjectsRun(ctx context.Context, opts *WebOptions) error {
	if opts.Sample != "" && !webObjectsSample(opts.Sample) {
		return usageErrorf("unknown --sample %q for objects: use inuse_space, inuse_objects, retained_space or retained_objects", opts.Sample)
	}
	p, err := webObjectsLoad(ctx, opts, opts.Target)
	if err != nil {
		return err
	}
	what := "the objects of " + opts.Target
	var base *profile.Profile
	if opts.Diff != "" {
		if base, err = webObjectsLoad(ctx, opts, opts.Diff); err != nil {
			return err
		}
		what = fmt.Sprintf("the objects of %s minus %s", opts.Target, opts.Diff)
	}
	return webServe(ctx, opts, p, base, what)
}
