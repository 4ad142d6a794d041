//go:build linux && amd64

package refs_test

import (
	"regexp"
	"sort"
	"testing"

	"github.com/leakhunt/leakhunt/profiler/heapgraph"
	"github.com/leakhunt/leakhunt/profiler/refs"
)

// oracle is an independent reading of a graph: which objects the roots
// reach, and for each object the one root name reaching it (or that
// several do). Roots are grouped by name as the analysis groups them (a
// stack root's goroutine ID dropped): what only the frames of one function
// reach is that name's alone.
type oracle struct {
	g *heapgraph.Graph
	// keys are the root names; owner[i] is the index in keys of the only
	// name whose roots reach object i, unreached when nothing reaches it,
	// shared when several names do.
	keys  []string
	keyID map[string]int32
	owner []int32
	// pred and predOut are the reverse edges, built when needed.
	pred    []int32
	predOut []int64
}

const (
	unreached = -1
	shared    = -2
)

func newOracle(g *heapgraph.Graph) *oracle {
	o := &oracle{g: g, owner: make([]int32, len(g.Addr)), keyID: map[string]int32{}}
	for i := range o.owner {
		o.owner[i] = unreached
	}
	var queue []int32
	visit := func(x, label int32) {
		switch cur := o.owner[x]; {
		case cur == unreached:
			o.owner[x] = label
		case cur != shared && cur != label:
			o.owner[x] = shared
		default:
			return
		}
		queue = append(queue, x)
	}
	for r := range g.Roots {
		k := rootKey(g.Roots[r])
		id, ok := o.keyID[k]
		if !ok {
			id = int32(len(o.keys))
			o.keyID[k] = id
			o.keys = append(o.keys, k)
		}
		for _, x := range g.RootTo[g.RootOut[r]:g.RootOut[r+1]] {
			visit(x, id)
		}
	}
	for len(queue) > 0 {
		x := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		for _, y := range g.To[g.Out[x]:g.Out[x+1]] {
			visit(y, o.owner[x])
		}
	}
	return o
}

// rootsReaching names the roots from which object x is reachable (as the
// analysis names them: a stack root's goroutine ID is "*"), sorted.
func (o *oracle) rootsReaching(x int) []string {
	g := o.g
	if o.predOut == nil {
		// Reverse edges, objects' and roots' (roots as -1-r).
		n := len(g.Addr)
		count := make([]int64, n+1)
		for _, y := range g.To {
			count[y+1]++
		}
		for _, y := range g.RootTo {
			count[y+1]++
		}
		for i := 0; i < n; i++ {
			count[i+1] += count[i]
		}
		pred := make([]int32, count[n])
		fill := append([]int64(nil), count[:n]...)
		for i := 0; i < n; i++ {
			for _, y := range g.To[g.Out[i]:g.Out[i+1]] {
				pred[fill[y]] = int32(i)
				fill[y]++
			}
		}
		for r := range g.Roots {
			for _, y := range g.RootTo[g.RootOut[r]:g.RootOut[r+1]] {
				pred[fill[y]] = int32(-1 - r)
				fill[y]++
			}
		}
		o.predOut, o.pred = count, pred
	}
	seen := map[int32]bool{int32(x): true}
	names := map[string]bool{}
	stack := []int32{int32(x)}
	for len(stack) > 0 {
		y := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, p := range o.pred[o.predOut[y]:o.predOut[y+1]] {
			if p < 0 {
				names[rootKey(g.Roots[-1-p])] = true
				continue
			}
			if !seen[p] {
				seen[p] = true
				stack = append(stack, p)
			}
		}
	}
	var out []string
	for n := range names {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// rootKey names a root as the analysis's tables do.
func rootKey(r heapgraph.Root) string {
	if r.Kind == heapgraph.RootStack {
		return goroutineID.ReplaceAllString(r.Name, "goroutine * ")
	}
	return r.Name
}

var goroutineID = regexp.MustCompile(`^goroutine [0-9]+ `)

// retainedByType counts, by type, the objects only the roots called key
// reach.
func (o *oracle) retainedByType(key string) map[string]int {
	out := map[string]int{}
	id, ok := o.keyID[key]
	if !ok {
		return out
	}
	for i, ow := range o.owner {
		if ow == id {
			out[typeOf(o.g, i)]++
		}
	}
	return out
}

// checkAnalysis compares the analysis's totals, by-type table and per-root
// retained sizes with the oracle's reading of the same graph.
func checkAnalysis(t *testing.T, g *heapgraph.Graph, a *refs.Analysis, o *oracle) {
	t.Helper()
	var objs, sharedObjs int64
	var bytes, sharedBytes uint64
	types := map[string]refs.TypeStat{}
	rootObjs := make([]int64, len(o.keys))
	rootBytes := make([]uint64, len(o.keys))
	for i, ow := range o.owner {
		if ow == unreached {
			continue
		}
		objs++
		bytes += g.Size[i]
		if ow == shared {
			sharedObjs++
			sharedBytes += g.Size[i]
		} else {
			rootObjs[ow]++
			rootBytes[ow] += g.Size[i]
		}
		ts := types[typeOf(g, i)]
		ts.Objects++
		ts.Bytes += g.Size[i]
		types[typeOf(g, i)] = ts
	}
	if a.Totals.Objects != objs || a.Totals.Bytes != bytes {
		t.Errorf("analysis: %d objects, %d bytes reachable; the graph's roots reach %d objects, %d bytes", a.Totals.Objects, a.Totals.Bytes, objs, bytes)
	}
	if int64(g.Stats.Reachable) != objs || g.Stats.ReachableBytes != bytes {
		t.Errorf("walk: Stats say %d objects, %d bytes reachable; the graph's roots reach %d objects, %d bytes", g.Stats.Reachable, g.Stats.ReachableBytes, objs, bytes)
	}
	if a.Totals.SharedObjects != sharedObjs || a.Totals.SharedBytes != sharedBytes {
		t.Errorf("analysis: %d objects, %d bytes shared; %d objects, %d bytes are reachable from more than one root name", a.Totals.SharedObjects, a.Totals.SharedBytes, sharedObjs, sharedBytes)
	}
	if a.Totals.Allocated != int64(g.Stats.Allocated) || a.Totals.AllocatedBytes != g.Stats.AllocatedBytes {
		t.Errorf("analysis: Totals.Allocated %d objects, %d bytes (documented as allocated slots, reachable or not); the walk's Stats.Allocated %d objects, %d bytes",
			a.Totals.Allocated, a.Totals.AllocatedBytes, g.Stats.Allocated, g.Stats.AllocatedBytes)
	}
	for _, ts := range a.Types {
		if w := types[ts.Name]; ts.Objects != w.Objects || ts.Bytes != w.Bytes {
			t.Errorf("analysis: type %s: %d objects, %d bytes; the graph has %d, %d", ts.Name, ts.Objects, ts.Bytes, w.Objects, w.Bytes)
		}
		delete(types, ts.Name)
	}
	for name, w := range types {
		t.Errorf("analysis: no row for type %s (%d objects in the graph)", name, w.Objects)
	}
	// Every root name retains what only its roots reach.
	stats := map[string]refs.RootStat{}
	for _, rs := range a.Roots {
		stats[rs.Name] = rs
	}
	for id, k := range o.keys {
		rs := stats[k]
		if rs.RetainedObjects != rootObjs[id] || rs.Retained != rootBytes[id] {
			t.Errorf("analysis: root %s retains %d objects, %d bytes; %d objects, %d bytes are reachable from it alone", k, rs.RetainedObjects, rs.Retained, rootObjs[id], rootBytes[id])
		}
	}
}
