package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/leakhunt/leakhunt/profiler/atomicfile"
	"github.com/leakhunt/leakhunt/profiler/attach"
	"github.com/leakhunt/leakhunt/profiler/heapgraph"
	"github.com/leakhunt/leakhunt/profiler/refs"
	"github.com/leakhunt/leakhunt/profiler/report"
	"github.com/leakhunt/leakhunt/profiler/snapshot"
	"github.com/leakhunt/leakhunt/profiler/source"
)

// graphFunc obtains the heap's object graph of a PID or core:FILE target
// (source.Graph; a field so that a command's dependencies are explicit).
type graphFunc func(ctx context.Context, t source.Target, opts source.GraphOptions) (*heapgraph.Graph, *attach.GraphCapture, error)

// ObjectsOptions are the inputs of `leakhunt objects`.
type ObjectsOptions struct {
	IO      *IOStreams
	Factory *Factory
	// Graph obtains a target's object graph.
	Graph graphFunc

	Target   string
	By       string
	N        int
	Type     string
	Output   string
	Profile  string
	Force    bool
	JSON     bool
	Diff     bool
	Old, New string
}

// The groupings of `objects --by`.
const (
	byType = "type"
	byRoot = "root"
)

// NewCmdObjects builds `leakhunt objects`. Tests pass runF to see the parsed options.
func NewCmdObjects(f *Factory, runF func(context.Context, *ObjectsOptions) error) *cobra.Command {
	opts := &ObjectsOptions{IO: f.IO, Factory: f, Graph: source.Graph}
	cmd := &cobra.Command{
		Use:   "objects TARGET | objects --diff OLD NEW",
		Short: "Show which types fill the heap and which roots keep them alive (objgraph for Go)",
		Long: `Walk the live heap of a Go process (by PID) or a core file the way the garbage
collector marks it, and show what is in it: bytes and objects per type (--by
type, the default), or per root and root path (--by root): the package
variable or goroutine frame variable, and the field, map and slice path below
it, that keeps the objects alive. The process is stopped only while its memory
is copied; nothing is written into it. Works whether or not the program's
memory profiler is on.

RETAINED is what would be freed if the objects (or the root) were gone,
computed on the dominator tree of the object graph. Objects that several roots
reach are reported as "shared by" those roots, never credited to one of them.

--type T shows one type: its count, bytes, retained size, sample addresses
and the root paths holding it. -o FILE saves the analysis, which objects reads
back as a TARGET; --diff OLD NEW shows the types and root paths that grew
between two saved analyses. --profile FILE writes the root paths as a pprof
profile (go tool pprof -top FILE, or a flame graph).

File formats and the --json schema: docs/objects.md.`,
		Example: `  leakhunt objects 12345
  leakhunt objects 12345 --by root -n 30
  leakhunt objects core:./core.12345 --exe ./server --type main.session
  leakhunt objects 12345 -o before.lhobj; ...; leakhunt objects 12345 -o after.lhobj
  leakhunt objects --diff before.lhobj after.lhobj
  leakhunt objects 12345 --profile refs.pb.gz && go tool pprof -top refs.pb.gz`,
		Args: func(cmd *cobra.Command, args []string) error {
			if opts.Diff {
				return exactArgs(2, "OLD", "NEW")(cmd, args)
			}
			return exactArgs(1, "TARGET")(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Diff {
				opts.Old, opts.New = args[0], args[1]
				if opts.Type != "" || opts.Output != "" || opts.Profile != "" || cmd.Flags().Changed("by") {
					return usageErrorf("--diff compares two saved analyses: it takes no --by, --type, -o or --profile")
				}
			} else {
				opts.Target = args[0]
			}
			if opts.By != byType && opts.By != byRoot {
				return usageErrorf("unknown --by %q: use type or root", opts.By)
			}
			if opts.N < 0 {
				return usageErrorf("-n must be 0 (all) or more, not %d", opts.N)
			}
			if opts.Type != "" && cmd.Flags().Changed("by") {
				return usageErrorf("--type shows one type with its root paths: it takes no --by")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return objectsRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.By, "by", byType, "group by type or root")
	cmd.Flags().IntVarP(&opts.N, "n", "n", 20, "show the N largest rows (0: all)")
	cmd.Flags().StringVar(&opts.Type, "type", "", "show one type (as in the TYPE column): count, bytes, retained size, sample addresses, root paths")
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "", "save the analysis to this file (mode 0600): objects and --diff read it back")
	cmd.Flags().StringVar(&opts.Profile, "profile", "", "write the root paths as a gzipped pprof profile to this file")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "overwrite the -o and --profile files if they exist")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON (schema in docs/objects.md)")
	cmd.Flags().BoolVar(&opts.Diff, "diff", false, "compare two saved analyses, OLD and NEW: what grew")
	return cmd
}

// checkOutputs refuses, before anything is captured, to overwrite files.
func checkOutputs(force bool, paths ...string) error {
	if force {
		return nil
	}
	for _, p := range paths {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("%s: %w (use --force to overwrite)", p, atomicfile.ErrExists)
		}
	}
	return nil
}

