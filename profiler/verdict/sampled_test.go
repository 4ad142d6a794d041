package verdict

import (
	"strings"
	"testing"
	"time"

	"github.com/leakhunt/leakhunt/profiler/watch"
)

// upTo is s cut to its samples within d of the first: what a watch had seen
// d into it.
func upTo(s *watch.Series, d time.Duration) *watch.Series {
	n := 0
	for n < s.Len() && s.Samples[n].Time.Sub(s.Samples[0].Time) <= d {
		n++
	}
	return s.Prefix(n)
}

// TestRealSeriesWithinAMinute judges the first minute of series captured
// from the leaky demos at their default rates, with the heap profile's
// allocation counts (scripts/accuracy.sh -save): each is named at a line its
// doc gives within 60 s. These are runs where the runtime sampled a leaked
// object in time; docs/accuracy.md has the runs where it did not. Where the
// rule of 2026-11-25 was slower on the same recording, the test asks for the
// current rule's time (with a few seconds to spare), so that a change that
// loses what one sampled step or RSS outside the Go runtime bought fails.
func TestRealSeriesWithinAMinute(t *testing.T) {
	tests := []struct {
		file   string
		kind   Kind
		at     []string
		within time.Duration
	}{
		{"counts/cache@20.json.gz", Heap, []string{"render:97", "page:67"}, 60 * time.Second},
		{"counts/context@10.json.gz", Heap, []string{"newRequest:53", "newRequest:56"}, 60 * time.Second},
		// Run H: one sampled page at 27 s (a rule without one-step naming
		// waited until 73 s); named as soon as the 40 s a heap verdict waits
		// for a warm-up's plateau are over.
		{"counts/cache-h@20.json.gz", Heap, []string{"render:97", "page:67"}, 41 * time.Second},
		// Run H: one sampled request body at 5 s (without one-step naming: 75 s).
		{"counts/context-h@10.json.gz", Heap, []string{"newRequest:53", "newRequest:56"}, 41 * time.Second},
		// One sampled event at 25 s (without one-step naming: a second, at 40 s).
		{"counts/eventlog@50.json.gz", Heap, []string{"handle:47", "handle:54"}, 41 * time.Second},
		// One sampled packet buffer at 32 s (without one-step naming: 60 s).
		{"counts/subslice@1.json.gz", Heap, []string{"readPacket:61", "handle:54"}, 41 * time.Second},
		// RSS outside the Go runtime at 32 s (RSS alone: 52 s), named once
		// the 40 s a non-Go verdict waits are over.
		{"counts/cgo@1.json.gz", NonGoMemory, nil, 42 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			s := upTo(loadReal(t, tt.file), tt.within)
			for _, v := range Analyze(s, Options{}) {
				if v.Kind != tt.kind {
					continue
				}
				if len(tt.at) == 0 {
					return
				}
				for _, at := range tt.at {
					if matchSite(v, at) {
						return
					}
				}
				t.Logf("got %s %s", v.Kind, v.Where())
			}
			t.Fatalf("no %s verdict at any of %v within %s", tt.kind, tt.at, tt.within)
		})
	}
}

// TestRealSeriesCountsNoLeak judges whole series of programs that do not
// leak, captured with allocation counts: no verdict at the end. (bounded
// warms up for 100 s at the rate and site of cache's leak; what happens
// during its warm-up is in docs/accuracy.md.)
func TestRealSeriesCountsNoLeak(t *testing.T) {
	for _, file := range []string{"counts/bounded@20.json.gz", "counts/cache-fixed@20.json.gz",
		"counts/eventlog-fixed@50.json.gz", "counts/cgo-fixed@1.json.gz", "counts/pool@2.json.gz", "counts/sawtooth@0.5.json.gz"} {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			for _, v := range Analyze(loadReal(t, file), Options{}) {
				t.Errorf("verdict on a program that does not leak: %s %s: %s", v.Kind, v.Where(), v.Evidence)
			}
		})
	}
}

