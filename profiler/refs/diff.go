package refs

import (
	"sort"
	"time"

	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

// Change is what grew between two analyses of one program (objgraph's
// show_growth): types, root names and root paths whose objects, bytes or
// retained bytes increased, largest growth first.
type Change struct {
	Old Side `json:"old"`
	New Side `json:"new"`
	// Objects and Bytes are the change of the whole reachable heap.
	Objects int64    `json:"objects_change"`
	Bytes   int64    `json:"bytes_change"`
	Types   []Growth `json:"types"`
	Roots   []Growth `json:"roots"`
	Paths   []Growth `json:"paths"`
}

// Side identifies one analysis of a Change.
type Side struct {
	Target  snapshot.Target `json:"target"`
	Time    time.Time       `json:"time"`
	Objects int64           `json:"objects"`
	Bytes   uint64          `json:"bytes"`
}

// Growth is one row that grew: its values in the new analysis and the
// change since the old one.
type Growth struct {
	// Name is the type, the root name, or the root path as one line.
	Name           string `json:"name"`
	Objects        int64  `json:"objects"`
	Bytes          uint64 `json:"bytes"`
	Retained       uint64 `json:"retained"`
	ObjectsChange  int64  `json:"objects_change"`
	BytesChange    int64  `json:"bytes_change"`
	RetainedChange int64  `json:"retained_change"`
	New            bool   `json:"new,omitempty"` // absent from the old analysis
}

type values struct {
	objects         int64
	bytes, retained uint64
}

// Diff returns what grew from old to new.
func Diff(old, new *Analysis) *Change {
	d := &Change{
		Old:     Side{Target: old.Target, Time: old.Time, Objects: old.Totals.Objects, Bytes: old.Totals.Bytes},
		New:     Side{Target: new.Target, Time: new.Time, Objects: new.Totals.Objects, Bytes: new.Totals.Bytes},
		Objects: new.Totals.Objects - old.Totals.Objects,
		Bytes:   int64(new.Totals.Bytes) - int64(old.Totals.Bytes),
	}
	types := func(a *Analysis) ([]string, map[string]values) {
		names, m := []string{}, map[string]values{}
		for _, t := range a.Types {
			names = append(names, t.Name)
			m[t.Name] = values{t.Objects, t.Bytes, t.Retained}
		}
		return names, m
	}
	roots := func(a *Analysis) ([]string, map[string]values) {
		names, m := []string{}, map[string]values{}
		for _, r := range a.Roots {
			names = append(names, r.Name)
			m[r.Name] = values{r.RetainedObjects, r.Reachable, r.Retained}
		}
		return names, m
	}
	paths := func(a *Analysis) ([]string, map[string]values) {
		names, m := []string{}, map[string]values{}
		for _, p := range a.Paths {
			k := p.Key()
			if _, ok := m[k]; !ok {
				names = append(names, k)
			}
			v := m[k]
			m[k] = values{v.objects + p.Objects, v.bytes + p.Bytes, v.retained + p.Retained}
		}
		return names, m
	}
	_, ot := types(old)
	nn, nt := types(new)
	d.Types = grown(ot, nn, nt, false)
	_, or := roots(old)
	nn, nr := roots(new)
	d.Roots = grown(or, nn, nr, true)
	_, op := paths(old)
	nn, np := paths(new)
	d.Paths = grown(op, nn, np, true)
	return d
}

// grown lists the rows of new that grew since old; byRetained sorts by
// retained growth first, else by bytes.
func grown(old map[string]values, names []string, new map[string]values, byRetained bool) []Growth {
	var out []Growth
	for _, n := range names {
		nv := new[n]
		ov, had := old[n]
		g := Growth{
			Name: n, Objects: nv.objects, Bytes: nv.bytes, Retained: nv.retained,
			ObjectsChange:  nv.objects - ov.objects,
			BytesChange:    int64(nv.bytes) - int64(ov.bytes),
			RetainedChange: int64(nv.retained) - int64(ov.retained),
			New:            !had,
		}
		if g.ObjectsChange > 0 || g.BytesChange > 0 || g.RetainedChange > 0 {
			out = append(out, g)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		x, y := out[i], out[j]
		a1, a2, b1, b2 := x.BytesChange, y.BytesChange, x.RetainedChange, y.RetainedChange
		if byRetained {
			a1, a2, b1, b2 = b1, b2, a1, a2
		}
		if a1 != a2 {
			return a1 > a2
		}
		if b1 != b2 {
			return b1 > b2
		}
		if x.ObjectsChange != y.ObjectsChange {
			return x.ObjectsChange > y.ObjectsChange
		}
		return x.Name < y.Name
	})
	return out
}
