package watch

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/pprof/profile"

	"github.com/leakhunt/leakhunt/profiler/goroutines"
	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

// Sample is one point of a series: when it was taken, the file it was saved
// to, and the program's totals at that moment. A total that was not captured
// is zero (a running program always has a heap, some RSS and a goroutine).
type Sample struct {
	// Index counts samples from 1.
	Index int `json:"index"`
	// File is the snapshot's base name in the series directory; empty when
	// the series is kept in memory only.
	File string    `json:"file,omitempty"`
	Time time.Time `json:"time"`
	// HeapAlloc and HeapInuse are the runtime's MemStats fields.
	HeapAlloc uint64 `json:"heap_alloc,omitempty"`
	HeapInuse uint64 `json:"heap_inuse,omitempty"`
	// HeapObjects is the runtime's exact count of live heap objects.
	HeapObjects uint64 `json:"heap_objects,omitempty"`
	// GoMemory is what the Go runtime holds from the operating system and has
	// not given back (MemStats Sys - HeapReleased): the Go side of RSS.
	GoMemory uint64 `json:"go_memory,omitempty"`
	// GoInuse is the Go memory certainly touched: HeapInuse + StackInuse.
	GoInuse uint64 `json:"go_inuse,omitempty"`
	// NumGC and LastGC say which garbage collection the heap profile reflects:
	// a heap profile only changes when a collection ends.
	NumGC  uint32    `json:"num_gc,omitempty"`
	LastGC time.Time `json:"last_gc,omitzero"`
	// ProfileInuse is the in-use bytes the heap profile accounts for
	// (sampled, as of the last collection).
	ProfileInuse int64 `json:"profile_inuse,omitempty"`
	// HeapPeriod is the heap profile's sampling period in bytes
	// (runtime.MemProfileRate: one allocation sampled per HeapPeriod bytes
	// allocated), 0 when the profile did not say.
	HeapPeriod int64 `json:"heap_period,omitempty"`
	// RSS is the resident set size from the operating system, and AnonRSS
	// its anonymous part (without executable and library pages), 0 when unknown.
	RSS        uint64 `json:"rss,omitempty"`
	AnonRSS    uint64 `json:"anon_rss,omitempty"`
	Goroutines int    `json:"goroutines,omitempty"`

	// HasHeap, HasGoroutines and HasMemStats say which parts the snapshot held.
	HasHeap       bool `json:"has_heap,omitempty"`
	HasGoroutines bool `json:"has_goroutines,omitempty"`
	HasMemStats   bool `json:"has_memstats,omitempty"`
}

// Loc is a source location: a function and a file:line in it.
type Loc struct {
	Function string `json:"function"`
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
}

func locOf(f snapshot.Frame) Loc { return Loc{Function: f.Function, File: f.File, Line: f.Line} }

// IsZero reports whether l names nothing.
func (l Loc) IsZero() bool { return l == Loc{} }

// SiteSeries is the in-use memory of one allocation site over the samples.
// The site is the first frame of the allocation stack outside the runtime and
// the standard library (falling back to the first frame outside the runtime):
// the line of the program that asked for the memory, not runtime.mallocgc or
// fmt.Sprintf.
type SiteSeries struct {
	Site Loc `json:"site"`
	// Alloc is the innermost frame of a stack that allocated here, when it
	// differs from Site (the runtime or library function that did the work).
	Alloc Loc `json:"alloc,omitzero"`
	// Stack is one allocation stack through the site, innermost first.
	Stack []snapshot.Frame `json:"stack,omitempty"`
	// Bytes and Objects are inuse_space and inuse_objects at each sample,
	// indexed like Series.Samples; zero when the site held nothing (or the
	// sample had no heap profile: see Sample.HasHeap).
	Bytes   []int64 `json:"bytes"`
	Objects []int64 `json:"objects"`
	// AllocBytes and AllocObjects are alloc_space and alloc_objects at each
	// sample: what the site allocated since the program started, freed or
	// not (sampled like the in-use values). Empty in series saved before
	// they were kept.
	AllocBytes   []int64 `json:"alloc_bytes,omitempty"`
	AllocObjects []int64 `json:"alloc_objects,omitempty"`
}

