// Package refs analyses a heap's object graph (profiler/heapgraph) the way a
// user asks about a leak: which types fill the heap, which roots keep how
// much of it alive and through which field, map or slice path, why one object
// is still alive, and what grew between two moments. It is objgraph for Go:
// show_most_common_types (Analysis.Types), by_type (Analysis.Type),
// find_backref_chain (Analysis.Why), show_backrefs (Dot) and show_growth
// (Diff).
//
// Memory is credited through the dominator tree of the graph: an object's
// retained size is what would be freed if it were gone, and a root's retained
// size is what would be freed if it let go. An object reachable from several
// roots is dominated by none of them; it is reported as shared by those roots
// rather than credited to whichever root a walk reached first.
//
// The package is pure computation over a Graph: it reads no process, and an
// Analysis saves to and loads from a file (see docs/objects.md).
package refs

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/leakhunt/leakhunt/profiler/heapgraph"
	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

// Options tune Analyze. The zero value is ready to use.
type Options struct {
	// Samples is how many sample addresses to keep per type; zero means 8.
	Samples int
	// MaxDepth is how many path elements below a root a root path keeps
	// before eliding the middle; zero means 12.
	MaxDepth int
	// MaxShared is how many distinct root names are tracked per shared
	// object; zero means 1024. Beyond it, reachable sizes undercount (a note
	// says so).
	MaxShared int
}

func (o *Options) setDefaults() {
	if o.Samples <= 0 {
		o.Samples = 8
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = 12
	}
	if o.MaxDepth < 3 {
		o.MaxDepth = 3
	}
	if o.MaxShared <= 0 {
		o.MaxShared = 1024
	}
}

// Analysis is what Analyze found in one graph. Its exported fields are its
// saved form (Save, Load) and its --json form; an Analysis made by Analyze
// also keeps the graph, for Why, Find and ObjectsOfType.
type Analysis struct {
	// Target and Capture say what was analysed; the caller fills them in.
	Target  snapshot.Target `json:"target"`
	Time    time.Time       `json:"time"`
	Capture CaptureInfo     `json:"capture"`
	// Totals are over the reachable heap.
	Totals Totals `json:"totals"`
	// Types, largest Bytes first.
	Types []TypeStat `json:"types"`
	// Roots, by root name, largest Retained first.
	Roots []RootStat `json:"roots"`
	// Paths, by root path, largest Retained first.
	Paths []PathStat `json:"paths"`
	// Notes say what was approximated, one line each (the walk's notes too).
	Notes []string `json:"notes,omitempty"`

	g   *heapgraph.Graph
	v   *view
	dom *domTree
	// bfsParent[node] is the node before it on a shortest path from the
	// super-root (-1: unreachable); bfsOff[node] the offset of the pointer.
	bfsParent []int32
	bfsOff    []uint32
	top       []int32 // preorder number -> number of its top (child of the super-root)
	rowOf     []int32 // object -> index in Paths (-1: unreachable)
	bfsQueue  []int32
	retained  []uint64         // preorder number -> retained bytes
	typeOfID  []int32          // TypeID -> index in Types (-1: none)
	typeOfUnk map[uint64]int32 // slot size of an unknown-type object -> index in Types
}

// CaptureInfo says how the graph was obtained.
type CaptureInfo struct {
	Source      string        `json:"source,omitempty"`  // "pid" or "core"
	Address     string        `json:"address,omitempty"` // the PID or core path
	Stopped     time.Duration `json:"stopped_ns,omitempty"`
	Duration    time.Duration `json:"duration_ns,omitempty"`
	CopiedBytes uint64        `json:"copied_bytes,omitempty"`
}

// Totals describe the whole graph.
type Totals struct {
	Objects   int64  `json:"objects"` // reachable objects
	Bytes     uint64 `json:"bytes"`   // their slot sizes
	Roots     int    `json:"roots"`
	Types     int    `json:"types"`
	Allocated int64  `json:"allocated_objects"` // allocated slots, reachable or not
	// AllocatedBytes minus Bytes is garbage the next GC frees.
	AllocatedBytes uint64 `json:"allocated_bytes"`
	// SharedObjects and SharedBytes are what no single root dominates.
	SharedObjects int64  `json:"shared_objects"`
	SharedBytes   uint64 `json:"shared_bytes"`
	Typed         int64  `json:"typed_objects"` // reachable objects of a known type
}

