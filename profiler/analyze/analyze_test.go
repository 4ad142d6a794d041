package analyze

import (
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

// heapOf builds a heap profile from stacks given as "func@file:line" frames,
// innermost first, with in-use and allocated values.
type alloc struct {
	stack                  []string
	inObj, inB, alObj, alB int64
}

func heapOf(allocs ...alloc) *profile.Profile {
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "alloc_objects", Unit: "count"}, {Type: "alloc_space", Unit: "bytes"},
			{Type: "inuse_objects", Unit: "count"}, {Type: "inuse_space", Unit: "bytes"}},
		PeriodType: &profile.ValueType{Type: "space", Unit: "bytes"}, Period: 524288,
	}
	funcs := map[string]*profile.Function{}
	locs := map[string]*profile.Location{}
	for _, a := range allocs {
		s := &profile.Sample{Value: []int64{a.alObj, a.alB, a.inObj, a.inB}}
		for _, fr := range a.stack {
			l, ok := locs[fr]
			if !ok {
				var fn, file string
				var line int64
				parseFrame(fr, &fn, &file, &line)
				f, ok := funcs[fn]
				if !ok {
					f = &profile.Function{ID: uint64(len(funcs) + 1), Name: fn, Filename: file}
					funcs[fn] = f
					p.Function = append(p.Function, f)
				}
				l = &profile.Location{ID: uint64(len(locs) + 1), Line: []profile.Line{{Function: f, Line: line}}}
				locs[fr] = l
				p.Location = append(p.Location, l)
			}
			s.Location = append(s.Location, l)
		}
		p.Sample = append(p.Sample, s)
	}
	return p
}

func parseFrame(s string, fn, file *string, line *int64) {
	re := regexp.MustCompile(`^(.*)@(.*):(\d+)$`)
	m := re.FindStringSubmatch(s)
	*fn, *file = m[1], m[2]
	var n int64
	for _, c := range m[3] {
		n = n*10 + int64(c-'0')
	}
	*line = n
}

var (
	cacheAdd  = "main.(*cache).add@/app/cache.go:22"
	handler   = "main.handler@/app/server.go:40"
	serveHTTP = "net/http.HandlerFunc.ServeHTTP@/go/net/http/server.go:2286"
	readBody  = "io.ReadAll@/go/io/io.go:712"
	logAppend = "main.logEvent@/app/log.go:9"
)

func appHeap() *profile.Profile {
	return heapOf(
		alloc{stack: []string{cacheAdd, handler, serveHTTP}, inObj: 100, inB: 6400, alObj: 300, alB: 19200},
		alloc{stack: []string{cacheAdd, "main.warm@/app/cache.go:50"}, inObj: 10, inB: 640, alObj: 10, alB: 640},
		alloc{stack: []string{readBody, handler, serveHTTP}, inObj: 2, inB: 8192, alObj: 1000, alB: 4096000},
		alloc{stack: []string{logAppend, handler, serveHTTP}, inObj: 50, inB: 800, alObj: 50, alB: 800},
		alloc{stack: []string{"main.tmp@/app/log.go:30"}, inObj: 0, inB: 0, alObj: 5, alB: 50},
	)
}

