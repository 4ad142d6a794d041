package refs

import (
	"context"
	"fmt"
	"math"

	"github.com/leakhunt/leakhunt/profiler/heapgraph"
)

// view numbers the nodes of a Graph for the graph algorithms: node 0 is a
// virtual super-root pointing at one virtual node per root name (rootKey:
// the frames of N goroutines running one function are one name), each
// pointing at its roots. Nodes 1..K are the names, K+1..K+R the roots and
// K+R+1..K+R+N the objects. A name's node dominates what only its roots
// reach, so memory held by N goroutines of one function together is
// retained by that name, not reported as shared among them.
type view struct {
	g       *heapgraph.Graph
	K, R, N int
	keys    []string // root names, by name index
	keyOf   []int32  // root index -> name index
	// keyStart/keyRoots list each name's roots; supers lists 0..K-1.
	keyStart, keyRoots []int32
	supers             []int32
}

func newView(g *heapgraph.Graph) (*view, error) {
	R, N := len(g.Roots), len(g.Addr)
	if 2*int64(R)+int64(N)+1 > math.MaxInt32 {
		return nil, fmt.Errorf("graph too large: %d roots and %d objects", R, N)
	}
	if len(g.Size) != N || len(g.Type) != N {
		return nil, fmt.Errorf("malformed graph: %d addresses, %d sizes, %d types", N, len(g.Size), len(g.Type))
	}
	if err := checkCSR("object", g.Out, g.To, g.Off, N, N); err != nil {
		return nil, err
	}
	if err := checkCSR("root", g.RootOut, g.RootTo, g.RootOff, R, N); err != nil {
		return nil, err
	}
	if len(g.Types) == 0 {
		return nil, fmt.Errorf("malformed graph: no type table")
	}
	for i, t := range g.Type {
		if t < 0 || int(t) >= len(g.Types) {
			return nil, fmt.Errorf("malformed graph: object %d has type %d of %d", i, t, len(g.Types))
		}
	}
	v := &view{g: g, R: R, N: N, keyOf: make([]int32, R)}
	index := make(map[string]int32)
	count := []int32{}
	for r := range g.Roots {
		k := rootKey(g.Roots[r])
		id, ok := index[k]
		if !ok {
			id = int32(len(v.keys))
			index[k] = id
			v.keys = append(v.keys, k)
			count = append(count, 0)
		}
		v.keyOf[r] = id
		count[id]++
	}
	v.K = len(v.keys)
	v.keyStart = make([]int32, v.K+1)
	for k, c := range count {
		v.keyStart[k+1] = v.keyStart[k] + c
	}
	v.keyRoots = make([]int32, R)
	fill := append([]int32(nil), v.keyStart[:v.K]...)
	for r, k := range v.keyOf {
		v.keyRoots[fill[k]] = int32(r)
		fill[k]++
	}
	v.supers = make([]int32, v.K)
	for i := range v.supers {
		v.supers[i] = int32(i)
	}
	return v, nil
}

func checkCSR(what string, out []int64, to []int32, off []uint32, rows, targets int) error {
	if rows == 0 && len(out) == 0 {
		if len(to) != 0 {
			return fmt.Errorf("malformed graph: %d %s edges but no %ss", len(to), what, what)
		}
		return nil
	}
	if len(out) != rows+1 {
		return fmt.Errorf("malformed graph: %d %s edge offsets for %d %ss", len(out), what, rows, what)
	}
	if len(off) != len(to) || out[0] != 0 || out[rows] != int64(len(to)) {
		return fmt.Errorf("malformed graph: %s edge arrays disagree", what)
	}
	for i := 0; i < rows; i++ {
		if out[i] > out[i+1] {
			return fmt.Errorf("malformed graph: %s %d edge offsets decrease", what, i)
		}
	}
	for _, t := range to {
		if t < 0 || int(t) >= targets {
			return fmt.Errorf("malformed graph: %s edge to object %d of %d", what, t, targets)
		}
	}
	return nil
}

func (v *view) nodes() int { return 1 + v.K + v.R + v.N }

// succ returns node x's successors: node ids are to[i]+base.
func (v *view) succ(x int32) (to []int32, base int32) {
	switch {
	case x == 0:
		return v.supers, 1
	case int(x) <= v.K:
		k := x - 1
		return v.keyRoots[v.keyStart[k]:v.keyStart[k+1]], int32(v.K) + 1
	case int(x) <= v.K+v.R:
		r := int(x) - v.K - 1
		return v.g.RootTo[v.g.RootOut[r]:v.g.RootOut[r+1]], int32(v.K+v.R) + 1
	default:
		o := v.object(x)
		return v.g.To[v.g.Out[o]:v.g.Out[o+1]], int32(v.K+v.R) + 1
	}
}

// offsets returns the offsets of node x's pointers, parallel to succ (nil
// for the virtual nodes).
func (v *view) offsets(x int32) []uint32 {
	switch {
	case int(x) <= v.K:
		return nil
	case int(x) <= v.K+v.R:
		r := int(x) - v.K - 1
		return v.g.RootOff[v.g.RootOut[r]:v.g.RootOut[r+1]]
	default:
		o := v.object(x)
		return v.g.Off[v.g.Out[o]:v.g.Out[o+1]]
	}
}

