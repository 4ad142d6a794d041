// Package snapshot is leakhunt's data model: one moment of a Go program's memory
// and goroutines, as captured from a pprof endpoint, a running process, a core
// file or a saved profile. It encodes to one file and decodes back, and it knows
// nothing of where a snapshot came from or how it will be analysed.
package snapshot

import (
	"fmt"
	"time"

	"github.com/google/pprof/profile"
)

// Snapshot is everything leakhunt knows about a program at one moment.
// Any part may be missing: a raw heap profile has no goroutines, a goroutine
// dump has no heap. Nil (or an empty Parts) says a part was not captured.
type Snapshot struct {
	Target  Target  `json:"target"`
	Capture Capture `json:"capture"`
	// Heap is the heap profile: sample types alloc_objects, alloc_space,
	// inuse_objects, inuse_space as runtime/pprof writes them, values scaled.
	Heap *profile.Profile `json:"-"`
	// HeapData is the heap profile still encoded (protobuf, gzipped or not)
	// when a lazy loader (DecodeLazy, source.Options.LazyHeap) kept it that
	// way for a caller that only aggregates it: analyze.HeapTop and
	// analyze.CompareSnapshots read it without building Heap, which for a
	// large profile saves most of the time and memory. Heap is nil then
	// until HeapProfile decodes it. Use HasHeap to ask whether either is set.
	HeapData []byte `json:"-"`
	// Goroutines lists every goroutine when Parts.Goroutines is set.
	Goroutines []Goroutine `json:"-"`
	// MemStats holds the runtime's memory statistics when known.
	MemStats *MemStats `json:"memstats,omitempty"`
	// Process holds what the operating system says of the process when known.
	Process *Process `json:"process,omitempty"`
}

// HasHeap reports whether the snapshot carries a heap profile.
func (s *Snapshot) HasHeap() bool { return s.Heap != nil || len(s.HeapData) > 0 }

// HeapProfile returns the heap profile, decoding HeapData on first use (and
// then dropping it); nil when the snapshot has no heap profile.
func (s *Snapshot) HeapProfile() (*profile.Profile, error) {
	if s.Heap == nil && len(s.HeapData) > 0 {
		p, err := profile.ParseData(s.HeapData)
		if err != nil {
			if s.Capture.Source == SourceFile && s.Capture.Address != "" {
				return nil, fmt.Errorf("%s: damaged heap profile: %w", s.Capture.Address, err)
			}
			return nil, fmt.Errorf("damaged heap profile: %w", err)
		}
		s.Heap, s.HeapData = p, nil
	}
	return s.Heap, nil
}

// HasGoroutines reports whether the snapshot carries the goroutine list.
// A program always has at least one goroutine, so an empty list means none was captured.
func (s *Snapshot) HasGoroutines() bool { return len(s.Goroutines) > 0 }

// Target identifies the program a snapshot was taken of.
type Target struct {
	// Program is the executable's base name ("api-server").
	Program string `json:"program,omitempty"`
	// Path is the executable's path on the machine that ran it.
	Path string   `json:"path,omitempty"`
	Args []string `json:"args,omitempty"`
	// PID is 0 when unknown.
	PID       int    `json:"pid,omitempty"`
	GoVersion string `json:"go_version,omitempty"`
	// BuildInfo is the text form of runtime/debug.BuildInfo (debug.ParseBuildInfo reads it back).
	BuildInfo string `json:"build_info,omitempty"`
	// Host is the machine's host name when known.
	Host string `json:"host,omitempty"`
}

// Capture says how a snapshot was taken.
type Capture struct {
	// Source is the kind of target: "http", "pid", "core" or "file".
	Source SourceKind `json:"source"`
	// Address is what was read: a URL, a PID, a core or profile path.
	Address string    `json:"address,omitempty"`
	Time    time.Time `json:"time"`
	// Duration is how long the whole capture took.
	Duration time.Duration `json:"duration_ns"`
	// Stopped is how long the target process was stopped (PID and core-dump
	// captures); zero when it was never stopped.
	Stopped time.Duration `json:"stopped_ns,omitempty"`
	// MemProfileRate is the target's runtime.MemProfileRate when known: 0 means
	// the memory profiler was off and the heap profile is (nearly) empty.
	MemProfileRate *int `json:"mem_profile_rate,omitempty"`
	// LeakCheck is set when the runtime's goroutine leak detector ran before
	// the goroutines were read, so Goroutine.Leaked is meaningful.
	LeakCheck bool `json:"leak_check,omitempty"`
	// Tool names the program that wrote the snapshot ("leakhunt v0.1.0").
	Tool string `json:"tool,omitempty"`
	// Notes are warnings a reader should see ("goroutine dump truncated").
	Notes []string `json:"notes,omitempty"`
}

// SourceKind names where a snapshot came from.
type SourceKind string

// The kinds of source a snapshot can come from.
const (
	SourceHTTP SourceKind = "http"
	SourcePID  SourceKind = "pid"
	SourceCore SourceKind = "core"
	SourceFile SourceKind = "file"
)

