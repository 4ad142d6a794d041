package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/leakhunt/leakhunt/profiler/snapshot"
	"github.com/leakhunt/leakhunt/profiler/verdict"
	"github.com/leakhunt/leakhunt/profiler/watch"
)

func TestReportFlags(t *testing.T) {
	tests := []struct {
		args    []string
		want    func(*ReportOptions) bool
		wantErr string
	}{
		{args: []string{"series"}, want: func(o *ReportOptions) bool {
			return len(o.Inputs) == 1 && o.Inputs[0] == "series" && o.Output == "report.html" && !o.Force && o.TopN == 20
		}},
		{args: []string{"a.lhsnap", "b.lhsnap", "-o", "r.html", "--force", "-n", "5"}, want: func(o *ReportOptions) bool {
			return strings.Join(o.Inputs, ",") == "a.lhsnap,b.lhsnap" && o.Output == "r.html" && o.Force && o.TopN == 5
		}},
		{args: []string{}, wantErr: "report takes a series directory or snapshot files"},
		{args: []string{"a", "-n", "0"}, wantErr: "-n must be 1 or more"},
		{args: []string{"a", "--nope"}, wantErr: "unknown flag: --nope"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got := parseFlags(t, NewCmdReport, tt.wantErr, tt.args...)
			if got == nil {
				return
			}
			if !tt.want(got) {
				t.Errorf("options %+v", got)
			}
		})
	}
}

func TestReportRun(t *testing.T) {
	dir := t.TempDir()
	// A second program: the last fixture snapshot, renamed.
	other, err := snapshot.Load(seriesLast)
	if err != nil {
		t.Fatal(err)
	}
	other.Target.Program, other.Target.Path = "other", "/opt/other/other"
	otherPath := filepath.Join(dir, "other.lhsnap")
	if err := other.Save(otherPath, false); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	run := func(args ...string) (string, string, error) {
		streams, out, errOut := testStreams()
		f := newFactory(streams)
		f.Now = func() time.Time { return now }
		err := execute(NewCmdReport(f, nil), args...)
		return out.String(), errOut.String(), err
	}

	out := filepath.Join(dir, "r.html")
	stdout, stderr, err := run(filepath.Dir(seriesLast), "-o", out)
	if err != nil {
		t.Fatal(err)
	}
	if stdout != out+"\n" || !strings.Contains(stderr, "5 snapshot(s) of patient, 0 leak verdict(s)") {
		t.Errorf("stdout %q, stderr %q", stdout, stderr)
	}
	html, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"leakhunt report: patient", "at 2026-11-25 12:00:00 UTC", "needs at least", `id="chart-sites"`, "0005-patient.lhsnap"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("report lacks %q", want)
		}
	}

	// Snapshots of different programs: refused, unless --force.
	_, _, err = run(seriesFirst, otherPath, "-o", filepath.Join(dir, "mixed.html"))
	if err == nil || !strings.Contains(err.Error(), "are snapshots of different programs (/opt/patient/patient and /opt/other/other): report on one program's snapshots, or pass --force") {
		t.Fatalf("err = %v, want the different-programs error", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "mixed.html")); err == nil {
		t.Error("a refused report left a file")
	}
	if _, _, err := run(seriesFirst, otherPath, "-o", filepath.Join(dir, "mixed.html"), "--force"); err != nil {
		t.Errorf("--force: %v", err)
	}
}

func TestReportVerdict(t *testing.T) {
	v := verdict.Verdict{Kind: verdict.Goroutine, Function: "main.f", File: "/src/main.go", Line: 7, Source: "ch <- 1",
		Rate: 12, Unit: verdict.GoroutinesPerMinute, Confidence: 0.9, Evidence: "rose", Next: "leakhunt stacks x",
		CreatedBy: &watch.Loc{Function: "main.g", File: "/src/main.go", Line: 3}}
	r := reportVerdict(v)
	if r.Kind != "goroutine" || r.Function != "main.f" || r.File != "/src/main.go" || r.Line != 7 || r.Source != "ch <- 1" ||
		r.Rate != 12 || r.Unit != "goroutines/min" || r.Confidence != 0.9 || r.Next != "leakhunt stacks x" ||
		r.Evidence != "rose; created at /src/main.go:3" {
		t.Errorf("converted verdict %+v", r)
	}
}
