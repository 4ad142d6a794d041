package report

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/leakhunt/leakhunt/profiler/analyze"
	"github.com/leakhunt/leakhunt/profiler/goroutines"
	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

// Verdict is one leak verdict as an HTML report shows it: what leaks, where,
// how fast, how sure and why. It carries the fields of leakhunt watch's
// verdicts (see the JSON schema of `leakhunt watch --json`) that a reader
// needs; callers convert their verdicts into it.
type Verdict struct {
	// Kind is "heap", "goroutine" or "non-go-memory".
	Kind     string `json:"kind"`
	Function string `json:"function"`
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
	// Source is the text of the site's line when known.
	Source string `json:"source,omitempty"`
	// Rate is the growth rate in Unit ("bytes/s" or "goroutines/min").
	Rate float64 `json:"rate"`
	Unit string  `json:"unit"`
	// Confidence is 0..1.
	Confidence float64 `json:"confidence"`
	// Evidence says in one line why this is a leak.
	Evidence string `json:"evidence"`
	// Next is the command to run to look closer.
	Next string `json:"next,omitempty"`
}

// HTMLOptions tune an HTML report. The zero value is a complete report with
// no verdicts.
type HTMLOptions struct {
	// Labels name the snapshots in the report's list of snapshots (their
	// file names, say), in the order they are given to HTML; optional.
	Labels []string
	// Verdicts are the leak verdicts to show, most important first.
	Verdicts []Verdict
	// VerdictNote, when set, is shown with the verdicts: why there are none,
	// or how they were reached.
	VerdictNote string
	// Notes are shown at the top of the report.
	Notes []string
	// Tool names the program that wrote the report ("leakhunt v0.3.0").
	Tool string
	// Generated is when the report was written; zero leaves it out, so a
	// report of the same snapshots is the same file.
	Generated time.Time
	// Source, when set, gives the source text shown under allocation sites.
	Source SourceLine
	// TopN is the number of rows of the top and diff tables (default 20).
	TopN int
	// Sites is the number of growing allocation sites charted (default 5).
	Sites int
	// Groups is the number of goroutine groups listed (default 30).
	Groups int
	// Force compares snapshots of different programs.
	Force bool
}

func (o *HTMLOptions) setDefaults() {
	if o.TopN <= 0 {
		o.TopN = 20
	}
	if o.Sites <= 0 {
		o.Sites = 5
	}
	if o.Groups <= 0 {
		o.Groups = 30
	}
}

//go:embed html.tmpl
var htmlTemplateText string

var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"bytes":       Bytes,
	"signedBytes": SignedBytes,
	"signed":      Signed,
	"percent":     Percent,
	"shortFile":   ShortFile,
	"sub":         func(a, b int) int64 { return int64(a - b) },
}).Parse(htmlTemplateText))

