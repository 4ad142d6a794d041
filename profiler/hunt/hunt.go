package hunt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/leakhunt/leakhunt/profiler/analyze"
	"github.com/leakhunt/leakhunt/profiler/goroutines"
	"github.com/leakhunt/leakhunt/profiler/refs"
	"github.com/leakhunt/leakhunt/profiler/report"
	"github.com/leakhunt/leakhunt/profiler/snapshot"
	"github.com/leakhunt/leakhunt/profiler/srcfile"
	"github.com/leakhunt/leakhunt/profiler/verdict"
	"github.com/leakhunt/leakhunt/profiler/watch"
)

// ErrStopped is returned when the user ends the hunt at a prompt.
var ErrStopped = errors.New("hunt stopped at the user's request")

// Options configure a hunt. Capture, Target, Dir and Out are required.
type Options struct {
	// Target is the TARGET as the user would type it, for the commands shown.
	Target string
	// Capture takes a full snapshot of the target.
	Capture watch.CaptureFunc
	// Dir is where the hunt keeps its snapshots and report; it must not exist
	// or be empty.
	Dir string
	// Interval and Duration shape the watch (defaults 1s and 1m).
	Interval, Duration time.Duration
	// WarmUp is how long heap growth must last before it is called a leak
	// (verdict.Options.MinHeapSpan: zero means its default, negative no wait).
	WarmUp time.Duration
	// Out receives the narration and the results; In the user's answers.
	Out io.Writer
	In  io.Reader
	// Interactive makes the hunt pause after each step and ask which suspect
	// to drill into; otherwise it goes on by itself (--yes).
	Interactive bool
	// Width cuts tables to the terminal's width (0: no cut).
	Width int
	// Objects, when set, walks the target's live heap (leakhunt objects): the
	// hunt then says which roots keep the growth alive. It needs the
	// process's memory, so it is set for processes on this machine only.
	Objects func(ctx context.Context) (*refs.Analysis, error)
	// ObjectsTarget is the TARGET of the objects commands shown (a PID).
	ObjectsTarget string
	// Report, when set, writes the HTML report of the hunt to path.
	Report func(snaps []*snapshot.Snapshot, vs []verdict.Verdict, path string) error
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Result is what a hunt found.
type Result struct {
	Verdicts []verdict.Verdict `json:"verdicts"`
	// Suspect is the verdict drilled into; nil when there was none.
	Suspect *verdict.Verdict `json:"suspect,omitempty"`
	// Pattern is the likely leak pattern of the suspect.
	Pattern *Pattern `json:"pattern,omitempty"`
	// Dir holds the baseline, the watch series and the report.
	Dir    string `json:"dir"`
	Report string `json:"report,omitempty"`
	// KeptBy is the root path whose retained memory grew most during the
	// watch ("main.sessions → map value → *main.session"); empty when the
	// heap was not walked or nothing grew.
	KeptBy string `json:"kept_by,omitempty"`
	// Commands are the leakhunt commands that do what the hunt did.
	Commands []string `json:"commands"`
}

// hunter carries a hunt's state from step to step.
type hunter struct {
	opts   Options
	in     *bufio.Reader
	src    *srcfile.Cache
	res    *Result
	step   int
	series *watch.Series
	base   *snapshot.Snapshot
	last   *snapshot.Snapshot
	// objBase is the baseline walk of the heap (nil when not walked).
	objBase *refs.Analysis
}

// Run walks through a leak hunt: look at the target, take a baseline, watch
// it, give the verdict, drill into the main suspect, explain the likely
// pattern and its fix, and write a report. Each step says what it does, why,
// and the command that does the same.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.Duration <= 0 {
		opts.Duration = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.In == nil {
		opts.In = strings.NewReader("")
	}
	h := &hunter{opts: opts, in: bufio.NewReader(opts.In), src: srcfile.NewCache(), res: &Result{Dir: opts.Dir}}
	for _, step := range []func(context.Context) error{h.look, h.baseline, h.watch, h.verdict, h.drill, h.keptBy, h.explain, h.report} {
		if err := step(ctx); err != nil {
			return h.res, err
		}
	}
	h.summary()
	return h.res, nil
}

func (h *hunter) printf(format string, args ...any) { fmt.Fprintf(h.opts.Out, format, args...) }

// begin announces a step: its title, why it matters, and the command that
// does the same.
func (h *hunter) begin(title, why string, commands ...string) {
	h.step++
	h.printf("\n━━ Step %d: %s\n", h.step, title)
	h.printf("Why: %s\n", why)
	for _, c := range commands {
		h.printf("Same as: %s\n", c)
		h.res.Commands = append(h.res.Commands, c)
	}
	h.printf("\n")
}