// Goroutine is one goroutine at the moment of capture.
type Goroutine struct {
	// ID is the goroutine's ID; 0 when the source does not give IDs (a
	// debug=1 goroutine profile only counts identical stacks).
	ID int64 `json:"id"`
	// State is the wait reason for a waiting goroutine ("chan receive",
	// "select", "sync.Mutex.Lock", "IO wait", "sleep") or its status
	// ("running", "runnable", "syscall"); empty when unknown.
	State string `json:"state,omitempty"`
	// Wait is how long the goroutine has been blocked; zero when unknown or
	// not blocked. Dumps in the panic format only give whole minutes.
	Wait time.Duration `json:"wait_ns,omitempty"`
	// Leaked is set when the runtime's goroutine leak detector (Go 1.27's
	// /debug/pprof/goroutineleak, or GOEXPERIMENT=goroutineleakprofile in
	// 1.26) found the goroutine blocked on something no running code can reach.
	Leaked bool `json:"leaked,omitempty"`
	// LockedToThread is set for goroutines wired to their OS thread.
	LockedToThread bool `json:"locked,omitempty"`
	// Frames is the call stack, innermost first.
	Frames []Frame `json:"frames"`
	// CreatedBy is the go statement that started the goroutine; nil for the
	// main goroutine and when unknown.
	CreatedBy *Frame `json:"created_by,omitempty"`
	// CreatorID is the ID of the goroutine that ran that go statement (0 when unknown).
	CreatorID int64 `json:"creator_id,omitempty"`
	// Labels are the goroutine's pprof labels when known.
	Labels map[string]string `json:"labels,omitempty"`
}

// Frame is one function activation in a goroutine's stack.
type Frame struct {
	Function string `json:"function"`
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
	// Inlined is set when the frame was inlined into its caller.
	Inlined bool `json:"inlined,omitempty"`
	// Args is the argument list as the runtime printed it ("0x1, {0x2, 0x3}"),
	// when the source gives it.
	Args string `json:"args,omitempty"`
	// Vars holds arguments and locals when a source could read them (PID and core targets).
	Vars []Var `json:"vars,omitempty"`
}

// Var is one argument or local variable of a frame, already formatted.
type Var struct {
	Name  string `json:"name"`
	Type  string `json:"type,omitempty"`
	Value string `json:"value"`
	// Arg is set for function arguments and results.
	Arg bool `json:"arg,omitempty"`
}

// MemStats is the part of runtime.MemStats that leak hunting needs, with the
// same names and meanings. MaxRSS is the peak resident set size the runtime
// reports alongside (getrusage), 0 when unknown.
type MemStats struct {
	Alloc         uint64  `json:"alloc"`
	TotalAlloc    uint64  `json:"total_alloc"`
	Sys           uint64  `json:"sys"`
	Mallocs       uint64  `json:"mallocs"`
	Frees         uint64  `json:"frees"`
	HeapAlloc     uint64  `json:"heap_alloc"`
	HeapSys       uint64  `json:"heap_sys"`
	HeapIdle      uint64  `json:"heap_idle"`
	HeapInuse     uint64  `json:"heap_inuse"`
	HeapReleased  uint64  `json:"heap_released"`
	HeapObjects   uint64  `json:"heap_objects"`
	StackInuse    uint64  `json:"stack_inuse"`
	StackSys      uint64  `json:"stack_sys"`
	MSpanInuse    uint64  `json:"mspan_inuse"`
	MSpanSys      uint64  `json:"mspan_sys"`
	MCacheInuse   uint64  `json:"mcache_inuse"`
	MCacheSys     uint64  `json:"mcache_sys"`
	BuckHashSys   uint64  `json:"buck_hash_sys"`
	GCSys         uint64  `json:"gc_sys"`
	OtherSys      uint64  `json:"other_sys"`
	NextGC        uint64  `json:"next_gc"`
	LastGC        uint64  `json:"last_gc"`
	PauseTotalNs  uint64  `json:"pause_total_ns"`
	NumGC         uint32  `json:"num_gc"`
	NumForcedGC   uint32  `json:"num_forced_gc"`
	GCCPUFraction float64 `json:"gc_cpu_fraction"`
	MaxRSS        uint64  `json:"max_rss,omitempty"`
}

// Process is what the operating system reports of the target process.
type Process struct {
	// RSS is the resident set size in bytes (VmRSS).
	RSS uint64 `json:"rss"`
	// PeakRSS is the largest RSS so far (VmHWM), 0 when unknown.
	PeakRSS uint64 `json:"peak_rss,omitempty"`
	// AnonRSS is the anonymous part of RSS (RssAnon), 0 when unknown: what
	// the process allocated, without its executable's and libraries' pages.
	AnonRSS uint64 `json:"anon_rss,omitempty"`
	// Threads is the number of OS threads, 0 when unknown.
	Threads int `json:"threads,omitempty"`
}