// TypeStat is one row of the by-type table.
type TypeStat struct {
	Name    string `json:"type"`
	Objects int64  `json:"objects"`
	Bytes   uint64 `json:"bytes"`
	// Retained is what freeing every object of this type would free: the
	// retained sizes of those objects not dominated by another of the type.
	Retained        uint64 `json:"retained"`
	RetainedObjects int64  `json:"retained_objects"`
	Samples         []Addr `json:"sample_addrs,omitempty"`
}

// RootStat is one root name: a package variable, or a goroutine frame
// variable (goroutine IDs are dropped, so the frames of N goroutines running
// the same function add up).
type RootStat struct {
	Name  string `json:"root"`
	Kind  string `json:"kind"` // global, stack, finalizer, other
	Count int    `json:"count"`
	// Retained is what would be freed if these roots let go: their
	// dominator subtrees.
	Retained        uint64 `json:"retained"`
	RetainedObjects int64  `json:"retained_objects"`
	// Reachable adds what they share with other roots.
	Reachable        uint64 `json:"reachable"`
	ReachableObjects int64  `json:"reachable_objects"`
}

// PathStat is one root path: the objects reached by the same path of field,
// map and slice steps (indices dropped) below one root, or below an object
// shared by several roots.
type PathStat struct {
	// Root is the root's name, or "shared by A, B (+N more)".
	Root   string `json:"root"`
	Shared bool   `json:"shared,omitempty"`
	// Path is the steps below Root; the last is the objects' type ("*T").
	Path []string `json:"path"`
	Type string   `json:"type"`
	// Objects and Bytes are the objects at exactly this path.
	Objects int64  `json:"objects"`
	Bytes   uint64 `json:"bytes"`
	// Retained is what freeing them would free.
	Retained        uint64 `json:"retained"`
	RetainedObjects int64  `json:"retained_objects"`
}

// Key is the path as one line: "main.sessions → map value → *main.session".
func (p PathStat) Key() string {
	return strings.Join(append([]string{p.Root}, p.Path...), " → ")
}

// Addr is an address; it is written as a hexadecimal string in JSON.
type Addr uint64

// MarshalText writes "0xc000012345".
func (a Addr) MarshalText() ([]byte, error) { return []byte(fmt.Sprintf("%#x", uint64(a))), nil }

// UnmarshalText reads what MarshalText writes.
func (a *Addr) UnmarshalText(b []byte) error {
	var x uint64
	if _, err := fmt.Sscanf(string(b), "0x%x", &x); err != nil {
		return fmt.Errorf("bad address %q", b)
	}
	*a = Addr(x)
	return nil
}

// typeRow is the index in Types of an object's row.
func (a *Analysis) typeRow(obj int) int32 {
	t := a.g.Type[obj]
	if t == heapgraph.NoType {
		return a.typeOfUnk[a.g.Size[obj]]
	}
	return a.typeOfID[t]
}

// typeName is the name of an object's type, "<unknown, 48 B>" when unknown.
func typeName(g *heapgraph.Graph, obj int) string {
	t := g.Type[obj]
	if t == heapgraph.NoType || g.Types[t].Name == "" {
		return fmt.Sprintf("<unknown, %d B>", g.Size[obj])
	}
	return g.Types[t].Name
}