// pad extends the site's values with zeros to n samples.
func (ss *SiteSeries) pad(n int) {
	for len(ss.Bytes) < n {
		ss.Bytes = append(ss.Bytes, 0)
		ss.Objects = append(ss.Objects, 0)
	}
	for len(ss.AllocBytes) < n {
		ss.AllocBytes = append(ss.AllocBytes, 0)
		ss.AllocObjects = append(ss.AllocObjects, 0)
	}
}

// GroupKey identifies a group of goroutines: the same go statement created
// them, they wait at the same place and in the same state.
type GroupKey struct {
	// CreatedBy is the go statement (zero for the main goroutine or when unknown).
	CreatedBy Loc `json:"created_by,omitzero"`
	// Top is the innermost frame outside the runtime: where it waits.
	Top Loc `json:"top"`
	// User is the innermost frame outside the runtime and the standard
	// library (equal to Top when Top is the program's own code).
	User  Loc    `json:"user,omitzero"`
	State string `json:"state,omitempty"`
}

// GroupSeries is the size of one goroutine group over the samples.
type GroupSeries struct {
	Key GroupKey `json:"key"`
	// Stack is the stack of one goroutine of the group, innermost first.
	Stack []snapshot.Frame `json:"stack,omitempty"`
	// Count is the number of goroutines in the group at each sample.
	Count []int `json:"count"`
	// Leaked is how many of them the runtime's leak detector marked leaked.
	Leaked []int `json:"leaked,omitempty"`
}

// Series is a program watched over time: the totals of every sample and the
// history of every allocation site and goroutine group. Add grows it one
// snapshot at a time; it keeps no snapshot, only the numbers.
type Series struct {
	// Target is the program, as the first snapshot identified it.
	Target snapshot.Target `json:"target"`
	// Address is what was captured (a URL, PID, core or file).
	Address string   `json:"address,omitempty"`
	Samples []Sample `json:"samples"`

	sites     map[Loc]*SiteSeries
	groups    map[GroupKey]*GroupSeries
	gorootSrc string // GOROOT/src/ of the target as its runtime frames tell, when known
}

// NewSeries returns an empty series.
func NewSeries() *Series {
	return &Series{sites: make(map[Loc]*SiteSeries), groups: make(map[GroupKey]*GroupSeries)}
}

// Len is the number of samples.
func (s *Series) Len() int { return len(s.Samples) }

// Duration is the time from the first sample to the last.
func (s *Series) Duration() time.Duration {
	if len(s.Samples) < 2 {
		return 0
	}
	return s.Samples[len(s.Samples)-1].Time.Sub(s.Samples[0].Time)
}

// Sites returns every allocation site seen, sorted by function, file and line.
func (s *Series) Sites() []*SiteSeries {
	out := make([]*SiteSeries, 0, len(s.sites))
	for _, ss := range s.sites {
		out = append(out, ss)
	}
	sort.Slice(out, func(i, j int) bool { return lessLoc(out[i].Site, out[j].Site) })
	return out
}

// Groups returns every goroutine group seen, in a stable order.
func (s *Series) Groups() []*GroupSeries {
	out := make([]*GroupSeries, 0, len(s.groups))
	for _, g := range s.groups {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Key, out[j].Key
		if a.Top != b.Top {
			return lessLoc(a.Top, b.Top)
		}
		if a.CreatedBy != b.CreatedBy {
			return lessLoc(a.CreatedBy, b.CreatedBy)
		}
		if a.User != b.User {
			return lessLoc(a.User, b.User)
		}
		return a.State < b.State
	})
	return out
}

func lessLoc(a, b Loc) bool {
	if a.Function != b.Function {
		return a.Function < b.Function
	}
	if a.File != b.File {
		return a.File < b.File
	}
	return a.Line < b.Line
}