// pause waits for Enter in an interactive hunt; "q" ends the hunt.
func (h *hunter) pause() error {
	if !h.opts.Interactive {
		return nil
	}
	h.printf("\n[Enter] to go on, [q] to stop: ")
	line, err := h.in.ReadString('\n')
	if err != nil && line == "" {
		return ErrStopped
	}
	if strings.EqualFold(strings.TrimSpace(line), "q") {
		return ErrStopped
	}
	return nil
}

func (h *hunter) path(name string) string { return filepath.Join(h.opts.Dir, name) }

func (h *hunter) look(ctx context.Context) error {
	h.begin("Look at the target",
		"first make sure it is a Go program we can read, and see where memory and goroutines stand now",
		"leakhunt stats "+h.opts.Target)
	s, err := h.opts.Capture(ctx)
	if err != nil {
		return err
	}
	h.base = s
	if err := report.Stats(h.opts.Out, analyze.Summarize(s), h.opts.Width); err != nil {
		return err
	}
	h.printf("\n")
	switch {
	case s.Heap == nil:
		h.printf("• No heap profile: only goroutines and totals can be watched.\n")
	case s.Capture.MemProfileRate != nil && *s.Capture.MemProfileRate == 0, s.Heap.Period == 0:
		h.printf("• The memory profiler is off in this program (MemProfileRate 0): allocation sites cannot be named, totals still can.\n")
		if h.opts.Objects != nil {
			h.printf("• Walks of the live heap (leakhunt objects %s) still show what keeps memory alive: the hunt takes one now and one at the end.\n", h.opts.ObjectsTarget)
		}
	default:
		h.printf("• The heap profiler samples one allocation per %s: allocation sites can be named.\n", report.Bytes(s.Heap.Period))
	}
	if s.HasGoroutines() {
		h.printf("• %d goroutines", len(s.Goroutines))
		if s.Capture.LeakCheck {
			h.printf("; the runtime's goroutine leak detector is available and was asked")
		}
		h.printf(".\n")
	}
	return h.pause()
}

func (h *hunter) baseline(ctx context.Context) error {
	file := h.path("baseline.lhsnap")
	h.begin("Keep a baseline",
		"a leak is growth over time: every later measurement is compared with this one",
		fmt.Sprintf("leakhunt snapshot %s -o %s", h.opts.Target, file))
	if err := h.base.Save(file, false); err != nil {
		return err
	}
	h.printf("Saved %s (%s).\n", file, report.Title(h.base))
	if h.opts.Objects != nil {
		obj := h.path("objects-baseline.lhobj")
		h.printf("\nAnd a walk of the live heap, to see later what keeps the growth alive (%s):\n",
			fmt.Sprintf("leakhunt objects %s -o %s", h.opts.ObjectsTarget, obj))
		a, err := h.walk(ctx, obj)
		if err != nil {
			h.printf("  (no walk of the heap: %v)\n", err)
		} else {
			h.objBase = a
			h.res.Commands = append(h.res.Commands, fmt.Sprintf("leakhunt objects %s -o %s", h.opts.ObjectsTarget, obj))
		}
	}
	return h.pause()
}

// walk analyses the live heap and saves the analysis to file.
func (h *hunter) walk(ctx context.Context, file string) (*refs.Analysis, error) {
	a, err := h.opts.Objects(ctx)
	if err != nil {
		return nil, err
	}
	if err := a.Save(file, false); err != nil {
		return nil, err
	}
	h.printf("  %s reachable in %d objects of %d types; the process was stopped %s for the copy. Saved %s.\n",
		report.UBytes(a.Totals.Bytes), a.Totals.Objects, a.Totals.Types, a.Capture.Stopped.Round(time.Millisecond), file)
	return a, nil
}

