package analyze

import (
	"sort"
	"time"

	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

// Stats is the one-screen summary of a snapshot: tracemalloc's
// get_traced_memory() and more.
type Stats struct {
	Program   string              `json:"program,omitempty"`
	PID       int                 `json:"pid,omitempty"`
	GoVersion string              `json:"go_version,omitempty"`
	Source    snapshot.SourceKind `json:"source"`
	Address   string              `json:"address,omitempty"`
	Time      time.Time           `json:"time"`

	// Heap is the runtime's view of the heap; nil without memory statistics.
	Heap *HeapStats `json:"heap,omitempty"`
	// Profile sums the heap profile: what the sampled allocation sites hold.
	Profile *ProfileStats `json:"profile,omitempty"`
	// Goroutines counts goroutines by state; nil without goroutines.
	Goroutines *GoroutineStats `json:"goroutines,omitempty"`
	// RSS and PeakRSS come from the operating system (or the runtime's
	// getrusage for PeakRSS); 0 when unknown.
	RSS     uint64   `json:"rss,omitempty"`
	PeakRSS uint64   `json:"peak_rss,omitempty"`
	Notes   []string `json:"notes,omitempty"`
}

// HeapStats is the runtime's account of the heap.
type HeapStats struct {
	// InUse is HeapAlloc: bytes of live objects and not yet swept dead ones.
	InUse   uint64 `json:"in_use"`
	Objects uint64 `json:"objects"`
	// Spans is HeapInuse: bytes in spans holding objects.
	Spans uint64 `json:"spans"`
	// Peak is HeapSys, the heap memory obtained from the OS: the runtime keeps
	// no peak of HeapAlloc, and HeapSys only grows (released pages stay counted).
	Peak       uint64  `json:"peak"`
	Released   uint64  `json:"released"`
	Sys        uint64  `json:"sys"`
	TotalAlloc uint64  `json:"total_alloc"`
	NextGC     uint64  `json:"next_gc"`
	NumGC      uint32  `json:"num_gc"`
	GCCPU      float64 `json:"gc_cpu_fraction"`
	// LastGC is when the last collection ended; zero when none ran.
	LastGC time.Time `json:"last_gc,omitempty"`
}

// ProfileStats sums a heap profile.
type ProfileStats struct {
	InUseBytes   int64 `json:"inuse_bytes"`
	InUseObjects int64 `json:"inuse_objects"`
	AllocBytes   int64 `json:"alloc_bytes"`
	AllocObjects int64 `json:"alloc_objects"`
	Samples      int   `json:"samples"`
	// Rate is the sampling period (runtime.MemProfileRate), 0 when unknown.
	Rate int64 `json:"rate"`
}

// GoroutineStats counts goroutines.
type GoroutineStats struct {
	Total int `json:"total"`
	// Leaked counts goroutines the runtime's leak detector marked (Go 1.27+).
	Leaked  int          `json:"leaked,omitempty"`
	ByState []StateCount `json:"by_state"`
}

// StateCount is the number of goroutines in one state, and the longest wait among them.
type StateCount struct {
	State   string        `json:"state"`
	Count   int           `json:"count"`
	Leaked  int           `json:"leaked,omitempty"`
	MaxWait time.Duration `json:"max_wait_ns,omitempty"`
}

// Summarize computes the summary of s.
func Summarize(s *snapshot.Snapshot) *Stats {
	st := &Stats{
		Program: s.Target.Program, PID: s.Target.PID, GoVersion: s.Target.GoVersion,
		Source: s.Capture.Source, Address: s.Capture.Address, Time: s.Capture.Time, Notes: s.Capture.Notes,
	}
	if m := s.MemStats; m != nil {
		st.Heap = &HeapStats{
			InUse: m.HeapAlloc, Objects: m.HeapObjects, Spans: m.HeapInuse, Peak: m.HeapSys,
			Released: m.HeapReleased, Sys: m.Sys, TotalAlloc: m.TotalAlloc, NextGC: m.NextGC,
			NumGC: m.NumGC, GCCPU: m.GCCPUFraction,
		}
		if m.LastGC > 0 {
			st.Heap.LastGC = time.Unix(0, int64(m.LastGC)).UTC()
		}
		st.PeakRSS = m.MaxRSS
	}
	if p := s.Heap; p != nil {
		ps := &ProfileStats{Samples: len(p.Sample), Rate: p.Period}
		idx := make(map[string]int)
		for i, t := range p.SampleType {
			idx[t.Type] = i
		}
		for _, smp := range p.Sample {
			get := func(name string) int64 {
				if i, ok := idx[name]; ok && i < len(smp.Value) {
					return smp.Value[i]
				}
				return 0
			}
			ps.InUseBytes += get("inuse_space")
			ps.InUseObjects += get("inuse_objects")
			ps.AllocBytes += get("alloc_space")
			ps.AllocObjects += get("alloc_objects")
		}
		st.Profile = ps
	}
	if s.HasGoroutines() {
		gs := &GoroutineStats{Total: len(s.Goroutines)}
		byState := make(map[string]*StateCount)
		for _, g := range s.Goroutines {
			state := g.State
			if state == "" {
				state = "unknown"
			}
			sc, ok := byState[state]
			if !ok {
				sc = &StateCount{State: state}
				byState[state] = sc
			}
			sc.Count++
			if g.Leaked {
				sc.Leaked++
				gs.Leaked++
			}
			sc.MaxWait = max(sc.MaxWait, g.Wait)
		}
		for _, sc := range byState {
			gs.ByState = append(gs.ByState, *sc)
		}
		sort.Slice(gs.ByState, func(i, j int) bool {
			a, b := gs.ByState[i], gs.ByState[j]
			if a.Count != b.Count {
				return a.Count > b.Count
			}
			return a.State < b.State
		})
		st.Goroutines = gs
	}
	if pr := s.Process; pr != nil {
		st.RSS = pr.RSS
		st.PeakRSS = max(st.PeakRSS, pr.PeakRSS)
	}
	return st
}