// TestOneSampledStep is the rule for naming a slow leak's site on a single
// sampled allocation, on a real series of the subslice demo whose leaked
// packet buffers were sampled once in its first 41 s, while the Go heap's exact total
// grew steadily: the site is named only while the profile also shows that it
// keeps what it allocates, and only when the profile says so.
func TestOneSampledStep(t *testing.T) {
	const file, fn, line = "counts/subslice@1.json.gz", "main.readPacket", 61
	site := func(s *watch.Series) *watch.SiteSeries {
		for _, ss := range s.Sites() {
			if ss.Site.Function == fn && ss.Site.Line == line {
				return ss
			}
		}
		t.Fatalf("no site %s:%d in %s", fn, line, file)
		return nil
	}
	named := func(s *watch.Series) (Verdict, bool) {
		for _, v := range Analyze(s, Options{}) {
			if v.Kind == Heap && v.Function == fn && v.Line == line {
				return v, true
			}
		}
		return Verdict{}, false
	}
	s := upTo(loadReal(t, file), 41*time.Second)
	ss := site(s)
	rises := 0
	for i := 1; i < len(ss.Bytes); i++ {
		if ss.Bytes[i] > ss.Bytes[i-1] {
			rises++
		}
	}
	if rises != 1 {
		t.Fatalf("the fixture's site rose %d times in its first 41 s, want once", rises)
	}
	v, ok := named(s)
	if !ok {
		t.Fatalf("one sampled step of a site that keeps all it allocates, while the heap grows: not named")
	}
	if !strings.Contains(v.Evidence, "rose once") || !strings.Contains(v.Evidence, "kept 100%") {
		t.Errorf("evidence %q does not say it rests on one step of a site that keeps what it allocates", v.Evidence)
	}

	// The same site, had it freed most of what it allocated (churn, with
	// one object that happened to be alive at the last collections).
	churn := upTo(loadReal(t, file), 41*time.Second)
	cs := site(churn)
	for i := range cs.AllocBytes {
		cs.AllocBytes[i] *= 5
	}
	if v, ok := named(churn); ok {
		t.Errorf("a site keeping a fifth of what it allocated named on one sampled step: %s", v.Evidence)
	}

	// Without allocation counts one step is not enough.
	bare := upTo(loadReal(t, file), 41*time.Second)
	bs := site(bare)
	bs.AllocBytes, bs.AllocObjects = nil, nil
	if v, ok := named(bare); ok {
		t.Errorf("named on one sampled step without allocation counts: %s", v.Evidence)
	}
}

// TestNoVerdictInRuntime judges a real series of the worker demo, which
// leaks goroutines: the descriptors of the leaked goroutines are allocated
// by runtime.malg on the system stack, so their allocation stacks have no
// frame outside the runtime and the heap profile charges them to
// runtime.mallocgc. That is no line of the program: the goroutine verdict
// names the leak, and no heap verdict goes to the runtime.
func TestNoVerdictInRuntime(t *testing.T) {
	s := loadReal(t, "counts/worker@2.json.gz")
	var inRuntime *watch.SiteSeries
	for _, ss := range s.Sites() {
		if watch.InRuntime(ss.Site) && ss.Bytes[len(ss.Bytes)-1] >= 1<<20 {
			inRuntime = ss
		}
	}
	if inRuntime == nil {
		t.Fatal("the fixture has no runtime-only site holding 1 MiB at the end")
	}
	var goroutine bool
	for _, v := range Analyze(s, Options{}) {
		if v.Kind == Heap && watch.InRuntime(watch.Loc{Function: v.Function, File: v.File, Line: v.Line}) {
			t.Errorf("heap verdict in the runtime: %s: %s", v.Where(), v.Evidence)
		}
		goroutine = goroutine || (v.Kind == Goroutine && matchSite(v, "startHeartbeat:58"))
	}
	if !goroutine {
		t.Error("no goroutine verdict on the leaked heartbeats (created at main.go:58)")
	}
}