// keptBy walks the heap again and shows what grew by root path: not where
// the memory was allocated but what keeps it alive.
func (h *hunter) keptBy(ctx context.Context) error {
	v := h.res.Suspect
	if h.objBase == nil || (v != nil && v.Kind == verdict.Goroutine) {
		return nil
	}
	if v == nil && !h.heapGrew() {
		return nil
	}
	end := h.path("objects-end.lhobj")
	h.begin("What keeps it alive",
		"an allocation site says where the memory was made, not who still holds it: walking the live heap as the garbage collector does names the package variable or goroutine, and the map, slice or field path below it, whose retained memory grew. This works even when the program's memory profiler is off",
		fmt.Sprintf("leakhunt objects %s -o %s", h.opts.ObjectsTarget, end),
		fmt.Sprintf("leakhunt objects --diff %s %s", h.path("objects-baseline.lhobj"), end))
	a, err := h.walk(ctx, end)
	if err != nil {
		h.printf("(no walk of the heap: %v)\n", err)
		return nil
	}
	c := refs.Diff(h.objBase, a)
	h.printf("\n")
	if err := refs.WriteDiff(h.opts.Out, c, refs.TextOptions{N: 5, Width: h.opts.Width}); err != nil {
		return err
	}
	if g := keptByPath(c); g != nil {
		h.res.KeptBy = g.Name
		h.printf("\nThe growth is kept alive by %s: %+d objects, %s more retained since the baseline.\n",
			g.Name, g.ObjectsChange, report.Bytes(g.RetainedChange))
		if k := holderKind(g.Name); k != "" {
			h.printf("That path goes through %s.\n", k)
		}
		if t := lastStep(g.Name); t != "" {
			cmd := fmt.Sprintf("leakhunt why %s --type '%s'", h.opts.ObjectsTarget, strings.TrimPrefix(t, "*"))
			h.printf("To see the whole chain from the root to one of them: %s\n", cmd)
			h.res.Commands = append(h.res.Commands, cmd)
		}
	}
	return h.pause()
}

// heapGrew reports whether the Go heap grew over the watch.
func (h *hunter) heapGrew() bool {
	if h.series == nil || h.series.Len() < 2 {
		return false
	}
	first, last := h.series.Samples[0], h.series.Samples[h.series.Len()-1]
	return last.HeapAlloc > first.HeapAlloc+first.HeapAlloc/10
}

// keptByPath picks the root path that explains the growth: among the paths
// whose retained memory grew by at least half the most any grew (a map's
// directory, tables and groups retain as much as its values), the one whose
// own objects grew most: the entries themselves.
func keptByPath(c *refs.Change) *refs.Growth {
	var most int64
	for _, g := range c.Paths {
		most = max(most, g.RetainedChange)
	}
	var best *refs.Growth
	for i := range c.Paths {
		g := &c.Paths[i]
		if most <= 0 || g.RetainedChange*2 < most {
			continue
		}
		if best == nil || g.BytesChange > best.BytesChange {
			best = g
		}
	}
	return best
}

// holderKind says in words what kind of collection a root path goes
// through, or "" when it cannot tell.
func holderKind(path string) string {
	steps := strings.Split(path, " → ")
	if len(steps) < 3 {
		return ""
	}
	kind := ""
	for _, st := range steps[1 : len(steps)-1] { // not the root, not the type
		switch {
		case st == "map value" || st == "map key":
			return "a map that only grows: entries are added and never deleted"
		case st == "chan buffer":
			kind = "a channel buffer nobody drains"
		case strings.HasPrefix(st, "[") && kind == "":
			kind = "a slice or array that only grows (or a small slice pinning a big array)"
		}
	}
	return kind
}

// lastStep is the last "→ " step of a root path: the objects' type.
func lastStep(path string) string {
	if i := strings.LastIndex(path, "→ "); i >= 0 {
		return strings.TrimSpace(path[i+len("→ "):])
	}
	return ""
}

func (h *hunter) watch(ctx context.Context) error {
	dir := h.path("series")
	h.begin("Watch it grow",
		fmt.Sprintf("sample the program every %s for %s and look for what keeps growing, as objgraph.show_growth() in a loop; steady growth is a leak, a plateau or a sawtooth is not. If the program needs traffic to leak, exercise it now", h.opts.Interval, h.opts.Duration),
		fmt.Sprintf("leakhunt watch %s --interval %s --duration %s -o %s", h.opts.Target, h.opts.Interval, h.opts.Duration, dir))
	seen := make(map[string]bool)
	vopts := verdict.Options{Target: h.opts.Target, Dir: dir, Source: h.src, MinHeapSpan: h.opts.WarmUp}
	planned := watch.Options{Interval: h.opts.Interval, Duration: h.opts.Duration}.Planned()
	res, err := watch.Run(ctx, h.opts.Capture, watch.Options{
		Interval: h.opts.Interval, Duration: h.opts.Duration, Dir: dir, Now: h.opts.Now, WarmUp: h.opts.WarmUp,
		OnSample: func(s *watch.Series, smp watch.Sample) {
			h.printf("sample %d/%d  heap %s  rss %s  goroutines %d\n", s.Len(), planned,
				report.UBytes(smp.HeapAlloc), report.UBytes(smp.RSS), smp.Goroutines)
			for _, v := range verdict.Analyze(s, vopts) {
				if !seen[v.Key()] {
					seen[v.Key()] = true
					h.printf("  ▲ %s leak suspected at %s: %s\n", v.Kind, v.Where(), rateText(v))
				}
			}
		},
	})
	if err != nil {
		return err
	}
	if res.Stop != watch.StopDone {
		h.printf("The watch ended early: %s.\n", res.Stop)
	}
	h.series = res.Series
	h.res.Verdicts = verdict.Analyze(res.Series, vopts)
	if n := res.Series.Len(); n > 0 {
		last, err := snapshot.Load(filepath.Join(dir, res.Series.Samples[n-1].File))
		if err != nil {
			return err
		}
		h.last = last
	}
	return h.pause()
}

