package analyze

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

// ErrDifferentPrograms is returned by Diff for snapshots of two different programs.
var ErrDifferentPrograms = errors.New("the snapshots are of different programs")

// DiffStat is one key's size and count in the newer snapshot and their change:
// tracemalloc's StatisticDiff.
type DiffStat struct {
	Site
	Size      int64 `json:"size"`
	SizeDiff  int64 `json:"size_diff"`
	Count     int64 `json:"count"`
	CountDiff int64 `json:"count_diff"`
}

// StateDiff is the number of goroutines in one state in both snapshots.
type StateDiff struct {
	State string `json:"state"`
	Old   int    `json:"old"`
	New   int    `json:"new"`
}

// FieldDiff is one runtime statistic in both snapshots.
type FieldDiff struct {
	Name string `json:"name"`
	Old  uint64 `json:"old"`
	New  uint64 `json:"new"`
}

// Diff compares two snapshots.
type Diff struct {
	By     Key    `json:"by"`
	Sample string `json:"sample"`
	// Elapsed is the time between the two captures, zero when unknown.
	Elapsed time.Duration `json:"elapsed_ns"`
	// Heap totals of both snapshots, over the whole profiles.
	OldSize  int64 `json:"old_size"`
	NewSize  int64 `json:"new_size"`
	OldCount int64 `json:"old_count"`
	NewCount int64 `json:"new_count"`
	// Keys is how many keys are in either snapshot, before the cut to N.
	Keys int `json:"keys"`
	// Stats is sorted by the absolute change, largest first.
	Stats []DiffStat `json:"stats"`
	// Goroutines compares counts by state; nil when either snapshot has no goroutines.
	Goroutines *GoroutineDiff `json:"goroutines,omitempty"`
	// MemStats compares runtime statistics; nil when either snapshot lacks them.
	MemStats []FieldDiff `json:"memstats,omitempty"`
}

// GoroutineDiff compares goroutine counts.
type GoroutineDiff struct {
	Old     int         `json:"old"`
	New     int         `json:"new"`
	ByState []StateDiff `json:"by_state"`
}

// DiffOptions tune Diff. The zero value compares by line on inuse_space.
type DiffOptions struct {
	HeapOptions
	// N cuts the heap rows to the N largest changes; 0 keeps all.
	N int
	// Force compares snapshots of different programs.
	Force bool
}

// CompareSnapshots compares old and new: heap statistics by key with their
// change (sorted by absolute growth), goroutines by state, and memory
// statistics. Snapshots of different programs are refused unless opts.Force.
func CompareSnapshots(old, new *snapshot.Snapshot, opts DiffOptions) (*Diff, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	if a, b := programOf(old), programOf(new); a != "" && b != "" && a != b && !opts.Force {
		return nil, fmt.Errorf("%w (%s and %s): compare snapshots of one program, or pass --force", ErrDifferentPrograms, a, b)
	}
	d := &Diff{By: opts.By, Sample: opts.Sample}
	if !old.Capture.Time.IsZero() && !new.Capture.Time.IsZero() {
		d.Elapsed = new.Capture.Time.Sub(old.Capture.Time)
	}
	if old.HasHeap() && new.HasHeap() {
		if err := diffHeap(d, old, new, opts); err != nil {
			return nil, err
		}
	} else if old.HasHeap() || new.HasHeap() {
		return nil, fmt.Errorf("only one of the snapshots holds a heap profile: %w", ErrNoHeap)
	}
	if old.HasGoroutines() && new.HasGoroutines() {
		d.Goroutines = diffGoroutines(old.Goroutines, new.Goroutines)
	}
	if old.MemStats != nil && new.MemStats != nil {
		d.MemStats = diffMemStats(old.MemStats, new.MemStats)
	}
	if !old.HasHeap() && d.Goroutines == nil && d.MemStats == nil {
		return nil, errors.New("the snapshots have nothing in common to compare (no heap profile, goroutines or memory statistics in both)")
	}
	return d, nil
}

func programOf(s *snapshot.Snapshot) string {
	if s.Target.Path != "" {
		return s.Target.Path
	}
	return s.Target.Program
}