// Analyze computes the dominator tree of g's reachable objects, retained
// sizes, the by-type table and the root paths. Objects no root reaches are
// garbage and left out (Totals counts them as allocated).
func Analyze(ctx context.Context, g *heapgraph.Graph, opts Options) (*Analysis, error) {
	opts.setDefaults()
	v, err := newView(g)
	if err != nil {
		return nil, err
	}
	dom, err := dominators(ctx, v)
	if err != nil {
		return nil, fmt.Errorf("dominator tree: %w", err)
	}
	a := &Analysis{g: g, v: v, dom: dom}
	a.Notes = append(a.Notes, g.Stats.Notes...)
	m := len(dom.order)

	// Retained sizes: children have larger preorder numbers than their
	// immediate dominator.
	retained := make([]uint64, m)
	retainedObj := make([]int64, m)
	for d := 1; d < m; d++ {
		x := dom.order[d]
		if v.isObject(x) {
			retained[d] = v.size(x)
			retainedObj[d] = 1
		}
	}
	for d := m - 1; d >= 1; d-- {
		retained[dom.idom[d]] += retained[d]
		retainedObj[dom.idom[d]] += retainedObj[d]
	}

	// Tops: the child of the super-root that dominates each node, a root
	// or an object shared by several roots.
	top := make([]int32, m)
	for d := 1; d < m; d++ {
		if dom.idom[d] == 0 {
			top[d] = int32(d)
		} else {
			top[d] = top[dom.idom[d]]
		}
	}
	a.top = top
	a.retained = retained

	a.Totals = Totals{
		Objects: retainedObj[0], Bytes: retained[0], Roots: v.R,
		Allocated: int64(g.Stats.Allocated), AllocatedBytes: g.Stats.AllocatedBytes,
	}
	if a.Totals.Allocated == 0 {
		// A graph without the walk's statistics: its objects are all
		// that is known to be allocated.
		a.Totals.Allocated = int64(v.N)
		for i := 0; i < v.N; i++ {
			a.Totals.AllocatedBytes += g.Size[i]
		}
	}
	for d := 1; d < m; d++ {
		if dom.idom[d] == 0 && v.isObject(dom.order[d]) {
			a.Totals.SharedObjects += retainedObj[d]
			a.Totals.SharedBytes += retained[d]
		}
	}

	if err := a.bfs(ctx); err != nil {
		return nil, err
	}
	a.byType(opts.Samples)
	sh := a.sharedSets(opts.MaxShared)
	if err := a.paths(ctx, sh, opts.MaxDepth); err != nil {
		return nil, err
	}
	a.bfsQueue = nil
	a.rowRetained(retained, retainedObj)
	a.rootStats(sh, retained, retainedObj)
	return a, nil
}

// bfs finds a shortest path from the super-root to every reachable node.
// A node dominated by a root is only reachable through it, so its path
// starts at that root.
func (a *Analysis) bfs(ctx context.Context) error {
	v := a.v
	n := v.nodes()
	par := make([]int32, n)
	off := make([]uint32, n)
	for i := range par {
		par[i] = -1
	}
	queue := make([]int32, 0, len(a.dom.order))
	queue = append(queue, 0)
	par[0] = 0
	for h := 0; h < len(queue); h++ {
		x := queue[h]
		to, base := v.succ(x)
		offs := v.offsets(x)
		for i, t := range to {
			w := t + base
			if par[w] < 0 {
				par[w] = x
				if offs != nil {
					off[w] = offs[i]
				}
				queue = append(queue, w)
			}
		}
		if h%cancelEvery == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
	}
	a.bfsParent, a.bfsOff = par, off
	a.bfsQueue = queue
	return nil
}

// rootKey is the name roots are grouped under: a stack root's goroutine ID
// is dropped, so that the frames of many goroutines running one function
// add up (and keys match between two captures).
func rootKey(r heapgraph.Root) string {
	name := r.Name
	if name == "" {
		name = fmt.Sprintf("%s root at %#x", kindName(r.Kind), r.Addr)
	}
	if r.Kind != heapgraph.RootStack {
		return name
	}
	const g = "goroutine "
	i := strings.Index(name, g)
	if i < 0 {
		return name
	}
	j := i + len(g)
	k := j
	for k < len(name) && name[k] >= '0' && name[k] <= '9' {
		k++
	}
	if k == j {
		return name
	}
	return name[:j] + "*" + name[k:]
}

func kindName(k heapgraph.RootKind) string {
	switch k {
	case heapgraph.RootGlobal:
		return "global"
	case heapgraph.RootStack:
		return "stack"
	case heapgraph.RootFinalizer:
		return "finalizer"
	}
	return "other"
}

