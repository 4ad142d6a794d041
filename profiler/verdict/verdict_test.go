package verdict

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/leakhunt/leakhunt/profiler/snapshot"
	"github.com/leakhunt/leakhunt/profiler/watch"
)

const goroot = "/usr/local/go/src/"

// frame is a stack frame of a synthetic program: runtime and library frames
// live under goroot, the program's own in /app.
type frame struct {
	fn, file string
	line     int
}

var (
	mallocgc   = frame{"runtime.mallocgc", goroot + "runtime/malloc.go", 1000}
	sprintf    = frame{"fmt.Sprintf", goroot + "fmt/print.go", 239}
	leakSite   = frame{"main.remember", "/app/main.go", 22}
	churnSite  = frame{"main.handle", "/app/main.go", 40}
	mainMain   = frame{"main.main", "/app/main.go", 10}
	gopark     = frame{"runtime.gopark", goroot + "runtime/proc.go", 435}
	chansend   = frame{"runtime.chansend1", goroot + "runtime/chan.go", 161}
	workerSend = frame{"main.lookup", "/app/main.go", 50}
	poolRecv   = frame{"main.worker", "/app/main.go", 70}
	goStmt     = frame{"main.handle", "/app/main.go", 45}
	poolStart  = frame{"main.startPool", "/app/main.go", 65}
)

// state is one moment of the synthetic program.
type state struct {
	heap       map[*[]frame]int64 // in-use bytes per allocation stack
	heapAlloc  uint64
	goMemory   uint64
	rss        uint64
	leakedGs   int // goroutines blocked in main.lookup's send
	idleWorker int
}

var (
	leakStack  = []frame{mallocgc, sprintf, leakSite, mainMain}
	churnStack = []frame{mallocgc, churnSite, mainMain}
)

// snapshotOf builds a real snapshot (a pprof heap profile, goroutines,
// memory statistics) of st at time t.
func snapshotOf(t time.Time, gc uint32, st state) *snapshot.Snapshot {
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "inuse_objects", Unit: "count"}, {Type: "inuse_space", Unit: "bytes"}},
		PeriodType: &profile.ValueType{Type: "space", Unit: "bytes"}, Period: 512 * 1024,
	}
	funcs := map[string]*profile.Function{}
	loc := func(f frame) *profile.Location {
		fn, ok := funcs[f.fn]
		if !ok {
			fn = &profile.Function{ID: uint64(len(funcs) + 1), Name: f.fn, Filename: f.file}
			funcs[f.fn] = fn
			p.Function = append(p.Function, fn)
		}
		l := &profile.Location{ID: uint64(len(p.Location) + 1), Line: []profile.Line{{Function: fn, Line: int64(f.line)}}}
		p.Location = append(p.Location, l)
		return l
	}
	for stack, b := range st.heap {
		var locs []*profile.Location
		for _, f := range *stack {
			locs = append(locs, loc(f))
		}
		p.Sample = append(p.Sample, &profile.Sample{Location: locs, Value: []int64{b / 64, b}})
	}
	s := &snapshot.Snapshot{
		Target:   snapshot.Target{Program: "app", PID: 42},
		Capture:  snapshot.Capture{Source: snapshot.SourceHTTP, Time: t},
		Heap:     p,
		MemStats: &snapshot.MemStats{HeapAlloc: st.heapAlloc, HeapInuse: st.heapAlloc, Sys: st.goMemory, NumGC: gc},
		Process:  &snapshot.Process{RSS: st.rss},
	}
	fr := func(f frame) snapshot.Frame { return snapshot.Frame{Function: f.fn, File: f.file, Line: f.line} }
	s.Goroutines = append(s.Goroutines, snapshot.Goroutine{ID: 1, State: "running", Frames: []snapshot.Frame{fr(mainMain)}})
	for i := range st.leakedGs {
		c := fr(goStmt)
		s.Goroutines = append(s.Goroutines, snapshot.Goroutine{ID: int64(100 + i), State: "chan send",
			Frames: []snapshot.Frame{fr(gopark), fr(chansend), fr(workerSend)}, CreatedBy: &c})
	}
	for i := range st.idleWorker {
		c := fr(poolStart)
		s.Goroutines = append(s.Goroutines, snapshot.Goroutine{ID: int64(10 + i), State: "chan receive",
			Frames: []snapshot.Frame{fr(gopark), fr(poolRecv)}, CreatedBy: &c})
	}
	return s
}

// program plays a synthetic program for n one-second samples.
func program(n int, step func(i int, r *rand.Rand) state) *watch.Series {
	r := rand.New(rand.NewPCG(3, 4))
	s := watch.NewSeries()
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for i := range n {
		s.Add(snapshotOf(t0.Add(time.Duration(i)*time.Second), uint32(10+i), step(i, r)))
	}
	return s
}