func diffHeap(d *Diff, old, new *snapshot.Snapshot, opts DiffOptions) error {
	// The two profiles are independent: read and group them side by side.
	var to, tn *heapTable
	var errOld, errNew error
	var wg sync.WaitGroup
	if old == new {
		// One snapshot: HeapProfile may decode it, and must not do so twice at once.
		to, errOld = groupSnapshot(old, opts.HeapOptions)
		tn, errNew = to, errOld
	} else {
		wg.Go(func() { to, errOld = groupSnapshot(old, opts.HeapOptions) })
		tn, errNew = groupSnapshot(new, opts.HeapOptions)
		wg.Wait()
	}
	if errOld != nil {
		return fmt.Errorf("old snapshot: %w", errOld)
	}
	if errNew != nil {
		return fmt.Errorf("new snapshot: %w", errNew)
	}
	d.OldSize, d.OldCount = to.total.size, to.total.count
	d.NewSize, d.NewCount = tn.total.size, tn.total.count

	type row struct {
		key      string
		old, new *agg
		change   int64
	}
	rows := make([]row, 0, len(tn.rows)+len(to.rows)/8)
	for k, a := range tn.rows {
		r := row{key: k, new: a, old: to.rows[k]}
		rows = append(rows, r)
	}
	for k, a := range to.rows {
		if _, ok := tn.rows[k]; !ok {
			rows = append(rows, row{key: k, old: a})
		}
	}
	var zero agg
	for i := range rows {
		r := &rows[i]
		o, n := r.old, r.new
		if o == nil {
			o = &zero
		}
		if n == nil {
			n = &zero
		}
		r.change = tn.value(n) - to.value(o)
	}
	sort.Slice(rows, func(i, j int) bool {
		ai, aj := abs(rows[i].change), abs(rows[j].change)
		if ai != aj {
			return ai > aj
		}
		return rows[i].key < rows[j].key
	})
	d.Keys = len(rows)
	if opts.N > 0 && len(rows) > opts.N {
		rows = rows[:opts.N]
	}
	d.Stats = make([]DiffStat, len(rows))
	for i, r := range rows {
		var st DiffStat
		if r.new != nil {
			st.Site = tn.site(r.new)
			st.Size, st.Count = r.new.size, r.new.count
		} else {
			st.Site = to.site(r.old)
		}
		st.SizeDiff, st.CountDiff = st.Size, st.Count
		if r.old != nil {
			st.SizeDiff -= r.old.size
			st.CountDiff -= r.old.count
		}
		d.Stats[i] = st
	}
	return nil
}

func groupSnapshot(s *snapshot.Snapshot, opts HeapOptions) (*heapTable, error) {
	hp, err := reducedHeap(s)
	if err != nil {
		return nil, err
	}
	return group(hp, opts)
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

func diffGoroutines(old, new []snapshot.Goroutine) *GoroutineDiff {
	gd := &GoroutineDiff{Old: len(old), New: len(new)}
	counts := make(map[string]*StateDiff)
	get := func(state string) *StateDiff {
		if state == "" {
			state = "unknown"
		}
		sd, ok := counts[state]
		if !ok {
			sd = &StateDiff{State: state}
			counts[state] = sd
		}
		return sd
	}
	for _, g := range old {
		get(g.State).Old++
	}
	for _, g := range new {
		get(g.State).New++
	}
	for _, sd := range counts {
		gd.ByState = append(gd.ByState, *sd)
	}
	sort.Slice(gd.ByState, func(i, j int) bool {
		a, b := gd.ByState[i], gd.ByState[j]
		if da, db := absInt(a.New-a.Old), absInt(b.New-b.Old); da != db {
			return da > db
		}
		if a.New != b.New {
			return a.New > b.New
		}
		return a.State < b.State
	})
	return gd
}

func absInt(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// memStatFields lists the runtime statistics a diff and stats show, in order.
func memStatFields(m *snapshot.MemStats) []FieldDiff {
	return []FieldDiff{
		{Name: "HeapAlloc", New: m.HeapAlloc},
		{Name: "HeapInuse", New: m.HeapInuse},
		{Name: "HeapObjects", New: m.HeapObjects},
		{Name: "HeapSys", New: m.HeapSys},
		{Name: "HeapReleased", New: m.HeapReleased},
		{Name: "StackInuse", New: m.StackInuse},
		{Name: "Sys", New: m.Sys},
		{Name: "TotalAlloc", New: m.TotalAlloc},
		{Name: "Mallocs", New: m.Mallocs},
		{Name: "Frees", New: m.Frees},
		{Name: "NumGC", New: uint64(m.NumGC)},
		{Name: "NextGC", New: m.NextGC},
		{Name: "MaxRSS", New: m.MaxRSS},
	}
}

func diffMemStats(old, new *snapshot.MemStats) []FieldDiff {
	o, n := memStatFields(old), memStatFields(new)
	for i := range n {
		n[i].Old = o[i].New
	}
	return n
}
