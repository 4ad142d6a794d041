package report

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

// fixtureVerdicts are verdicts as leakhunt watch would give them for the
// fixture series, with text that needs escaping.
var fixtureVerdicts = []Verdict{
	{Kind: "heap", Function: "main.remember", File: "/opt/patient/main.go", Line: 29,
		Source: `retained = append(retained, make([]byte, n)) // LEAK-HEAP`, Rate: 1.6e6, Unit: "bytes/s", Confidence: 0.97,
		Evidence: "rose in 4 of 4 changes over 5 samples; <script>alert(1)</script> & more", Next: "leakhunt diff a.lhsnap b.lhsnap --focus 'main\\.remember'"},
	{Kind: "goroutine", Function: "main.forget.func1", File: "/opt/patient/main.go", Line: 36,
		Rate: 600, Unit: "goroutines/min", Confidence: 0.9, Evidence: "50 goroutines in state \"chan send\""},
}

func renderHTML(t *testing.T, snaps []*snapshot.Snapshot, opts HTMLOptions) string {
	t.Helper()
	var buf bytes.Buffer
	if err := HTML(&buf, snaps, opts); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestHTMLGolden(t *testing.T) {
	snaps, labels := loadSeries(t)
	got := renderHTML(t, snaps, HTMLOptions{Labels: labels, Verdicts: fixtureVerdicts, Tool: "leakhunt test",
		Generated: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)})
	golden(t, "report.html", []byte(got))

	// The same inputs give the same bytes.
	again := renderHTML(t, snaps, HTMLOptions{Labels: labels, Verdicts: fixtureVerdicts, Tool: "leakhunt test",
		Generated: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)})
	if again != got {
		t.Error("two renderings of the same input differ")
	}
}