// loadAnalysis analyses a PID or core target, or loads a saved analysis.
func loadAnalysis(ctx context.Context, io *IOStreams, f *Factory, graph graphFunc, arg string) (*refs.Analysis, error) {
	t, err := source.Parse(arg)
	if err != nil {
		return nil, err
	}
	switch t.Kind {
	case snapshot.SourceFile:
		a, err := refs.Load(t.Path)
		if errors.Is(err, refs.ErrNotAnalysis) {
			return nil, fmt.Errorf("%s is not a saved objects analysis: give a PID, core:FILE or a file written by objects -o", t.Path)
		}
		return a, err
	}
	if t.Kind == snapshot.SourceHTTP {
		// A pprof endpoint serves no memory; the process behind a loopback
		// one is on this machine and can be walked.
		if pid := source.LocalPID(t); pid > 0 {
			fmt.Fprintf(io.ErrOut, "%s is served by process %d: walking its heap\n", arg, pid)
			t = source.Target{Kind: snapshot.SourcePID, Arg: strconv.Itoa(pid), PID: pid}
		}
	}
	if io.ErrTTY {
		// A big heap takes a while to walk: say what is going on.
		fmt.Fprintf(io.ErrOut, "walking the heap of %s…\n", arg)
	}
	g, cap, err := graph(ctx, t, source.GraphOptions{Exe: f.Exe})
	if err != nil {
		return nil, err
	}
	began := time.Now()
	a, err := refs.Analyze(ctx, g, refs.Options{})
	if err != nil {
		return nil, fmt.Errorf("analyse the heap of %s: %w", arg, err)
	}
	a.Time = f.Now()
	a.Capture = refs.CaptureInfo{Source: string(t.Kind), Address: arg}
	if cap != nil {
		a.Target = cap.Target
		a.Capture.Stopped, a.Capture.Duration, a.Capture.CopiedBytes = cap.Stopped, cap.Duration, cap.CopiedBytes
		a.Notes = append(a.Notes, cap.Notes...)
		fmt.Fprintf(io.ErrOut, "%s\n", captureLine(t.Kind, cap, time.Since(began)))
	}
	for _, n := range a.Notes {
		fmt.Fprintf(io.ErrOut, "note: %s\n", n)
	}
	return a, nil
}

// captureLine is the status line of a capture: "stopped 41 ms, copied 120 MiB".
func captureLine(kind snapshot.SourceKind, cap *attach.GraphCapture, analysis time.Duration) string {
	if kind == snapshot.SourceCore {
		return fmt.Sprintf("read %s from the core; walk %s, analysis %s", report.UBytes(cap.CopiedBytes), shortDuration(cap.Duration), shortDuration(analysis))
	}
	return fmt.Sprintf("stopped %s, copied %s; walk %s, analysis %s", shortDuration(cap.Stopped), report.UBytes(cap.CopiedBytes), shortDuration(cap.Duration), shortDuration(analysis))
}

func shortDuration(d time.Duration) string {
	switch {
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

// objectsJSON is the --json output of `leakhunt objects TARGET`: the
// analysis with its tables cut to -n rows.
type objectsJSON struct {
	Format string `json:"format"`
	*refs.Analysis
}

func objectsRun(ctx context.Context, opts *ObjectsOptions) error {
	if opts.Diff {
		return objectsDiff(opts)
	}
	if err := checkOutputs(opts.Force, opts.Output, opts.Profile); err != nil {
		return err
	}
	a, err := loadAnalysis(ctx, opts.IO, opts.Factory, opts.Graph, opts.Target)
	if err != nil {
		return err
	}
	topts := refs.TextOptions{N: opts.N, Width: opts.IO.Width}
	var tr *refs.TypeReport
	if opts.Type != "" {
		if tr, err = a.TypeReport(opts.Type); err != nil {
			return err
		}
	}
	if opts.Output != "" {
		if err := a.Save(opts.Output, opts.Force); err != nil {
			return err
		}
		fmt.Fprintf(opts.IO.ErrOut, "wrote %s\n", opts.Output)
	}
	if opts.Profile != "" {
		p := a.Profile()
		if err := atomicfile.Write(opts.Profile, opts.Force, func(w io.Writer) error { return p.Write(w) }); err != nil {
			return err
		}
		fmt.Fprintf(opts.IO.ErrOut, "wrote %s (go tool pprof -top %s)\n", opts.Profile, opts.Profile)
	}
	switch {
	case tr != nil && opts.JSON:
		tr.Paths = cut(tr.Paths, opts.N)
		return writeJSON(opts.IO.Out, tr)
	case tr != nil:
		return a.WriteTypeReport(opts.IO.Out, tr, topts)
	case opts.JSON:
		b := *a
		b.Types, b.Roots, b.Paths = cut(a.Types, opts.N), cut(a.Roots, opts.N), cut(a.Paths, opts.N)
		return writeJSON(opts.IO.Out, objectsJSON{Format: refs.FormatName, Analysis: &b})
	case opts.By == byRoot:
		return a.WriteRoots(opts.IO.Out, topts)
	}
	return a.WriteTypes(opts.IO.Out, topts)
}

func cut[T any](s []T, n int) []T {
	if n > 0 && len(s) > n {
		return s[:n]
	}
	return s
}

func objectsDiff(opts *ObjectsOptions) error {
	load := func(arg string) (*refs.Analysis, error) {
		t, err := source.Parse(arg)
		if err != nil {
			return nil, err
		}
		if t.Kind != snapshot.SourceFile {
			return nil, usageErrorf("--diff compares saved analyses: %s is not a file (save one with objects TARGET -o FILE)", arg)
		}
		a, err := refs.Load(t.Path)
		if errors.Is(err, refs.ErrNotAnalysis) {
			return nil, fmt.Errorf("%s is not a saved objects analysis: save one with objects TARGET -o FILE", t.Path)
		}
		return a, err
	}
	old, err := load(opts.Old)
	if err != nil {
		return err
	}
	new, err := load(opts.New)
	if err != nil {
		return err
	}
	c := refs.Diff(old, new)
	if opts.JSON {
		c.Types, c.Roots, c.Paths = cut(c.Types, opts.N), cut(c.Roots, opts.N), cut(c.Paths, opts.N)
		return writeJSON(opts.IO.Out, c)
	}
	return refs.WriteDiff(opts.IO.Out, c, refs.TextOptions{N: opts.N, Width: opts.IO.Width})
}
