package main

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/spf13/cobra"

	"github.com/leakhunt/leakhunt/profiler/goroutines"
	"github.com/leakhunt/leakhunt/profiler/report"
	"github.com/leakhunt/leakhunt/profiler/snapshot"
	"github.com/leakhunt/leakhunt/profiler/source"
	"github.com/leakhunt/leakhunt/profiler/srcfile"
)

// StacksOptions are the inputs of `leakhunt stacks`.
type StacksOptions struct {
	IO      *IOStreams
	Factory *Factory

	Target  string
	Source  bool
	Full    bool
	Filter  string
	By      string
	N       int
	JSON    bool
	Timeout time.Duration
	NoLeak  bool
}

// groupOptions checks the flags and turns them into grouping options.
func (o *StacksOptions) groupOptions() (goroutines.GroupOptions, error) {
	var g goroutines.GroupOptions
	switch o.By {
	case "stack", "":
		g.By = goroutines.ByStack
	case "site":
		g.By = goroutines.BySite
	default:
		return g, usageErrorf("unknown --by %q: use stack or site", o.By)
	}
	if o.Filter != "" {
		re, err := regexp.Compile(o.Filter)
		if err != nil {
			return g, usageErrorf("bad --filter regexp: %v", err)
		}
		g.Filter = re
	}
	if o.N < 0 {
		return g, usageErrorf("-n must be 0 (all) or more, not %d", o.N)
	}
	return g, nil
}

// NewCmdStacks builds `leakhunt stacks`. Tests pass runF to see the parsed options.
func NewCmdStacks(f *Factory, runF func(context.Context, *StacksOptions) error) *cobra.Command {
	opts := &StacksOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		Use:   "stacks TARGET",
		Short: "Show every goroutine, identical stacks folded into groups",
		Long: `Show every goroutine of a program, identical stacks folded into one group with
a count, largest group first: each group's state (what it waits for), how long
it has waited, the go statement that created it, and its frames as function and
file:line, the program's own frames marked with *. Like py-bt for every thread
at once, grouped as panicparse does. Argument values do not split groups.

--by site folds goroutines started by the same go statement and blocked in the
same frame of the program's own code, whatever the frames in between: the
goroutine groups whose growth means a goroutine leak.

--source shows a few lines of source around each of the program's own frames
when the file is readable here (py-list). --full shows each frame's arguments
and locals (py-bt-full, py-locals); only PID and core targets can read them.

Every TARGET kind gives the same view: a pprof URL (its debug=2 goroutine
dump; waits under a minute are not in it), a snapshot, a raw goroutine
profile, a PID or a core file.`,
		Example: `  leakhunt stacks http://127.0.0.1:6060
  leakhunt stacks 12345 --full --filter 'myapp/'
  leakhunt stacks after.lhsnap --by site -n 5 --source
  leakhunt stacks goroutine-dump.txt --json`,
		Args: exactArgs(1, "TARGET"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Target = args[0]
			if _, err := opts.groupOptions(); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return stacksRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Source, "source", false, "show the source lines around each of the program's own frames")
	cmd.Flags().BoolVar(&opts.Full, "full", false, "show each frame's arguments and locals (PID and core targets)")
	cmd.Flags().StringVar(&opts.Filter, "filter", "", "only goroutines with a frame (function or file:line), state or creator matching this regexp")
	cmd.Flags().StringVar(&opts.By, "by", "stack", "fold goroutines with identical stacks (stack) or the same creation site and blocking frame (site)")
	cmd.Flags().IntVarP(&opts.N, "groups", "n", 0, "show only the N largest groups (0: all)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON (schema in docs/json.md)")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 30*time.Second, "how long to wait for a network target's answer")
	cmd.Flags().BoolVar(&opts.NoLeak, "no-leak-check", false, "skip the runtime's goroutine leak detector (Go 1.27 /debug/pprof/goroutineleak, one extra GC in the target)")
	return cmd
}

// stacksJSON is the --json output of `leakhunt stacks` (docs/json.md).
type stacksJSON struct {
	Title       string              `json:"title"`
	Target      snapshot.Target     `json:"target"`
	Source      snapshot.SourceKind `json:"source"`
	Goroutines  int                 `json:"goroutines"`
	Matched     int                 `json:"matched"`
	By          goroutines.GroupBy  `json:"by"`
	Filter      string              `json:"filter,omitempty"`
	GroupsTotal int                 `json:"groups_total"`
	Groups      []stackGroupJSON    `json:"groups"`
	Notes       []string            `json:"notes,omitempty"`
}

