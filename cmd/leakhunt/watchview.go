package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/leakhunt/leakhunt/profiler/report"
	"github.com/leakhunt/leakhunt/profiler/verdict"
	"github.com/leakhunt/leakhunt/profiler/watch"
)

// watchView shows a watch as it goes: on a terminal the screen is redrawn
// after each sample; otherwise each sample appends a few plain lines. Leak
// verdicts are printed once, when they are first confirmed (found at two
// samples in a row), and all of them again at the end.
type watchView struct {
	w       io.Writer // the live view; nil shows nothing live
	final   io.Writer // the closing report
	tty     bool
	width   int
	n       int
	target  string
	dir     string
	planned int
	dur     time.Duration
	warmUp  time.Duration // --warm-up: heap growth must last this long

	last    map[string]bool // verdict keys found at the previous sample
	printed map[string]bool
	shown   []string // verdict lines printed so far (for the redraw)
	notes   []string
	// refs, with --refs, adds what the walks of the heap found.
	refs *watchRefs
}

func newWatchView(opts *WatchOptions, target, dir string) *watchView {
	v := &watchView{
		n: opts.N, target: target, dir: dir, dur: opts.Duration, warmUp: opts.WarmUp,
		planned: watch.Options{Interval: opts.Interval, Duration: opts.Duration}.Planned(),
		last:    map[string]bool{}, printed: map[string]bool{},
	}
	switch {
	case !opts.JSON:
		v.w, v.final, v.tty, v.width = opts.IO.Out, opts.IO.Out, opts.IO.OutTTY, opts.IO.Width
	case opts.IO.ErrTTY:
		v.w, v.tty = opts.IO.ErrOut, true
	}
	if v.final == nil {
		v.final = opts.IO.ErrOut
	}
	return v
}

// note records a status message (a failed sample).
func (v *watchView) note(msg string) {
	v.notes = append(v.notes, msg)
	if v.w != nil && !v.tty {
		fmt.Fprintln(v.w, "note: "+msg)
	}
}

func (v *watchView) sample(s *watch.Series, smp watch.Sample, vs []verdict.Verdict) {
	elapsed := smp.Time.Sub(s.Samples[0].Time)
	var fresh []string
	now := map[string]bool{}
	for _, vd := range vs {
		k := vd.Key()
		now[k] = true
		if v.last[k] && !v.printed[k] {
			v.printed[k] = true
			fresh = append(fresh, fmt.Sprintf("leak: %s %s%s %s, confidence %.2f [at +%s]",
				vd.Kind, vd.Where(), groupText(vd), rateText(vd), vd.Confidence, roundDur(elapsed)))
		}
	}
	v.last = now
	v.shown = append(v.shown, fresh...)
	if v.w == nil {
		return
	}
	var b strings.Builder
	left := max(0, v.dur-elapsed)
	status := fmt.Sprintf("[%d/%d +%s, %s left] %s", smp.Index, v.planned, roundDur(elapsed), roundDur(left), totals(s))
	if v.tty {
		fmt.Fprintf(&b, "leakhunt watch %s → %s\n%s\n", v.target, v.dir, status)
		v.growth(&b, s, "")
		if v.refs != nil {
			b.WriteString(v.refs.lines(""))
		}
		if len(v.shown) > 0 {
			b.WriteString("\nLeaks so far:\n")
			for _, l := range v.shown {
				b.WriteString("  " + l + "\n")
			}
		}
		for _, n := range v.notes {
			b.WriteString("note: " + n + "\n")
		}
		io.WriteString(v.w, "\x1b[H\x1b[2J")
		report.WriteCut(v.w, v.width, b.String())
		return
	}
	b.WriteString(status + "\n")
	v.growth(&b, s, "  ")
	if v.refs != nil && v.refs.lastIndex == smp.Index {
		b.WriteString(v.refs.lines("  "))
	}
	for _, l := range fresh {
		b.WriteString(l + "\n")
	}
	io.WriteString(v.w, b.String())
}