// Add appends one snapshot to the series and returns its sample. The
// snapshot is not kept.
func (s *Series) Add(snap *snapshot.Snapshot) Sample {
	if s.sites == nil {
		s.sites = make(map[Loc]*SiteSeries)
		s.groups = make(map[GroupKey]*GroupSeries)
	}
	if len(s.Samples) == 0 {
		s.Target, s.Address = snap.Target, snap.Capture.Address
	}
	if s.Target.PID == 0 && snap.Target.PID != 0 {
		s.Target = snap.Target
	}
	n := len(s.Samples) + 1
	smp := Sample{Index: n, Time: snap.Capture.Time}
	if m := snap.MemStats; m != nil {
		smp.HasMemStats = true
		smp.HeapAlloc, smp.HeapInuse, smp.NumGC = m.HeapAlloc, m.HeapInuse, m.NumGC
		smp.HeapObjects = m.HeapObjects
		smp.GoInuse = m.HeapInuse + m.StackInuse
		if m.Sys > m.HeapReleased {
			smp.GoMemory = m.Sys - m.HeapReleased
		}
		if m.LastGC > 0 {
			smp.LastGC = time.Unix(0, int64(m.LastGC)).UTC()
		}
	}
	if p := snap.Process; p != nil {
		smp.RSS, smp.AnonRSS = p.RSS, p.AnonRSS
	}
	if snap.Heap != nil {
		if total, ok := s.addHeap(snap.Heap, n); ok {
			smp.HasHeap, smp.ProfileInuse = true, total
			smp.HeapPeriod = snap.Heap.Period
		}
	}
	if snap.HasGoroutines() {
		smp.HasGoroutines, smp.Goroutines = true, len(snap.Goroutines)
		s.addGoroutines(snap.Goroutines, n)
	}
	for _, ss := range s.sites {
		ss.pad(n)
	}
	for _, g := range s.groups {
		for len(g.Count) < n {
			g.Count = append(g.Count, 0)
			g.Leaked = append(g.Leaked, 0)
		}
	}
	s.Samples = append(s.Samples, smp)
	return smp
}

// addHeap adds the in-use values of p's samples, by site, as sample n.
func (s *Series) addHeap(p *profile.Profile, n int) (int64, bool) {
	bytesIdx, objIdx, abIdx, aoIdx := -1, -1, -1, -1
	for i, st := range p.SampleType {
		switch st.Type {
		case "inuse_space":
			bytesIdx = i
		case "inuse_objects":
			objIdx = i
		case "alloc_space":
			abIdx = i
		case "alloc_objects":
			aoIdx = i
		}
	}
	if bytesIdx < 0 || objIdx < 0 {
		return 0, false
	}
	if s.gorootSrc == "" {
		s.gorootSrc = gorootSrc(p)
	}
	var total int64
	for _, smp := range p.Sample {
		if len(smp.Value) <= bytesIdx || len(smp.Value) <= objIdx {
			continue
		}
		b, o := smp.Value[bytesIdx], smp.Value[objIdx]
		var ab, ao int64
		if abIdx >= 0 && aoIdx >= 0 && len(smp.Value) > max(abIdx, aoIdx) {
			ab, ao = smp.Value[abIdx], smp.Value[aoIdx]
		}
		total += b
		if b == 0 && o == 0 && ab == 0 && ao == 0 {
			continue
		}
		frames := goroutines.FramesOf(smp.Location)
		site, alloc := s.siteOf(frames)
		ss, ok := s.sites[site]
		if !ok {
			ss = &SiteSeries{Site: site, Stack: frames}
			if alloc != site {
				ss.Alloc = alloc
			}
			s.sites[site] = ss
		}
		ss.pad(n)
		ss.Bytes[n-1] += b
		ss.Objects[n-1] += o
		ss.AllocBytes[n-1] += ab
		ss.AllocObjects[n-1] += ao
	}
	return total, true
}

// siteOf picks the allocation site of a stack (innermost first): the first
// frame of the program's own code, else the first outside the runtime, else
// the first. It also returns the innermost frame.
func (s *Series) siteOf(frames []snapshot.Frame) (site, alloc Loc) {
	if len(frames) == 0 {
		return Loc{Function: "(unknown)"}, Loc{Function: "(unknown)"}
	}
	alloc = locOf(frames[0])
	firstNonRuntime := -1
	for i, f := range frames {
		if isRuntimeFrame(f) {
			continue
		}
		if firstNonRuntime < 0 {
			firstNonRuntime = i
		}
		if !s.isStd(f) {
			return locOf(f), alloc
		}
	}
	if firstNonRuntime >= 0 {
		return locOf(frames[firstNonRuntime]), alloc
	}
	return alloc, alloc
}