// stackGroupJSON is a goroutines.Group whose frames say which are the
// program's own and, with --source, carry their source lines.
type stackGroupJSON struct {
	goroutines.Group
	Frames []stackFrameJSON `json:"frames"`
}

type stackFrameJSON struct {
	snapshot.Frame
	User   bool             `json:"user"`
	Source []sourceLineJSON `json:"source,omitempty"`
}

type sourceLineJSON struct {
	Line int    `json:"line"`
	Text string `json:"text"`
}

func stacksRun(ctx context.Context, opts *StacksOptions) error {
	gopts, err := opts.groupOptions()
	if err != nil {
		return err
	}
	s, err := opts.Factory.Snapshot(ctx, opts.Target, source.Options{
		Parts: source.PartGoroutines, Locals: opts.Full, Timeout: opts.Timeout, NoLeakCheck: opts.NoLeak,
	})
	if err != nil {
		return err
	}
	if !s.HasGoroutines() {
		return fmt.Errorf("%s holds no goroutines: give a running program, a snapshot, or a goroutine profile or dump", opts.Target)
	}
	groups := goroutines.Groups(s.Goroutines, gopts)
	total, matched := len(groups), 0
	for _, g := range groups {
		matched += g.Count
	}
	if opts.N > 0 && len(groups) > opts.N {
		groups = groups[:opts.N]
	}
	var noLocals string
	if opts.Full {
		noLocals = noLocalsNote(s.Capture.Source)
	}
	var cache *srcfile.Cache
	if opts.Source {
		cache = srcfile.NewCache()
	}
	if opts.JSON {
		out := stacksJSON{
			Title: report.Title(s), Target: s.Target, Source: s.Capture.Source,
			Goroutines: len(s.Goroutines), Matched: matched, By: gopts.By, Filter: opts.Filter,
			GroupsTotal: total, Groups: make([]stackGroupJSON, len(groups)),
		}
		anyVars := false
		for i, g := range groups {
			out.Groups[i] = stackGroupJSON{Group: g, Frames: make([]stackFrameJSON, len(g.Frames))}
			for j, f := range g.Frames {
				fj := stackFrameJSON{Frame: f, User: goroutines.IsUser(f)}
				anyVars = anyVars || len(f.Vars) > 0
				if cache != nil && fj.User {
					for _, l := range cache.Around(f.File, f.Line, 2) {
						fj.Source = append(fj.Source, sourceLineJSON{Line: l.N, Text: l.Text})
					}
				}
				out.Groups[i].Frames[j] = fj
			}
		}
		if opts.Full && !anyVars {
			out.Notes = append(out.Notes, "locals: "+noLocals)
		}
		return writeJSON(opts.IO.Out, out)
	}
	err = report.Stacks(opts.IO.Out, s, groups, report.StacksOptions{
		Width: opts.IO.Width, Source: cache, Full: opts.Full, NoLocals: noLocals,
		Goroutines: len(s.Goroutines), Groups: total, By: gopts.By, Filter: opts.Filter,
	})
	if err != nil {
		return err
	}
	if cache != nil && !anySource(cache, groups) {
		fmt.Fprintln(opts.IO.ErrOut, "note: --source: none of the program's source files is readable on this machine")
	}
	return nil
}

// noLocalsNote says why a capture has no locals and what would give them.
func noLocalsNote(kind snapshot.SourceKind) string {
	switch kind {
	case snapshot.SourcePID, snapshot.SourceCore:
		return "the target gave none (a binary built with -ldflags=-w has no variable information)"
	case snapshot.SourceHTTP:
		return "none: a pprof endpoint does not give them; locals need a PID or core target"
	}
	return "none in this file: locals need a PID or core target"
}

// anySource reports whether some frame of the program's own code has a
// readable source file.
func anySource(cache *srcfile.Cache, groups []goroutines.Group) bool {
	for _, g := range groups {
		for _, f := range g.Frames {
			if goroutines.IsUser(f) && f.File != "" && len(cache.Around(f.File, f.Line, 0)) > 0 {
				return true
			}
		}
	}
	return false
}