// totals is the one-line summary of the latest sample, with the change
// since the start and since the previous sample.
func totals(s *watch.Series) string {
	first, cur := s.Samples[0], s.Samples[len(s.Samples)-1]
	prev := cur
	if len(s.Samples) > 1 {
		prev = s.Samples[len(s.Samples)-2]
	}
	var parts []string
	heap := func(x watch.Sample) int64 {
		if x.HasMemStats {
			return int64(x.HeapAlloc)
		}
		return x.ProfileInuse
	}
	if cur.HasMemStats || cur.HasHeap {
		parts = append(parts, fmt.Sprintf("heap %s (%s, %s)", report.Bytes(heap(cur)),
			report.SignedBytes(heap(cur)-heap(first)), report.SignedBytes(heap(cur)-heap(prev))))
	}
	if cur.RSS > 0 {
		parts = append(parts, fmt.Sprintf("rss %s (%s, %s)", report.UBytes(cur.RSS),
			report.SignedBytes(int64(cur.RSS)-int64(first.RSS)), report.SignedBytes(int64(cur.RSS)-int64(prev.RSS))))
	}
	if cur.HasGoroutines {
		parts = append(parts, fmt.Sprintf("goroutines %d (%s, %s)", cur.Goroutines,
			report.Signed(int64(cur.Goroutines-first.Goroutines)), report.Signed(int64(cur.Goroutines-prev.Goroutines))))
	}
	return strings.Join(parts, " · ")
}

type growthRow struct {
	start, last, now int64
	what             string
}

// growth writes the n allocation sites and goroutine groups that grew most
// since the start, with their change since the previous sample.
func (v *watchView) growth(b *strings.Builder, s *watch.Series, indent string) {
	if v.n == 0 || s.Len() < 2 {
		return
	}
	k := s.Len() - 1
	var sites []growthRow
	for _, ss := range s.Sites() {
		if d := ss.Bytes[k] - ss.Bytes[0]; d > 0 {
			sites = append(sites, growthRow{d, ss.Bytes[k] - ss.Bytes[k-1], ss.Bytes[k],
				fmt.Sprintf("%s (%s:%d)", ss.Site.Function, report.ShortFile(ss.Site.File), ss.Site.Line)})
		}
	}
	var groups []growthRow
	for _, g := range s.Groups() {
		if d := g.Count[k] - g.Count[0]; d > 0 {
			what := fmt.Sprintf("%s (%s:%d)", g.Key.Top.Function, report.ShortFile(g.Key.Top.File), g.Key.Top.Line)
			if g.Key.State != "" {
				what += " " + g.Key.State
			}
			groups = append(groups, growthRow{int64(d), int64(g.Count[k] - g.Count[k-1]), int64(g.Count[k]), what})
		}
	}
	for _, rows := range [][]growthRow{sites, groups} {
		sort.Slice(rows, func(i, j int) bool {
			if rows[i].start != rows[j].start {
				return rows[i].start > rows[j].start
			}
			return rows[i].what < rows[j].what
		})
	}
	if len(sites) > v.n {
		sites = sites[:v.n]
	}
	if len(groups) > v.n {
		groups = groups[:v.n]
	}
	if v.tty {
		if len(sites) > 0 {
			fmt.Fprintf(b, "\nAllocation sites that grew (in use: since start, since last, now):\n")
		}
		for _, r := range sites {
			fmt.Fprintf(b, "  %10s %10s %10s  %s\n", report.SignedBytes(r.start), report.SignedBytes(r.last), report.Bytes(r.now), r.what)
		}
		if len(groups) > 0 {
			fmt.Fprintf(b, "\nGoroutine groups that grew (since start, since last, now):\n")
		}
		for _, r := range groups {
			fmt.Fprintf(b, "  %6s %6s %6d  %s\n", report.Signed(r.start), report.Signed(r.last), r.now, r.what)
		}
		return
	}
	for _, r := range sites {
		fmt.Fprintf(b, "%sheap %s (%s) now %s %s\n", indent, report.SignedBytes(r.start), report.SignedBytes(r.last), report.Bytes(r.now), r.what)
	}
	for _, r := range groups {
		fmt.Fprintf(b, "%sgoroutines %s (%s) now %d %s\n", indent, report.Signed(r.start), report.Signed(r.last), r.now, r.what)
	}
}

