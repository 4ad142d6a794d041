package report

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/leakhunt/leakhunt/profiler/goroutines"
	"github.com/leakhunt/leakhunt/profiler/snapshot"
	"github.com/leakhunt/leakhunt/profiler/srcfile"
)

// blockerSnapshot loads the real dump captured from ../goroutines/testdata/blocker
// and points its frames at that fixture's source in this checkout, so --source
// finds it wherever the repository lives.
// With a non-empty file, frames point there instead.
func blockerSnapshot(t *testing.T, file string) (*snapshot.Snapshot, string) {
	t.Helper()
	f, err := os.Open("../goroutines/testdata/blocker-debug2.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gs, err := goroutines.ParseDump(f)
	if err != nil {
		t.Fatal(err)
	}
	src := file
	if src == "" {
		if src, err = filepath.Abs("../goroutines/testdata/blocker/main.go"); err != nil {
			t.Fatal(err)
		}
	}
	fix := func(fr *snapshot.Frame) {
		if strings.HasSuffix(fr.File, "/testdata/blocker/main.go") {
			fr.File = src
		}
	}
	for i := range gs {
		gs[i].Frames = append([]snapshot.Frame(nil), gs[i].Frames...)
		for j := range gs[i].Frames {
			fix(&gs[i].Frames[j])
		}
		if c := gs[i].CreatedBy; c != nil {
			cc := *c
			fix(&cc)
			gs[i].CreatedBy = &cc
		}
	}
	s := &snapshot.Snapshot{
		Target:     snapshot.Target{Program: "blocker", PID: 4242},
		Capture:    snapshot.Capture{Source: snapshot.SourceHTTP, Time: time.Date(2026, 11, 25, 23, 34, 0, 0, time.UTC)},
		Goroutines: gs,
	}
	return s, src
}

func TestStacksGolden(t *testing.T) {
	s, src := blockerSnapshot(t, "")
	cut, _ := blockerSnapshot(t, "/src/blocker/main.go")
	withVars := func(gs []snapshot.Goroutine) []snapshot.Goroutine {
		// What a PID capture with Locals gives: the renderer shows it as is.
		out := make([]snapshot.Goroutine, len(gs))
		copy(out, gs)
		for i := range out {
			if len(out[i].Frames) > 0 && out[i].Frames[0].Function == "main.sender" {
				fr := append([]snapshot.Frame(nil), out[i].Frames...)
				fr[0].Vars = []snapshot.Var{
					{Name: "ch", Type: "chan int", Value: "chan int 0/0", Arg: true},
					{Name: "id", Type: "int", Value: "3", Arg: true},
					{Name: "note", Type: "string", Value: strings.Repeat("x", 300) + "\nsecond line"},
				}
				out[i].Frames = fr
			}
		}
		return out
	}
	tests := []struct {
		name  string
		gs    []snapshot.Goroutine
		group goroutines.GroupOptions
		n     int
		opts  StacksOptions
	}{
		{name: "stacks.txt"},
		{name: "stacks-source.txt", n: 3, opts: StacksOptions{Source: srcfile.NewCache()}},
		{name: "stacks-site.txt", group: goroutines.GroupOptions{By: goroutines.BySite, Filter: regexp.MustCompile(`main\.deep`)}, opts: StacksOptions{By: goroutines.BySite, Filter: `main\.deep`}},
		{name: "stacks-nolocals.txt", n: 2, opts: StacksOptions{Full: true, NoLocals: "none in an HTTP capture: locals need a PID or core target"}},
		{name: "stacks-full-cut.txt", gs: withVars(cut.Goroutines), n: 3, opts: StacksOptions{Full: true, NoLocals: "unused", Width: 72}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gs := tt.gs
			if gs == nil {
				gs = s.Goroutines
			}
			groups := goroutines.Groups(gs, tt.group)
			opts := tt.opts
			opts.Goroutines, opts.Groups = len(gs), len(groups)
			if tt.n > 0 {
				groups = groups[:tt.n]
			}
			var buf bytes.Buffer
			if err := Stacks(&buf, s, groups, opts); err != nil {
				t.Fatal(err)
			}
			got := strings.ReplaceAll(buf.String(), filepath.Dir(src), "$BLOCKER")
			golden(t, tt.name, []byte(got))
			if opts.Width > 0 {
				for _, l := range strings.Split(got, "\n") {
					if n := len([]rune(strings.ReplaceAll(l, "$BLOCKER", filepath.Dir(src)))); n > opts.Width {
						t.Errorf("line of %d runes, wider than %d: %q", n, opts.Width, l)
					}
				}
			}
		})
	}
}

func TestShortDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{5 * time.Minute, "5m"},
		{65 * time.Minute, "1h5m"},
		{2 * time.Hour, "2h"},
		{1500 * time.Millisecond, "2s"},
		{1234 * time.Microsecond, "1ms"},
	}
	for _, tt := range tests {
		if got := shortDuration(tt.d); got != tt.want {
			t.Errorf("shortDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
	if got := waitRange(time.Minute, 3*time.Minute); got != "1m–3m" {
		t.Errorf("waitRange = %q", got)
	}
}