func rateText(v verdict.Verdict) string {
	if v.Unit == verdict.BytesPerSecond {
		return fmt.Sprintf("+%s/s, %.0f%% sure", report.Bytes(int64(v.Rate)), 100*v.Confidence)
	}
	return fmt.Sprintf("+%.1f goroutines/min, %.0f%% sure", v.Rate, 100*v.Confidence)
}

func (h *hunter) verdict(ctx context.Context) error {
	h.begin("The verdict",
		"a suspect is something that grew steadily over the whole watch, more than the noise, and was still growing at the end (leakhunt watch prints these verdicts and exits with status 3 when there is one)")
	vs := h.res.Verdicts
	if len(vs) == 0 {
		h.printf("No leak found in %s: nothing grew steadily. A slow leak may need a longer watch (--duration), or traffic.\n", h.opts.Duration)
		if w := h.opts.WarmUp; w == 0 && h.opts.Duration < 40*time.Second || w > 0 && h.opts.Duration < w {
			h.printf("(Heap growth is called a leak only once it has lasted --warm-up, 40s by default, so that a cache warming up can show its plateau first: this watch was shorter.)\n")
		}
		if h.last != nil && h.base != nil {
			h.printf("\nWhat changed most anyway (leakhunt diff %s %s):\n\n", h.path("baseline.lhsnap"), h.lastFile())
			h.diff()
		}
		return nil
	}
	for i, v := range vs {
		h.printf("%d. %s leak at %s\n", i+1, v.Kind, v.Where())
		if v.Source != "" {
			h.printf("      %s\n", v.Source)
		}
		h.printf("   %s\n   evidence: %s\n", rateText(v), v.Evidence)
	}
	pick := 0
	if h.opts.Interactive && len(vs) > 1 {
		h.printf("\nWhich suspect should we look at? [1-%d, Enter for 1, q to stop]: ", len(vs))
		line, _ := h.in.ReadString('\n')
		line = strings.TrimSpace(line)
		if strings.EqualFold(line, "q") {
			return ErrStopped
		}
		var n int
		if _, err := fmt.Sscan(line, &n); err == nil && n >= 1 && n <= len(vs) {
			pick = n - 1
		}
	} else if err := h.pause(); err != nil {
		return err
	}
	h.res.Suspect = &vs[pick]
	return nil
}

func (h *hunter) lastFile() string {
	if h.series == nil || h.series.Len() == 0 {
		return ""
	}
	return filepath.Join(h.path("series"), h.series.Samples[h.series.Len()-1].File)
}

func (h *hunter) diff() {
	d, err := analyze.CompareSnapshots(h.base, h.last, analyze.DiffOptions{N: 5})
	if err != nil {
		h.printf("(no diff: %v)\n", err)
		return
	}
	report.Diff(h.opts.Out, h.base, h.last, d, report.HeapOptions{Width: h.opts.Width, Source: h.src.Line})
}