// HTML writes one self-contained HTML page about snaps: the program's Go heap,
// RSS and goroutine count over time and the allocation sites that grew most,
// as inline SVG charts; the leak verdicts; the top allocation sites of the
// last snapshot and the diff from the first to the last; and the last
// snapshot's goroutines grouped by stack. The page loads nothing from
// anywhere (its Content-Security-Policy forbids it); its two small inline
// scripts only record script errors on the page and check that the charts
// were laid out, for a reader or a test to see. Snapshots are shown in
// capture-time order. The output depends on nothing but its inputs.
func HTML(w io.Writer, snaps []*snapshot.Snapshot, opts HTMLOptions) error {
	if len(snaps) == 0 {
		return errors.New("no snapshots to report on")
	}
	opts.setDefaults()
	page, err := buildPage(snaps, opts)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := htmlTemplate.Execute(&buf, page); err != nil {
		return fmt.Errorf("render HTML report: %w", err)
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// htmlPage is everything the template shows, already formatted.
type htmlPage struct {
	Title     string
	Facts     []fact
	Notes     []string
	Snapshots []snapRow
	Summary   []summaryRow
	// OneSnapshot shows the summary as values, not as changes.
	OneSnapshot bool

	Verdicts    []verdictRow
	VerdictNote string

	Charts    []svgChart
	ChartNote string
	Growing   []growRow

	Top     *analyze.Top
	TopRows []siteRow
	TopNote string

	Diff         *analyze.Diff
	DiffHeadline string
	DiffRows     []siteRow
	DiffNote     string

	Groups     []groupRow
	GroupsLine string
	GroupsNote string
}

// fact is one line of the report's header.
type fact struct{ Name, Value string }

type snapRow struct {
	N          int
	Label      string
	Time       string
	Offset     string
	Heap       string
	RSS        string
	Goroutines string
}

type summaryRow struct {
	Name, First, Last, Change string
	Grew                      bool
}

type verdictRow struct {
	Verdict
	Where      string
	RateText   string
	Confidence string
}

type growRow struct {
	Index                     int
	Site                      string
	File                      string
	Source                    string
	First, Last, Change, Rate string
}

type siteRow struct {
	Site                    string
	File                    string
	Source                  string
	Size, Count, Share      string
	SizeChange, CountChange string
	Grew, Shrank            bool
}

type groupRow struct {
	Count     int
	Leaked    int
	State     string
	Wait      string
	Top       string
	CreatedBy string
	Frames    []frameRow
}

type frameRow struct {
	Function string
	Where    string
}

func buildPage(in []*snapshot.Snapshot, opts HTMLOptions) (*htmlPage, error) {
	order := make([]int, len(in))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return in[order[a]].Capture.Time.Before(in[order[b]].Capture.Time) })
	snaps := make([]*snapshot.Snapshot, len(in))
	labels := make([]string, len(in))
	for k, i := range order {
		snaps[k] = in[i]
		if i < len(opts.Labels) {
			labels[k] = opts.Labels[i]
		}
	}
	first, last := snaps[0], snaps[len(snaps)-1]
	p := &htmlPage{Notes: opts.Notes, VerdictNote: opts.VerdictNote}
	p.Title = "leakhunt report: " + programName(last)
	p.Facts = facts(first, last, len(snaps), opts)

	t0 := first.Capture.Time
	offset := func(s *snapshot.Snapshot) float64 {
		if t0.IsZero() || s.Capture.Time.IsZero() {
			return 0
		}
		return s.Capture.Time.Sub(t0).Seconds()
	}
	for i, s := range snaps {
		r := snapRow{N: i + 1, Label: labels[i], Time: "unknown", Offset: "+" + formatSpan(offset(s)),
			Heap: "—", RSS: "—", Goroutines: "—"}
		if !s.Capture.Time.IsZero() {
			r.Time = s.Capture.Time.UTC().Format("2006-01-02 15:04:05.000 UTC")
		}
		if s.MemStats != nil {
			r.Heap = UBytes(s.MemStats.HeapAlloc)
		}
		if s.Process != nil && s.Process.RSS > 0 {
			r.RSS = UBytes(s.Process.RSS)
		}
		if s.HasGoroutines() {
			r.Goroutines = strconv.Itoa(len(s.Goroutines))
		}
		p.Snapshots = append(p.Snapshots, r)
	}

	heaps, err := heapTables(snaps)
	if err != nil {
		return nil, err
	}
	p.Summary = summary(first, last, heaps[0], heaps[len(heaps)-1])
	p.OneSnapshot = len(snaps) == 1

	for _, v := range opts.Verdicts {
		p.Verdicts = append(p.Verdicts, verdictRow{Verdict: v, Where: where(v.Function, v.File, v.Line),
			RateText: rateText(v.Rate, v.Unit), Confidence: Percent(v.Confidence)})
	}

	xMax := offset(last)
	if len(snaps) < 2 {
		p.ChartNote = "This report has one snapshot, so there are no charts over time: give leakhunt report a series (leakhunt watch -o DIR) or several snapshots of the program."
	} else if xMax <= 0 {
		p.ChartNote = "The snapshots carry no capture times, so there are no charts over time."
	} else {
		p.Charts, p.Growing = charts(snaps, heaps, offset, xMax, opts)
		if len(p.Charts) == 0 {
			p.ChartNote = "No chart: no measure (memory statistics, RSS, goroutines, heap profile) is in two or more of the snapshots."
		}
	}

	if all := heaps[len(heaps)-1]; all != nil {
		top := *all // every line, largest first: cut to the table's rows
		if len(top.Stats) > opts.TopN {
			top.Stats = top.Stats[:opts.TopN]
		}
		p.Top = &top
		for _, st := range top.Stats {
			p.TopRows = append(p.TopRows, siteRow{Site: st.Function, File: fileLine(st.File, st.Line),
				Source: sourceOf(opts.Source, st.File, st.Line),
				Size:   Bytes(st.Size), Count: strconv.FormatInt(st.Count, 10), Share: Percent(st.Share)})
		}
	} else {
		p.TopNote = "The last snapshot holds no heap profile."
	}

	switch {
	case len(snaps) < 2:
		p.DiffNote = "One snapshot: nothing to compare it with."
	case !first.HasHeap() || !last.HasHeap():
		p.DiffNote = "The first and the last snapshot do not both hold a heap profile."
	default:
		d, err := analyze.CompareSnapshots(first, last, analyze.DiffOptions{HeapOptions: analyze.HeapOptions{By: analyze.ByLine}, N: opts.TopN, Force: opts.Force})
		if err != nil {
			return nil, fmt.Errorf("compare the first and the last snapshot: %w", err)
		}
		p.Diff = d
		p.DiffHeadline = fmt.Sprintf("in-use heap by line: %s → %s (%s); objects %d → %d (%s); showing %d of %d lines, largest change first",
			Bytes(d.OldSize), Bytes(d.NewSize), SignedBytes(d.NewSize-d.OldSize), d.OldCount, d.NewCount, Signed(d.NewCount-d.OldCount), len(d.Stats), d.Keys)
		for _, st := range d.Stats {
			p.DiffRows = append(p.DiffRows, siteRow{Site: st.Function, File: fileLine(st.File, st.Line),
				Source: sourceOf(opts.Source, st.File, st.Line),
				Size:   Bytes(st.Size), Count: strconv.FormatInt(st.Count, 10),
				SizeChange: SignedBytes(st.SizeDiff), CountChange: Signed(st.CountDiff), Grew: st.SizeDiff > 0, Shrank: st.SizeDiff < 0})
		}
	}

	if last.HasGoroutines() {
		// Grouped as `leakhunt stacks` groups them by default: same state,
		// same frames (not argument values), same creator; largest first.
		groups := goroutines.Groups(last.Goroutines, goroutines.GroupOptions{By: goroutines.ByStack, IDs: -1})
		p.GroupsLine = fmt.Sprintf("%s in %s (same state, same frames, same creator)",
			count(len(last.Goroutines), "goroutine", "goroutines"), count(len(groups), "group", "groups"))
		if len(groups) > opts.Groups {
			groups = groups[:opts.Groups]
			p.GroupsLine += fmt.Sprintf("; the %d largest shown", len(groups))
		}
		for i := range groups {
			p.Groups = append(p.Groups, groupRowOf(&groups[i]))
		}
	} else {
		p.GroupsNote = "The last snapshot holds no goroutines."
	}
	return p, nil
}