func (s *Series) addGoroutines(gs []snapshot.Goroutine, n int) {
	if s.gorootSrc == "" {
		s.gorootSrc = gorootSrcOf(gs)
	}
	for _, g := range gs {
		key := s.groupKey(g)
		gr, ok := s.groups[key]
		if !ok {
			gr = &GroupSeries{Key: key, Stack: g.Frames}
			s.groups[key] = gr
		}
		for len(gr.Count) < n {
			gr.Count = append(gr.Count, 0)
			gr.Leaked = append(gr.Leaked, 0)
		}
		gr.Count[n-1]++
		if g.Leaked {
			gr.Leaked[n-1]++
		}
	}
}

func (s *Series) groupKey(g snapshot.Goroutine) GroupKey {
	k := GroupKey{State: g.State}
	if g.CreatedBy != nil {
		k.CreatedBy = locOf(*g.CreatedBy)
	}
	top := -1
	for i, f := range g.Frames {
		if isRuntimeFrame(f) {
			continue
		}
		if top < 0 {
			top = i
			k.Top = locOf(f)
		}
		if !s.isStd(f) {
			k.User = locOf(f)
			break
		}
	}
	if top < 0 && len(g.Frames) > 0 {
		k.Top = locOf(g.Frames[0])
	}
	return k
}

// InProgram reports whether l is in the program's own code: outside the Go
// runtime and the standard library (as the target's GOROOT tells, when the
// series knows it).
func (s *Series) InProgram(l Loc) bool {
	f := snapshot.Frame{Function: l.Function, File: l.File, Line: l.Line}
	return l.Function != "" && !isRuntimeFrame(f) && !s.isStd(f)
}

// InRuntime reports whether l is the Go runtime's own code. A site is the
// first frame outside the runtime, so a site in the runtime means that every
// frame of its stacks was the runtime's: memory it allocated for its own
// bookkeeping (goroutine descriptors for new goroutines, profiling buckets).
func InRuntime(l Loc) bool {
	return isRuntimeFrame(snapshot.Frame{Function: l.Function, File: l.File, Line: l.Line})
}

// isRuntime reports whether fn belongs to the Go runtime, whose frames are
// never where a leak is (they allocate on behalf of their callers).
func isRuntime(fn string) bool {
	return strings.HasPrefix(fn, "runtime.") || strings.HasPrefix(fn, "internal/runtime/") ||
		strings.HasPrefix(fn, "runtime/internal/") || strings.HasPrefix(fn, "internal/abi.")
}

// isRuntimeFrame reports whether f is the runtime's: by its function, or by
// its file (internal/poll.runtime_pollWait lives in runtime/netpoll.go).
func isRuntimeFrame(f snapshot.Frame) bool {
	if isRuntime(f.Function) {
		return true
	}
	i := strings.LastIndex(f.File, "/src/runtime/")
	return i >= 0 && !strings.Contains(f.File[i+len("/src/runtime/"):], "/")
}

// isStd reports whether f is in the standard library: its file is under the
// target's GOROOT when the profile told where that is, else its package path
// has no dot in its first element (and is not main).
func (s *Series) isStd(f snapshot.Frame) bool {
	if s.gorootSrc != "" && f.File != "" {
		return strings.HasPrefix(f.File, s.gorootSrc)
	}
	if strings.HasPrefix(f.File, "$GOROOT/") {
		return true
	}
	pkg := pkgPath(f.Function)
	first, _, _ := strings.Cut(pkg, "/")
	return pkg != "" && pkg != "main" && !strings.Contains(first, ".") && !strings.Contains(f.File, "/pkg/mod/")
}

// pkgPath is the import path part of a function name as the runtime prints
// it: "github.com/a/b.(*T).M" → "github.com/a/b".
func pkgPath(fn string) string {
	slash := strings.LastIndexByte(fn, '/')
	dot := strings.IndexByte(fn[slash+1:], '.')
	if dot < 0 {
		return ""
	}
	return fn[:slash+1+dot]
}

// gorootSrc finds "GOROOT/src/" from the file of a runtime function in p.
func gorootSrc(p *profile.Profile) string {
	for _, fn := range p.Function {
		if strings.HasPrefix(fn.Name, "runtime.") {
			if i := strings.LastIndex(fn.Filename, "/src/runtime/"); i >= 0 {
				return fn.Filename[:i+len("/src/")]
			}
		}
	}
	return ""
}