func (v *view) isObject(x int32) bool { return int(x) > v.K+v.R }
func (v *view) isRoot(x int32) bool   { return int(x) > v.K && int(x) <= v.K+v.R }
func (v *view) isKey(x int32) bool    { return x > 0 && int(x) <= v.K }
func (v *view) object(x int32) int    { return int(x) - v.K - v.R - 1 }
func (v *view) node(obj int) int32    { return int32(obj + v.K + v.R + 1) }
func (v *view) root(x int32) int      { return int(x) - v.K - 1 }
func (v *view) rootNode(r int) int32  { return int32(r + v.K + 1) }

// size is a node's own size: an object's slot size, 0 for the others.
func (v *view) size(x int32) uint64 {
	if !v.isObject(x) {
		return 0
	}
	return v.g.Size[v.object(x)]
}

// domTree is the dominator tree of the nodes reachable from the super-root,
// in depth-first preorder numbers: the super-root is number 0.
type domTree struct {
	num   []int32 // node -> preorder number; -1 if unreachable
	order []int32 // preorder number -> node
	idom  []int32 // preorder number -> its immediate dominator's number (idom[0] = 0)
}

// cancelEvery is how many nodes a loop handles between context checks.
const cancelEvery = 1 << 16

// dominators computes the dominator tree with the semi-NCA algorithm
// (Georgiadis' simplification of Lengauer–Tarjan): semidominators by the
// Lengauer–Tarjan forest with path compression, then each immediate
// dominator as the nearest common ancestor of the parent and semidominator.
// Everything is iterative: an object graph can be a linked list millions of
// nodes deep.
func dominators(ctx context.Context, v *view) (*domTree, error) {
	n := v.nodes()
	num := make([]int32, n)
	for i := range num {
		num[i] = -1
	}
	order := make([]int32, 0, n)
	parent := make([]int32, 0, n)

	// Depth-first preorder.
	stack := []int32{0}
	pos := []int32{0}
	num[0] = 0
	order = append(order, 0)
	parent = append(parent, 0)
	for len(stack) > 0 {
		top := len(stack) - 1
		x := stack[top]
		to, base := v.succ(x)
		i := pos[top]
		pushed := false
		for int(i) < len(to) {
			w := to[i] + base
			i++
			if num[w] < 0 {
				num[w] = int32(len(order))
				order = append(order, w)
				parent = append(parent, num[x])
				pos[top] = i
				stack = append(stack, w)
				pos = append(pos, 0)
				pushed = true
				break
			}
		}
		if !pushed {
			stack, pos = stack[:top], pos[:top]
		}
		if len(order)%cancelEvery == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	stack, pos = nil, nil
	m := len(order)

	// Predecessors in preorder numbers.
	predStart := make([]int64, m+1)
	for d := 0; d < m; d++ {
		to, base := v.succ(order[d])
		for _, t := range to {
			predStart[num[t+base]+1]++
		}
	}
	for d := 0; d < m; d++ {
		predStart[d+1] += predStart[d]
	}
	preds := make([]int32, predStart[m])
	fill := make([]int64, m)
	copy(fill, predStart[:m])
	for d := 0; d < m; d++ {
		to, base := v.succ(order[d])
		for _, t := range to {
			w := num[t+base]
			preds[fill[w]] = int32(d)
			fill[w]++
		}
	}
	fill = nil

	// Semidominators.
	semi := make([]int32, m)
	label := make([]int32, m)
	ancestor := make([]int32, m)
	for d := range semi {
		semi[d], label[d], ancestor[d] = int32(d), int32(d), -1
	}
	var path []int32
	eval := func(x int32) int32 {
		if ancestor[x] < 0 {
			return x
		}
		// Compress the path from x to its forest root, top down.
		path = path[:0]
		for y := x; ancestor[ancestor[y]] >= 0; y = ancestor[y] {
			path = append(path, y)
		}
		for i := len(path) - 1; i >= 0; i-- {
			y := path[i]
			a := ancestor[y]
			if semi[label[a]] < semi[label[y]] {
				label[y] = label[a]
			}
			ancestor[y] = ancestor[a]
		}
		return label[x]
	}
	for w := m - 1; w >= 1; w-- {
		for _, p := range preds[predStart[w]:predStart[w+1]] {
			if u := eval(p); semi[u] < semi[w] {
				semi[w] = semi[u]
			}
		}
		ancestor[w] = parent[w]
		if w%cancelEvery == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	preds, predStart, label, ancestor = nil, nil, nil, nil

	// Immediate dominators: the nearest ancestor of the parent in the
	// dominator tree built so far whose number is at most the semidominator.
	idom := parent // reuse: parent[d] is read before idom[d] is written
	for d := 1; d < m; d++ {
		x := parent[d]
		for x > semi[d] {
			x = idom[x]
		}
		idom[d] = x
	}
	idom[0] = 0
	return &domTree{num: num, order: order, idom: idom}, nil
}