// end writes the closing report: how the watch went and every verdict.
func (v *watchView) end(res *watch.Result, final []verdict.Verdict) {
	s := res.Series
	prog := s.Target.Program
	if prog == "" {
		prog = v.target
	}
	if s.Target.PID > 0 {
		prog += fmt.Sprintf(" (pid %d)", s.Target.PID)
	}
	w := v.final
	if v.tty && v.w == w {
		fmt.Fprintln(w)
	}
	how := string(res.Stop)
	if res.Err != nil {
		how += ": " + strings.TrimPrefix(errorLine(res.Err), "leakhunt: ")
	}
	fmt.Fprintf(w, "watched %s for %s: %d of %d samples in %s (%s)\n", prog, roundDur(s.Duration()), s.Len(), res.Planned, v.dir, how)
	finalKeys := map[string]bool{}
	for _, vd := range final {
		finalKeys[vd.Key()] = true
	}
	var cleared []string
	for k := range v.printed {
		if !finalKeys[k] {
			cleared = append(cleared, k)
		}
	}
	sort.Strings(cleared)
	if len(final) == 0 {
		fmt.Fprintln(w, "no leak found")
		if d := s.Duration(); v.warmUp > 0 && d < v.warmUp {
			fmt.Fprintf(w, "(the watch lasted %s: heap growth is called a leak once it has lasted --warm-up %s, so that a cache warming up can show its plateau first; watch longer, or pass --warm-up 0)\n", roundDur(d), v.warmUp)
		}
	} else {
		fmt.Fprintf(w, "%d leak(s):\n", len(final))
	}
	var b strings.Builder
	for _, vd := range final {
		fmt.Fprintf(&b, "%s  %s%s  %s  confidence %.2f\n", vd.Kind, vd.Where(), groupText(vd), rateText(vd), vd.Confidence)
		if vd.Source != "" {
			fmt.Fprintf(&b, "    %s\n", vd.Source)
		}
		fmt.Fprintf(&b, "    evidence: %s\n", vd.Evidence)
		if vd.Next != "" {
			fmt.Fprintf(&b, "    next: %s\n", vd.Next)
		}
	}
	named := false
	for _, vd := range final {
		named = named || vd.Kind == verdict.Heap && vd.Function != verdict.Unplaced
	}
	for _, k := range cleared {
		if named && strings.HasPrefix(k, string(verdict.Heap)+" "+verdict.Unplaced) {
			fmt.Fprintf(&b, "superseded: %s (reported during the watch; the heap verdicts above name the sites since)\n", k)
			continue
		}
		fmt.Fprintf(&b, "cleared: %s (reported during the watch; its growth no longer passes the rule at the end)\n", k)
	}
	report.WriteCut(w, 0, b.String())
	if v.refs != nil {
		v.refs.end(w, v.width)
	}
}

// groupText says which goroutines a goroutine verdict is about: their state
// and the go statement that created them.
func groupText(vd verdict.Verdict) string {
	var s string
	if vd.State != "" {
		s += " [" + vd.State + "]"
	}
	if c := vd.CreatedBy; c != nil {
		s += fmt.Sprintf(" created by %s (%s:%d)", c.Function, c.File, c.Line)
	}
	return s
}

func rateText(vd verdict.Verdict) string {
	if vd.Unit == verdict.GoroutinesPerMinute {
		return fmt.Sprintf("+%.3g goroutines/min", vd.Rate)
	}
	return "+" + report.Bytes(int64(math.Round(vd.Rate))) + "/s"
}

func roundDur(d time.Duration) time.Duration {
	if d >= 10*time.Second {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}