// gorootSrcOf finds "GOROOT/src/" from the runtime frames of goroutine stacks.
func gorootSrcOf(gs []snapshot.Goroutine) string {
	for _, g := range gs {
		for _, f := range g.Frames {
			if strings.HasPrefix(f.Function, "runtime.") {
				if i := strings.LastIndex(f.File, "/src/runtime/"); i >= 0 {
					return f.File[:i+len("/src/")]
				}
			}
		}
	}
	return ""
}

// seriesJSON is the JSON form of a Series.
type seriesJSON struct {
	Target  snapshot.Target `json:"target"`
	Address string          `json:"address,omitempty"`
	Samples []Sample        `json:"samples"`
	Sites   []*SiteSeries   `json:"sites"`
	Groups  []*GroupSeries  `json:"groups"`
	GOROOT  string          `json:"goroot_src,omitempty"`
}

// MarshalJSON writes the whole series: samples, sites and groups, so a
// report can draw it without the snapshots.
func (s *Series) MarshalJSON() ([]byte, error) {
	return json.Marshal(seriesJSON{Target: s.Target, Address: s.Address, Samples: s.Samples,
		Sites: s.Sites(), Groups: s.Groups(), GOROOT: s.gorootSrc})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (s *Series) UnmarshalJSON(data []byte) error {
	var j seriesJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*s = *NewSeries()
	s.Target, s.Address, s.Samples, s.gorootSrc = j.Target, j.Address, j.Samples, j.GOROOT
	n := len(j.Samples)
	for _, ss := range j.Sites {
		if len(ss.Bytes) != n || len(ss.Objects) != n {
			return fmt.Errorf("site %s has %d values for %d samples", ss.Site.Function, len(ss.Bytes), n)
		}
		if len(ss.AllocBytes) != len(ss.AllocObjects) || (len(ss.AllocBytes) != 0 && len(ss.AllocBytes) != n) {
			return fmt.Errorf("site %s has %d allocation values for %d samples", ss.Site.Function, len(ss.AllocBytes), n)
		}
		s.sites[ss.Site] = ss
	}
	for _, g := range j.Groups {
		if len(g.Count) != n {
			return fmt.Errorf("goroutine group at %s has %d values for %d samples", g.Key.Top.Function, len(g.Count), n)
		}
		if len(g.Leaked) != n {
			g.Leaked = make([]int, n)
		}
		s.groups[g.Key] = g
	}
	return nil
}

// Keep drops the sites and groups for which keep returns false, and every
// stack: what remains is the numbers (for small test fixtures and reports).
func (s *Series) Keep(site func(*SiteSeries) bool, group func(*GroupSeries) bool) {
	for k, ss := range s.sites {
		if !site(ss) {
			delete(s.sites, k)
		}
		ss.Stack = nil
	}
	for k, g := range s.groups {
		if !group(g) {
			delete(s.groups, k)
		}
		g.Stack = nil
	}
}

// Prefix returns the series as it was after its first n samples (a copy
// sharing no slices with s), to replay a watch sample by sample.
func (s *Series) Prefix(n int) *Series {
	n = min(max(n, 0), len(s.Samples))
	p := NewSeries()
	p.Target, p.Address, p.gorootSrc = s.Target, s.Address, s.gorootSrc
	p.Samples = append([]Sample(nil), s.Samples[:n]...)
	for k, ss := range s.sites {
		c := *ss
		c.Bytes = append([]int64(nil), ss.Bytes[:n]...)
		c.Objects = append([]int64(nil), ss.Objects[:n]...)
		if len(ss.AllocBytes) >= n {
			c.AllocBytes = append([]int64(nil), ss.AllocBytes[:n]...)
			c.AllocObjects = append([]int64(nil), ss.AllocObjects[:n]...)
		}
		p.sites[k] = &c
	}
	for k, g := range s.groups {
		c := *g
		c.Count = append([]int(nil), g.Count[:n]...)
		c.Leaked = append([]int(nil), g.Leaked[:n]...)
		p.groups[k] = &c
	}
	return p
}