func (h *hunter) drill(ctx context.Context) error {
	v := h.res.Suspect
	if v == nil || h.last == nil {
		return nil
	}
	last := h.lastFile()
	focus := regexp.QuoteMeta(shortFunc(v.Function))
	switch {
	case v.Kind == verdict.Heap && v.Function == verdict.Unplaced:
		h.begin("Look at what grew",
			"the Go heap's exact total grows steadily, but the heap profile, which samples one allocation in so many bytes, has not caught the growing allocations yet: the diff shows what it did catch, and the walk of the live heap below names what keeps the growth alive without any sampling. A longer watch, or a finer sampling rate (--memprofilerate), lets the profile name the line",
			fmt.Sprintf("leakhunt diff %s %s -n 5", h.path("baseline.lhsnap"), last))
		h.diff()
	case v.Kind == verdict.Heap:
		h.begin("Drill into the allocation site",
			"see who calls the growing site, how much it added since the baseline, and the code itself",
			fmt.Sprintf("leakhunt top %s --by stack --focus '%s' -n 3", last, focus),
			fmt.Sprintf("leakhunt diff %s %s -n 5", h.path("baseline.lhsnap"), last))
		top, err := analyze.HeapTop(h.last, analyze.HeapOptions{By: analyze.ByStack, Focus: regexp.MustCompile(focus)}, 3)
		if err == nil {
			report.Top(h.opts.Out, h.last, top, report.HeapOptions{Width: h.opts.Width})
		}
		h.printf("\n")
		h.diff()
	case v.Kind == verdict.Goroutine:
		h.begin("Drill into the goroutine group",
			"see where the goroutines are blocked, how long, and which go statement started them",
			fmt.Sprintf("leakhunt stacks %s --filter '%s' --source", last, focus))
		groups := goroutines.Groups(h.last.Goroutines, goroutines.GroupOptions{Filter: regexp.MustCompile(focus)})
		if len(groups) > 3 {
			groups = groups[:3]
		}
		report.Stacks(h.opts.Out, h.last, groups, report.StacksOptions{Width: h.opts.Width, Source: h.src, Context: 2, Groups: len(groups)})
		if v.CreatedBy != nil {
			h.printf("\nThe go statement that starts them, %s:%d:\n", v.CreatedBy.File, v.CreatedBy.Line)
			h.source(v.CreatedBy.File, v.CreatedBy.Line)
		}
	case v.Kind == verdict.NonGoMemory:
		h.begin("Compare RSS with the Go runtime's memory",
			"the process grows outside the Go heap: the Go profiles cannot name the site, but the totals show the gap",
			"leakhunt stats "+last)
		report.Stats(h.opts.Out, analyze.Summarize(h.last), h.opts.Width)
	}
	if v.File != "" && v.Kind != verdict.NonGoMemory {
		h.printf("\nThe code at %s:%d:\n", v.File, v.Line)
		h.source(v.File, v.Line)
	}
	return h.pause()
}

func (h *hunter) source(file string, line int) {
	lines := h.src.Around(file, line, 3)
	if lines == nil {
		h.printf("  (source not readable here)\n")
		return
	}
	for _, l := range lines {
		mark := "  "
		if l.N == line {
			mark = "→ "
		}
		h.printf("%s%5d  %s\n", mark, l.N, l.Text)
	}
}

// shortFunc drops the package path: "github.com/x/y.(*T).m" → "y.(*T).m".
func shortFunc(fn string) string {
	if i := strings.LastIndexByte(fn, '/'); i >= 0 {
		return fn[i+1:]
	}
	return fn
}

func (h *hunter) explain(ctx context.Context) error {
	v := h.res.Suspect
	if v == nil {
		return nil
	}
	p := Explain(Evidence{Kind: string(v.Kind), Source: v.Source, State: v.State, Function: v.Function})
	h.res.Pattern = &p
	h.begin("What it likely is",
		"most leaks follow a handful of patterns; matching the site to one points at the fix")
	h.printf("Likely pattern: %s\n\n%s.\n", p.Name, capitalize(p.Why))
	if h.res.KeptBy != "" {
		h.printf("\nKept alive by %s.\n", h.res.KeptBy)
	}
	h.printf("\nUsual fix: %s.\n", p.Fix)
	return h.pause()
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func (h *hunter) report(ctx context.Context) error {
	if h.opts.Report == nil || h.series == nil || h.series.Len() == 0 {
		return nil
	}
	file := h.path("report.html")
	h.begin("Write the report",
		"one self-contained HTML file with the charts, the verdicts and the tables, to keep or to share",
		fmt.Sprintf("leakhunt report %s -o %s", h.path("series"), file))
	var snaps []*snapshot.Snapshot
	for _, smp := range h.series.Samples {
		s, err := snapshot.Load(filepath.Join(h.path("series"), smp.File))
		if err != nil {
			return err
		}
		snaps = append(snaps, s)
	}
	if err := h.opts.Report(snaps, h.res.Verdicts, file); err != nil {
		return err
	}
	h.res.Report = file
	h.printf("Wrote %s.\n", file)
	return nil
}

func (h *hunter) summary() {
	h.printf("\n━━ Done. To do this hunt again by hand:\n")
	for _, c := range h.res.Commands {
		h.printf("  %s\n", c)
	}
	if n := len(h.res.Verdicts); n > 0 {
		h.printf("\n%d leak(s) found: leakhunt exits with status 3, so scripts and CI can gate on it.\n", n)
	}
}