func TestAnalyze(t *testing.T) {
	type want struct {
		kind     Kind
		function string
		line     int
	}
	tests := []struct {
		name string
		step func(i int, r *rand.Rand) state
		want []want
	}{
		{"heap leak through fmt.Sprintf, churn beside it, idle pool", func(i int, r *rand.Rand) state {
			leak := int64(64<<10) * int64(i)
			churn := int64(r.IntN(4)) << 20
			return state{
				heap:      map[*[]frame]int64{&leakStack: leak, &churnStack: churn},
				heapAlloc: uint64(8<<20 + leak + churn), goMemory: 40<<20 + uint64(leak), rss: 30<<20 + uint64(leak),
				idleWorker: 16,
			}
		}, []want{{Heap, "main.remember", 22}}},
		{"goroutine leak: one more blocked sender every second", func(i int, r *rand.Rand) state {
			return state{heap: map[*[]frame]int64{&churnStack: 1 << 20}, heapAlloc: 8 << 20, goMemory: 40 << 20, rss: 30 << 20,
				leakedGs: i, idleWorker: 16}
		}, []want{{Goroutine, "main.lookup", 50}}},
		{"RSS grows, the Go runtime's memory does not", func(i int, r *rand.Rand) state {
			return state{heap: map[*[]frame]int64{&churnStack: 1 << 20}, heapAlloc: 8 << 20, goMemory: 40 << 20,
				rss: 30<<20 + uint64(i)*(64<<10) + uint64(r.IntN(100))<<10}
		}, []want{{NonGoMemory, "", 0}}},
		{"RSS grows outside the Go runtime, hidden in the runtime's own page noise", func(i int, r *rand.Rand) state {
			pages := uint64(r.IntN(4)) << 20 // the runtime's pages come and go, in RSS and in Sys alike
			return state{heap: map[*[]frame]int64{&churnStack: 1 << 20}, heapAlloc: 8 << 20, goMemory: 40<<20 + pages,
				rss: 30<<20 + uint64(i)*(64<<10) + pages}
		}, []want{{NonGoMemory, "", 0}}},
		{"a young program: RSS jumps as it starts, then the runtime returns pages", func(i int, r *rand.Rand) state {
			start := uint64(min(i, 20)) * (200 << 10)
			return state{heap: map[*[]frame]int64{&churnStack: 1 << 20}, heapAlloc: 8 << 20,
				goMemory: 40<<20 + 5<<20 - uint64(i)*(64<<10), rss: 30<<20 + start + uint64(r.IntN(512))<<10}
		}, nil},
		// No site's sampled bytes move (none of the leaked objects was
		// sampled): a heap verdict that names no site, and no non-Go memory.
		{"RSS grows with the Go heap: not non-Go memory", func(i int, r *rand.Rand) state {
			g := uint64(i) * (64 << 10)
			return state{heap: map[*[]frame]int64{&churnStack: 1 << 20}, heapAlloc: 8<<20 + g, goMemory: 40<<20 + g, rss: 30<<20 + g}
		}, []want{{Heap, Unplaced, 0}}},
		{"slow leak: exact total grows, the sampled site steps twice", func(i int, r *rand.Rand) state {
			site := int64(512<<10) * int64(i/20) // sampled: one 512 KiB step at 20 s, another at 40 s
			return state{heap: map[*[]frame]int64{&leakStack: site, &churnStack: 1 << 20},
				heapAlloc: 8<<20 + uint64(i)*(34<<10) + uint64(r.IntN(64))<<10, goMemory: 40 << 20, rss: 30 << 20}
		}, []want{{Heap, "main.remember", 22}}},
		{"nothing grows: an idle pool, churn, jitter", func(i int, r *rand.Rand) state {
			churn := int64(r.IntN(8)) << 20
			return state{heap: map[*[]frame]int64{&churnStack: churn, &leakStack: 1 << 20}, heapAlloc: uint64(8<<20 + churn),
				goMemory: 40 << 20, rss: 30<<20 + uint64(r.IntN(4))<<20, idleWorker: 16}
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vs := Analyze(program(60, tt.step), Options{})
			if len(vs) != len(tt.want) {
				for _, v := range vs {
					t.Logf("%s %s: %s", v.Kind, v.Where(), v.Evidence)
				}
				t.Fatalf("%d verdicts, want %d", len(vs), len(tt.want))
			}
			for i, w := range tt.want {
				v := vs[i]
				if v.Kind != w.kind || (w.function != "" && (v.Function != w.function || v.Line != w.line)) {
					t.Errorf("verdict %s %s, want %s %s:%d", v.Kind, v.Where(), w.kind, w.function, w.line)
				}
				if v.Confidence <= 0 || v.Confidence > 1 || v.Evidence == "" || math.IsNaN(v.Rate) || v.Rate <= 0 {
					t.Errorf("verdict %+v lacks confidence, evidence or rate", v)
				}
				if strings.Contains(tt.name, "outside the Go runtime") && !strings.HasPrefix(v.Evidence, "RSS outside the Go runtime") {
					t.Errorf("non-Go memory named without RSS outside the Go runtime: %s", v.Evidence)
				}
				if strings.HasPrefix(tt.name, "slow leak") && !strings.Contains(v.Evidence, "in the sampled heap profile") {
					t.Errorf("slow leak named without the total's evidence: %s", v.Evidence)
				}
				if v.Kind == Goroutine && (v.CreatedBy == nil || v.CreatedBy.Line != goStmt.line || v.State != "chan send") {
					t.Errorf("goroutine verdict created by %+v in state %q", v.CreatedBy, v.State)
				}
				if v.Kind == Heap && v.Function == Unplaced && (v.File != "" || !strings.Contains(v.Evidence, "not sampled yet") || !strings.Contains(v.Next, "--refs")) {
					t.Errorf("a heap verdict without a site names %s:%d, says %q, next %q", v.File, v.Line, v.Evidence, v.Next)
				}
				if v.Kind == Heap && v.Function != Unplaced && (v.Alloc == nil || !strings.HasPrefix(v.Alloc.Function, "runtime.")) {
					t.Errorf("heap verdict alloc %+v, want the runtime frame", v.Alloc)
				}
			}
		})
	}
}