func TestHeapTop(t *testing.T) {
	tests := []struct {
		name      string
		opts      HeapOptions
		n         int
		want      []string // site strings in order
		wantSizes []int64
		wantKeys  int
	}{
		{name: "by line", want: []string{"/io/io.go:712 io.ReadAll", "/app/cache.go:22 main.(*cache).add", "/app/log.go:9 main.logEvent"},
			wantSizes: []int64{8192, 7040, 800}, wantKeys: 3},
		{name: "by file", opts: HeapOptions{By: ByFile}, want: []string{"/go/io/io.go", "/app/cache.go", "/app/log.go"}, wantSizes: []int64{8192, 7040, 800}, wantKeys: 3},
		{name: "by stack", opts: HeapOptions{By: ByStack}, n: 2,
			want:      []string{"io.ReadAll < main.handler < net/http.HandlerFunc.ServeHTTP", "main.(*cache).add < main.handler < net/http.HandlerFunc.ServeHTTP"},
			wantSizes: []int64{8192, 6400}, wantKeys: 4},
		{name: "objects", opts: HeapOptions{Sample: "inuse_objects", By: ByFunction}, want: []string{"main.(*cache).add", "main.logEvent", "io.ReadAll"},
			wantSizes: []int64{7040, 800, 8192}, wantKeys: 3},
		{name: "alloc space", opts: HeapOptions{Sample: "alloc_space", By: ByFunction}, n: 1, want: []string{"io.ReadAll"}, wantSizes: []int64{4096000}, wantKeys: 4},
		{name: "focus", opts: HeapOptions{Focus: regexp.MustCompile(`main\.warm`)}, want: []string{"/app/cache.go:22 main.(*cache).add"}, wantSizes: []int64{640}, wantKeys: 1},
		{name: "ignore", opts: HeapOptions{Ignore: regexp.MustCompile(`server\.go:40`)}, want: []string{"/app/cache.go:22 main.(*cache).add"}, wantSizes: []int64{640}, wantKeys: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			top, err := HeapTop(&snapshot.Snapshot{Heap: appHeap()}, tt.opts, tt.n)
			if err != nil {
				t.Fatal(err)
			}
			if top.Keys != tt.wantKeys {
				t.Errorf("keys = %d, want %d", top.Keys, tt.wantKeys)
			}
			if len(top.Stats) != len(tt.want) {
				t.Fatalf("got %d rows %+v, want %d", len(top.Stats), top.Stats, len(tt.want))
			}
			for i, st := range top.Stats {
				got := st.Site.String()
				if !sameSite(st.Site, tt.want[i]) {
					t.Errorf("row %d = %q, want %q", i, got, tt.want[i])
				}
				if st.Size != tt.wantSizes[i] {
					t.Errorf("row %d size = %d, want %d", i, st.Size, tt.wantSizes[i])
				}
			}
			if top.TotalSize != 6400+640+8192+800 && tt.opts.Sample == "" {
				t.Errorf("total = %d", top.TotalSize)
			}
		})
	}
}

// sameSite compares a site with its expected string form, where line sites
// are written "FILE-SUFFIX:LINE FUNC".
func sameSite(s Site, want string) bool {
	got := s.String()
	if len(got) >= len(want) && got[len(got)-len(want):] == want {
		return true
	}
	return got == want
}

