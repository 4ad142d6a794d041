package analyze

import (
	"errors"
	"sort"

	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

// ErrNoHeap is returned for a snapshot without a heap profile.
var ErrNoHeap = errors.New("the snapshot holds no heap profile")

// Stat is one row of heap statistics: tracemalloc's Statistic.
type Stat struct {
	Site
	// Size is bytes, Count objects, of the chosen kind (in use or allocated).
	Size  int64 `json:"size"`
	Count int64 `json:"count"`
	// Share is Size (or Count when ranking by objects) over the profile's total.
	Share float64 `json:"share"`
}

// Top is the heap statistics of one snapshot.
type Top struct {
	By     Key    `json:"by"`
	Sample string `json:"sample"`
	// TotalSize and TotalCount cover the whole profile, before filters.
	TotalSize  int64 `json:"total_size"`
	TotalCount int64 `json:"total_count"`
	// Keys is how many distinct keys matched, before the cut to N.
	Keys  int    `json:"keys"`
	Stats []Stat `json:"stats"`
}

// HeapTop groups a snapshot's heap profile by opts.By and returns the n
// largest rows (all when n <= 0), largest first.
func HeapTop(s *snapshot.Snapshot, opts HeapOptions, n int) (*Top, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	if !s.HasHeap() {
		return nil, ErrNoHeap
	}
	hp, err := reducedHeap(s)
	if err != nil {
		return nil, err
	}
	t, err := group(hp, opts)
	if err != nil {
		return nil, err
	}
	top := &Top{By: opts.By, Sample: opts.Sample, TotalSize: t.total.size, TotalCount: t.total.count, Keys: len(t.rows)}
	rows := make([]*agg, 0, len(t.rows))
	for _, a := range t.rows {
		rows = append(rows, a)
	}
	sort.Slice(rows, func(i, j int) bool {
		if vi, vj := t.value(rows[i]), t.value(rows[j]); vi != vj {
			return vi > vj
		}
		return rows[i].key < rows[j].key
	})
	if n > 0 && len(rows) > n {
		rows = rows[:n]
	}
	denom := float64(t.value(&t.total))
	top.Stats = make([]Stat, len(rows))
	for i, a := range rows {
		top.Stats[i] = Stat{Site: t.site(a), Size: a.size, Count: a.count}
		if denom > 0 {
			top.Stats[i].Share = float64(t.value(a)) / denom
		}
	}
	return top, nil
}