// byType fills the by-type table (retained sizes come in rowRetained). Rows
// are keyed by type name; objects of unknown type by their slot size.
func (a *Analysis) byType(samples int) {
	g := a.g
	a.typeOfID = make([]int32, len(g.Types))
	for i := range a.typeOfID {
		a.typeOfID[i] = -1
	}
	a.typeOfUnk = make(map[uint64]int32)
	byName := make(map[string]int32)
	for i := 0; i < a.v.N; i++ {
		if a.dom.num[a.v.node(i)] < 0 {
			continue
		}
		t := g.Type[i]
		j := int32(-1)
		if t == heapgraph.NoType {
			if r, ok := a.typeOfUnk[g.Size[i]]; ok {
				j = r
			}
		} else {
			j = a.typeOfID[t]
		}
		if j < 0 {
			name := typeName(g, i)
			r, ok := byName[name]
			if !ok {
				r = int32(len(a.Types))
				byName[name] = r
				a.Types = append(a.Types, TypeStat{Name: name})
			}
			j = r
			if t == heapgraph.NoType {
				a.typeOfUnk[g.Size[i]] = j
			} else {
				a.typeOfID[t] = j
			}
		}
		ts := &a.Types[j]
		ts.Objects++
		ts.Bytes += g.Size[i]
		if len(ts.Samples) < samples {
			ts.Samples = append(ts.Samples, Addr(g.Addr[i]))
		}
		if t != heapgraph.NoType {
			a.Totals.Typed++
		}
	}
	a.Totals.Types = len(a.Types)
}

// rowRetained credits retained sizes to types and root paths: an object
// counts when no dominator of it has the same type (or path), so nothing is
// counted twice. One iterative walk of the dominator tree keeps, for every
// type and path, how many of the current node's dominators have it. Then it
// sorts both tables.
func (a *Analysis) rowRetained(retained []uint64, retainedObj []int64) {
	dom, v := a.dom, a.v
	m := len(dom.order)
	// Children lists of the dominator tree.
	start := make([]int32, m+1)
	for d := 1; d < m; d++ {
		start[dom.idom[d]+1]++
	}
	for d := 0; d < m; d++ {
		start[d+1] += start[d]
	}
	kids := make([]int32, m)
	fill := make([]int32, m)
	copy(fill, start[:m])
	for d := 1; d < m; d++ {
		p := dom.idom[d]
		kids[fill[p]] = int32(d)
		fill[p]++
	}
	fill = nil
	// The type and path row of every preorder number (-1 for roots).
	trow := make([]int32, m)
	prow := make([]int32, m)
	for d := 0; d < m; d++ {
		trow[d], prow[d] = -1, -1
		if x := dom.order[d]; v.isObject(x) {
			o := v.object(x)
			trow[d], prow[d] = a.typeRow(o), a.rowOf[o]
		}
	}
	typeOn := make([]int32, len(a.Types))
	rowOn := make([]int32, len(a.Paths))
	enter := func(d int32) {
		if t := trow[d]; t >= 0 {
			if typeOn[t] == 0 {
				a.Types[t].Retained += retained[d]
				a.Types[t].RetainedObjects += retainedObj[d]
			}
			typeOn[t]++
		}
		if r := prow[d]; r >= 0 {
			if rowOn[r] == 0 {
				a.Paths[r].Retained += retained[d]
				a.Paths[r].RetainedObjects += retainedObj[d]
			}
			rowOn[r]++
		}
	}
	leave := func(d int32) {
		if t := trow[d]; t >= 0 {
			typeOn[t]--
		}
		if r := prow[d]; r >= 0 {
			rowOn[r]--
		}
	}
	stack := []int32{0}
	pos := []int32{start[0]}
	for len(stack) > 0 {
		top := len(stack) - 1
		d := stack[top]
		if pos[top] < start[d+1] {
			c := kids[pos[top]]
			pos[top]++
			enter(c)
			stack = append(stack, c)
			pos = append(pos, start[c])
			continue
		}
		leave(d)
		stack, pos = stack[:top], pos[:top]
	}

	// Sort the types, keeping typeOfID and typeOfUnk valid.
	tperm := sortedPerm(len(a.Types), func(i, j int) bool {
		x, y := &a.Types[i], &a.Types[j]
		if x.Bytes != y.Bytes {
			return x.Bytes > y.Bytes
		}
		return x.Name < y.Name
	})
	tinv := inverse(tperm)
	a.Types = permute(a.Types, tperm)
	for i, r := range a.typeOfID {
		if r >= 0 {
			a.typeOfID[i] = tinv[r]
		}
	}
	for k, r := range a.typeOfUnk {
		a.typeOfUnk[k] = tinv[r]
	}
	// Sort the paths, keeping rowOf valid.
	keys := make([]string, len(a.Paths))
	for i := range a.Paths {
		keys[i] = a.Paths[i].Key()
	}
	pperm := sortedPerm(len(a.Paths), func(i, j int) bool {
		x, y := &a.Paths[i], &a.Paths[j]
		if x.Retained != y.Retained {
			return x.Retained > y.Retained
		}
		if x.Bytes != y.Bytes {
			return x.Bytes > y.Bytes
		}
		return keys[i] < keys[j]
	})
	pinv := inverse(pperm)
	a.Paths = permute(a.Paths, pperm)
	for i, r := range a.rowOf {
		if r >= 0 {
			a.rowOf[i] = pinv[r]
		}
	}
}