func TestShare(t *testing.T) {
	top, err := HeapTop(&snapshot.Snapshot{Heap: appHeap()}, HeapOptions{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, st := range top.Stats {
		sum += st.Share
	}
	if sum < 0.9999 || sum > 1.0001 {
		t.Errorf("shares add up to %f, want 1", sum)
	}
}

func TestCompareSnapshots(t *testing.T) {
	old := &snapshot.Snapshot{Target: snapshot.Target{Program: "api"}, Capture: snapshot.Capture{Time: time.Unix(100, 0)}, Heap: appHeap(),
		Goroutines: []snapshot.Goroutine{{State: "chan send"}, {State: "IO wait"}},
		MemStats:   &snapshot.MemStats{HeapAlloc: 1000, NumGC: 1}}
	grown := heapOf(
		alloc{stack: []string{cacheAdd, handler, serveHTTP}, inObj: 400, inB: 25600, alObj: 900, alB: 57600},
		alloc{stack: []string{cacheAdd, "main.warm@/app/cache.go:50"}, inObj: 10, inB: 640, alObj: 10, alB: 640},
		alloc{stack: []string{readBody, handler, serveHTTP}, inObj: 1, inB: 4096, alObj: 2000, alB: 8192000},
		alloc{stack: []string{"main.newThing@/app/new.go:5"}, inObj: 1, inB: 100, alObj: 1, alB: 100},
	)
	new := &snapshot.Snapshot{Target: snapshot.Target{Program: "api"}, Capture: snapshot.Capture{Time: time.Unix(160, 0)}, Heap: grown,
		Goroutines: []snapshot.Goroutine{{State: "chan send"}, {State: "chan send"}, {State: "chan send"}, {State: "IO wait"}},
		MemStats:   &snapshot.MemStats{HeapAlloc: 5000, NumGC: 4}}
	d, err := CompareSnapshots(old, new, DiffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		fn              string
		size, sizeDiff  int64
		count, countDif int64
	}
	want := []row{
		{"main.(*cache).add", 26240, 19200, 410, 300},
		{"io.ReadAll", 4096, -4096, 1, -1},
		{"main.logEvent", 0, -800, 0, -50},
		{"main.newThing", 100, 100, 1, 1},
	}
	if len(d.Stats) != len(want) {
		t.Fatalf("got %d rows: %+v", len(d.Stats), d.Stats)
	}
	for i, w := range want {
		st := d.Stats[i]
		if st.Function != w.fn || st.Size != w.size || st.SizeDiff != w.sizeDiff || st.Count != w.count || st.CountDiff != w.countDif {
			t.Errorf("row %d = %s %d %+d %d %+d, want %+v", i, st.Function, st.Size, st.SizeDiff, st.Count, st.CountDiff, w)
		}
	}
	if d.Elapsed != time.Minute {
		t.Errorf("elapsed %s", d.Elapsed)
	}
	if d.Goroutines == nil || d.Goroutines.ByState[0] != (StateDiff{State: "chan send", Old: 1, New: 3}) {
		t.Errorf("goroutines %+v", d.Goroutines)
	}
	if d.MemStats[0].Name != "HeapAlloc" || d.MemStats[0].Old != 1000 || d.MemStats[0].New != 5000 {
		t.Errorf("memstats %+v", d.MemStats[0])
	}

	other := *new
	other.Target.Program = "worker"
	if _, err := CompareSnapshots(old, &other, DiffOptions{}); !errors.Is(err, ErrDifferentPrograms) {
		t.Errorf("different programs: err = %v", err)
	}
	if _, err := CompareSnapshots(old, &other, DiffOptions{Force: true}); err != nil {
		t.Errorf("different programs with Force: %v", err)
	}
	noHeap := *new
	noHeap.Heap = nil
	if _, err := CompareSnapshots(old, &noHeap, DiffOptions{}); !errors.Is(err, ErrNoHeap) {
		t.Errorf("one heap missing: err = %v", err)
	}
}

func TestSummarize(t *testing.T) {
	s := &snapshot.Snapshot{Heap: appHeap(),
		Goroutines: []snapshot.Goroutine{{State: "chan send", Wait: time.Minute, Leaked: true}, {State: "chan send", Wait: 3 * time.Minute}, {State: "running"}},
		MemStats:   &snapshot.MemStats{HeapAlloc: 1 << 20, HeapSys: 4 << 20, NumGC: 7, MaxRSS: 9 << 20},
		Process:    &snapshot.Process{RSS: 8 << 20, PeakRSS: 10 << 20}}
	st := Summarize(s)
	if st.Heap.InUse != 1<<20 || st.Heap.Peak != 4<<20 || st.Heap.NumGC != 7 {
		t.Errorf("heap %+v", st.Heap)
	}
	if st.Profile.InUseBytes != 6400+640+8192+800 || st.Profile.AllocObjects != 1365 {
		t.Errorf("profile %+v", st.Profile)
	}
	if st.Goroutines.Total != 3 || st.Goroutines.Leaked != 1 || st.Goroutines.ByState[0] != (StateCount{State: "chan send", Count: 2, Leaked: 1, MaxWait: 3 * time.Minute}) {
		t.Errorf("goroutines %+v", st.Goroutines)
	}
	if st.RSS != 8<<20 || st.PeakRSS != 10<<20 {
		t.Errorf("rss %d peak %d", st.RSS, st.PeakRSS)
	}
}

func TestParseKey(t *testing.T) {
	for in, want := range map[string]Key{"": ByLine, "line": ByLine, "traceback": ByStack, "filename": ByFile, "function": ByFunction} {
		if got, err := ParseKey(in); err != nil || got != want {
			t.Errorf("ParseKey(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseKey("colour"); err == nil {
		t.Error("ParseKey accepted colour")
	}
}