func TestHTMLContent(t *testing.T) {
	snaps, labels := loadSeries(t)
	// Given out of order, the snapshots are shown in capture order.
	rev := []*snapshot.Snapshot{snaps[4], snaps[2], snaps[0], snaps[3], snaps[1]}
	revLabels := []string{labels[4], labels[2], labels[0], labels[3], labels[1]}
	got := renderHTML(t, rev, HTMLOptions{Labels: revLabels, Verdicts: fixtureVerdicts})
	if got != renderHTML(t, snaps, HTMLOptions{Labels: labels, Verdicts: fixtureVerdicts}) {
		t.Error("the report depends on the order the snapshots are given in")
	}
	for _, want := range []string{
		`id="chart-heap"`, `id="chart-rss"`, `id="chart-goroutines"`, `id="chart-sites"`,
		"main.remember", // the leaking site is charted and tops the tables
		"main.forget.func1",
		"&lt;script&gt;alert(1)&lt;/script&gt; &amp; more", // evidence escaped
		`default-src 'none'`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(got, "<script>alert(1)") {
		t.Error("verdict text is not escaped")
	}
	// Nothing is loaded from anywhere: no src or href attributes, no url().
	if m := regexp.MustCompile(`(?i)\b(src|href)\s*=|url\(|@import`).FindString(got); m != "" {
		t.Errorf("report refers to an outside resource: %q", m)
	}
	// Four charts: heap, RSS, goroutines, and up to five sites.
	if n := strings.Count(got, `<path class="line`); n < 4 {
		t.Errorf("%d chart lines, want at least 4", n)
	}
	if strings.Contains(got, `d=""`) {
		t.Error("a chart line has no points")
	}
	// The growing sites: main.remember first.
	i := strings.Index(got, `<table class="growing">`)
	if i < 0 {
		t.Fatal("no table of growing sites")
	}
	rows := strings.Split(got[i:strings.Index(got[i:], "</table>")+i], "<tr>")
	if len(rows) < 3 || !strings.Contains(rows[2], "main.remember") {
		t.Errorf("main.remember is not the first growing site")
	}
}

func TestHTMLOneSnapshot(t *testing.T) {
	snaps, _ := loadSeries(t)
	got := renderHTML(t, snaps[len(snaps)-1:], HTMLOptions{VerdictNote: "one snapshot: no verdicts"})
	for _, want := range []string{"there are no charts over time", "nothing to compare it with", "one snapshot: no verdicts", `<table class="top">`, `<details class="group">`} {
		if !strings.Contains(got, want) {
			t.Errorf("one-snapshot report lacks %q", want)
		}
	}
	if strings.Contains(got, `<svg class="chart"`) {
		t.Error("one-snapshot report has a chart")
	}
}

func TestHTMLNoSnapshots(t *testing.T) {
	var buf bytes.Buffer
	if err := HTML(&buf, nil, HTMLOptions{}); err == nil {
		t.Fatal("no error for no snapshots")
	}
}

func TestGroupRows(t *testing.T) {
	f := func(fn string, line int) snapshot.Frame {
		return snapshot.Frame{Function: fn, File: "/src/a.go", Line: line}
	}
	park := snapshot.Frame{Function: "runtime.gopark", File: "/usr/local/go/src/runtime/proc.go", Line: 460}
	gs := []snapshot.Goroutine{
		{ID: 1, State: "chan send", Wait: time.Minute, Frames: []snapshot.Frame{park, f("main.a", 1)}, CreatedBy: &snapshot.Frame{Function: "main.m", File: "/src/a.go", Line: 9}},
		{ID: 2, State: "chan send", Wait: 3 * time.Minute, Leaked: true, Frames: []snapshot.Frame{park, {Function: "main.a", File: "/src/a.go", Line: 1, Args: "0xc000012345"}}, CreatedBy: &snapshot.Frame{Function: "main.m", File: "/src/a.go", Line: 9}},
		{ID: 3, State: "chan receive", Frames: []snapshot.Frame{f("main.a", 1)}, CreatedBy: &snapshot.Frame{Function: "main.m", File: "/src/a.go", Line: 9}},
		{ID: 5, State: "running", Frames: []snapshot.Frame{f("main.main", 5)}},
	}
	got := renderHTML(t, []*snapshot.Snapshot{{Goroutines: gs}}, HTMLOptions{})
	for _, want := range []string{
		"4 goroutines in 3 groups",
		`<summary><span class="count">2×</span><span class="state">chan send, 1m–3m</span><code>main.a (src/a.go:1)</code> <span class="leaked">1 leaked</span></summary>`,
		"created by <code>main.m (/src/a.go:9)</code>",
		`<span class="count">1×</span><span class="state">running</span><code>main.main (src/a.go:5)</code>`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestTicks(t *testing.T) {
	tests := []struct {
		max  float64
		unit chartUnit
		want string
	}{
		{max: 37 << 20, unit: unitBytes, want: "0 B,10.0 MiB,20.0 MiB,30.0 MiB,40.0 MiB"},
		{max: 900, unit: unitBytes, want: "0 B,250 B,500 B,750 B,1000 B"},
		{max: 3, unit: unitCount, want: "0,1,2,3"},
		{max: 0, unit: unitCount, want: "0,1"},
		{max: 118, unit: unitCount, want: "0,50,100,150"},
	}
	for _, tt := range tests {
		ticks, top := niceTicks(tt.max, tt.unit)
		var labels []string
		for _, v := range ticks {
			labels = append(labels, tt.unit.format(v))
		}
		if got := strings.Join(labels, ","); got != tt.want || top < tt.max {
			t.Errorf("niceTicks(%v) = %s (top %v), want %s", tt.max, got, top, tt.want)
		}
	}
	for _, tt := range []struct {
		max  float64
		want string
	}{
		{6, "0s,1s,2s,3s,4s,5s,6s"},
		{7, "0s,2s,4s,6s"},
		{150, "0s,30s,1m,1m30s,2m,2m30s"},
		{7300, "0s,30m,1h,1h30m,2h"},
	} {
		ticks, _ := timeTicks(tt.max)
		var labels []string
		for _, v := range ticks {
			labels = append(labels, formatSpan(v))
		}
		if got := strings.Join(labels, ","); got != tt.want {
			t.Errorf("timeTicks(%v) = %s, want %s", tt.max, got, tt.want)
		}
	}
}