// sortedPerm returns the indices 0..n-1 in the order less gives them.
func sortedPerm(n int, less func(i, j int) bool) []int32 {
	perm := make([]int32, n)
	for i := range perm {
		perm[i] = int32(i)
	}
	slices.SortStableFunc(perm, func(x, y int32) int {
		switch {
		case less(int(x), int(y)):
			return -1
		case less(int(y), int(x)):
			return 1
		}
		return 0
	})
	return perm
}

func inverse(perm []int32) []int32 {
	inv := make([]int32, len(perm))
	for newi, oldi := range perm {
		inv[oldi] = int32(newi)
	}
	return inv
}

func permute[T any](s []T, perm []int32) []T {
	out := make([]T, len(s))
	for newi, oldi := range perm {
		out[newi] = s[oldi]
	}
	return out
}

// rootStats adds up retained and reachable sizes per root name.
func (a *Analysis) rootStats(sh *shared, retained []uint64, retainedObj []int64) {
	v, dom := a.v, a.dom
	a.Roots = make([]RootStat, v.K)
	for k, name := range v.keys {
		rs := &a.Roots[k]
		rs.Name = name
		rs.Count = int(v.keyStart[k+1] - v.keyStart[k])
		rs.Kind = kindName(a.g.Roots[v.keyRoots[v.keyStart[k]]].Kind)
		if d := dom.num[k+1]; d >= 0 {
			rs.Retained, rs.RetainedObjects = retained[d], retainedObj[d]
		}
		rs.Reachable, rs.ReachableObjects = rs.Retained, rs.RetainedObjects
	}
	for d, sid := range sh.setOf {
		if sid < 0 {
			continue
		}
		for _, k := range sh.sets[sid].names {
			rs := &a.Roots[k]
			rs.Reachable += retained[d]
			rs.ReachableObjects += retainedObj[d]
		}
	}
	if sh.overflow > 0 {
		a.Notes = append(a.Notes, fmt.Sprintf("%d shared objects are reachable from more than %d root names: reachable sizes of roots undercount them", sh.overflow, sh.max))
	}
	out := a.Roots[:0]
	for _, r := range a.Roots {
		if r.Reachable > 0 || r.ReachableObjects > 0 {
			out = append(out, r)
		}
	}
	a.Roots = out
	sort.SliceStable(a.Roots, func(i, j int) bool {
		x, y := a.Roots[i], a.Roots[j]
		if x.Retained != y.Retained {
			return x.Retained > y.Retained
		}
		if x.Reachable != y.Reachable {
			return x.Reachable > y.Reachable
		}
		return x.Name < y.Name
	})
}