// heapTables groups every snapshot's heap profile by line, all rows; nil for
// a snapshot without a heap profile.
func heapTables(snaps []*snapshot.Snapshot) ([]*analyze.Top, error) {
	out := make([]*analyze.Top, len(snaps))
	for i, s := range snaps {
		if !s.HasHeap() {
			continue
		}
		t, err := analyze.HeapTop(s, analyze.HeapOptions{By: analyze.ByLine}, 0)
		if err != nil {
			return nil, fmt.Errorf("snapshot %d: %w", i+1, err)
		}
		out[i] = t
	}
	return out, nil
}

func programName(s *snapshot.Snapshot) string {
	switch {
	case s.Target.Program != "":
		return s.Target.Program
	case s.Capture.Address != "":
		return s.Capture.Address
	}
	return "unknown program"
}

func facts(first, last *snapshot.Snapshot, n int, opts HTMLOptions) []fact {
	var fs []fact
	add := func(name, value string) {
		if value != "" {
			fs = append(fs, fact{name, value})
		}
	}
	add("program", programName(last))
	if last.Target.Path != "" && last.Target.Path != last.Target.Program {
		add("path", last.Target.Path)
	}
	if last.Target.PID != 0 {
		add("pid", strconv.Itoa(last.Target.PID))
	}
	add("go", last.Target.GoVersion)
	add("host", last.Target.Host)
	if last.Capture.Source != "" {
		add("source", strings.TrimSpace(string(last.Capture.Source)+" "+last.Capture.Address))
	}
	span := fmt.Sprintf("%d", n)
	if n == 1 {
		span += " snapshot"
	} else {
		span += " snapshots"
	}
	if !first.Capture.Time.IsZero() {
		span += " from " + first.Capture.Time.UTC().Format("2006-01-02 15:04:05 UTC")
		if n > 1 && !last.Capture.Time.IsZero() {
			span += " over " + formatSpan(last.Capture.Time.Sub(first.Capture.Time).Seconds())
		}
	}
	add("snapshots", span)
	gen := opts.Tool
	if !opts.Generated.IsZero() {
		gen = strings.TrimSpace(gen + " at " + opts.Generated.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	add("written by", gen)
	return fs
}

func summary(first, last *snapshot.Snapshot, ft, lt *analyze.Top) []summaryRow {
	var rows []summaryRow
	bytesRow := func(name string, a, b uint64) {
		rows = append(rows, summaryRow{Name: name, First: UBytes(a), Last: UBytes(b),
			Change: SignedBytes(int64(b) - int64(a)), Grew: b > a})
	}
	if first.MemStats != nil && last.MemStats != nil {
		bytesRow("Go heap in use (HeapAlloc)", first.MemStats.HeapAlloc, last.MemStats.HeapAlloc)
		bytesRow("Go runtime memory (Sys − HeapReleased)", goMemory(first.MemStats), goMemory(last.MemStats))
	}
	if first.Process != nil && last.Process != nil && first.Process.RSS > 0 && last.Process.RSS > 0 {
		bytesRow("RSS", first.Process.RSS, last.Process.RSS)
	}
	if first.HasGoroutines() && last.HasGoroutines() {
		a, b := len(first.Goroutines), len(last.Goroutines)
		rows = append(rows, summaryRow{Name: "goroutines", First: strconv.Itoa(a), Last: strconv.Itoa(b),
			Change: Signed(int64(b - a)), Grew: b > a})
	}
	if ft != nil && lt != nil {
		bytesRow("heap profile in use (inuse_space)", uint64(ft.TotalSize), uint64(lt.TotalSize))
	}
	return rows
}

func goMemory(m *snapshot.MemStats) uint64 {
	if m.Sys > m.HeapReleased {
		return m.Sys - m.HeapReleased
	}
	return 0
}

func charts(snaps []*snapshot.Snapshot, heaps []*analyze.Top, offset func(*snapshot.Snapshot) float64, xMax float64, opts HTMLOptions) ([]svgChart, []growRow) {
	var out []svgChart
	one := func(name string, value func(*snapshot.Snapshot) (float64, bool)) lineSeries {
		ls := lineSeries{Name: name}
		gap := false
		for _, s := range snaps {
			v, ok := value(s)
			if !ok {
				gap = len(ls.Points) > 0
				continue
			}
			ls.Points = append(ls.Points, point{X: offset(s), Y: v})
			ls.Gap = append(ls.Gap, gap)
			gap = false
		}
		return ls
	}
	if heap := one("Go heap in use", func(s *snapshot.Snapshot) (float64, bool) {
		if s.MemStats == nil {
			return 0, false
		}
		return float64(s.MemStats.HeapAlloc), true
	}); len(heap.Points) > 1 {
		out = append(out, layoutChart("chart-heap", "Go heap in use", "runtime.MemStats.HeapAlloc: bytes of live and not yet collected heap objects", unitBytes, xMax, []lineSeries{heap}))
	}
	if rss := one("RSS", func(s *snapshot.Snapshot) (float64, bool) {
		if s.Process == nil || s.Process.RSS == 0 {
			return 0, false
		}
		return float64(s.Process.RSS), true
	}); len(rss.Points) > 1 {
		out = append(out, layoutChart("chart-rss", "Resident set size (RSS)", "what the operating system counts as the process's memory in RAM (VmRSS)", unitBytes, xMax, []lineSeries{rss}))
	}
	if gs := one("goroutines", func(s *snapshot.Snapshot) (float64, bool) {
		if !s.HasGoroutines() {
			return 0, false
		}
		return float64(len(s.Goroutines)), true
	}); len(gs.Points) > 1 {
		out = append(out, layoutChart("chart-goroutines", "Goroutines", "number of goroutines", unitCount, xMax, []lineSeries{gs}))
	}

	// The sites whose in-use bytes grew most from the first heap profile to the last.
	type siteKey struct {
		fn, file string
		line     int
	}
	var firstIdx, lastIdx = -1, -1
	for i, t := range heaps {
		if t != nil {
			if firstIdx < 0 {
				firstIdx = i
			}
			lastIdx = i
		}
	}
	if firstIdx < 0 || firstIdx == lastIdx {
		return out, nil
	}
	values := make(map[siteKey][]float64)
	var keys []siteKey
	for i, t := range heaps {
		if t == nil {
			continue
		}
		for _, st := range t.Stats {
			k := siteKey{st.Function, st.File, st.Line}
			v, ok := values[k]
			if !ok {
				v = make([]float64, len(heaps))
				keys = append(keys, k)
			}
			v[i] += float64(st.Size)
			values[k] = v
		}
	}
	growth := func(k siteKey) float64 { return values[k][lastIdx] - values[k][firstIdx] }
	sort.SliceStable(keys, func(i, j int) bool {
		gi, gj := growth(keys[i]), growth(keys[j])
		if gi != gj {
			return gi > gj
		}
		a, b := keys[i], keys[j]
		if a.fn != b.fn {
			return a.fn < b.fn
		}
		if a.file != b.file {
			return a.file < b.file
		}
		return a.line < b.line
	})
	var series []lineSeries
	var rows []growRow
	elapsed := offset(snaps[lastIdx]) - offset(snaps[firstIdx])
	for _, k := range keys {
		if len(series) == opts.Sites || growth(k) <= 0 {
			break
		}
		name := fmt.Sprintf("%s (%s)", k.fn, fileLine(ShortFile(k.file), k.line))
		ls := lineSeries{Name: name}
		for i, t := range heaps {
			if t == nil {
				continue
			}
			ls.Points = append(ls.Points, point{X: offset(snaps[i]), Y: values[k][i]})
			ls.Gap = append(ls.Gap, false)
		}
		series = append(series, ls)
		g := growth(k)
		r := growRow{Index: len(rows) % 6, Site: k.fn, File: fileLine(k.file, k.line), Source: sourceOf(opts.Source, k.file, k.line),
			First: Bytes(int64(values[k][firstIdx])), Last: Bytes(int64(values[k][lastIdx])), Change: SignedBytes(int64(g))}
		if elapsed > 0 {
			r.Rate = SignedBytes(int64(math.Round(g/elapsed))) + "/s"
		}
		rows = append(rows, r)
	}
	if len(series) > 0 {
		out = append(out, layoutChart("chart-sites", "Allocation sites that grew most", "in-use bytes by allocation site (line) in the heap profiles, sampled as the runtime samples them", unitBytes, xMax, series))
	}
	return out, rows
}

// count writes n with the noun in the right number: "1 group", "3 groups".
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func fileLine(file string, line int) string {
	if line <= 0 {
		return file
	}
	return file + ":" + strconv.Itoa(line)
}

func where(fn, file string, line int) string {
	if file == "" {
		return fn
	}
	return fmt.Sprintf("%s (%s)", fn, fileLine(file, line))
}

func sourceOf(src SourceLine, file string, line int) string {
	if src == nil || file == "" || line <= 0 {
		return ""
	}
	return src(file, line)
}

// rateText formats a verdict's growth rate in its unit.
func rateText(rate float64, unit string) string {
	switch unit {
	case "bytes/s":
		return SignedBytes(int64(math.Round(rate))) + "/s"
	case "goroutines/min":
		sign := ""
		if rate > 0 {
			sign = "+"
		}
		return sign + strconv.FormatFloat(rate, 'g', 3, 64) + " goroutines/min"
	}
	return strconv.FormatFloat(rate, 'g', 3, 64) + " " + unit
}
