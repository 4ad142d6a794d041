package refs

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/leakhunt/leakhunt/profiler/heapgraph"
)

// shared holds, for every object shared by several roots (a child of the
// super-root in the dominator tree), the names of the roots that reach it.
type shared struct {
	names []string // root names by name index (view.keys)
	// setOf[d] is the set (index in sets) of the shared object numbered d
	// in preorder; -1 for other nodes.
	setOf []int32
	sets  []nameSet
	// overflow counts shared objects reached by more than max root names.
	overflow int
	max      int
}

// nameSet is a sorted set of root name ids; over is set when it was capped.
type nameSet struct {
	names []int32
	over  bool
	desc  string // describe's result, once asked
}

// sharedSets finds which roots reach each shared object. A pointer that
// crosses from one top's dominator subtree into another's always points at
// the other top itself (a node's immediate dominator dominates all its
// predecessors), so the roots reaching a shared object are found on the
// much smaller graph of tops: its strongly connected components in
// topological order, each getting the union of its predecessors' sets.
func (a *Analysis) sharedSets(max int) *shared {
	v, dom := a.v, a.dom
	m := len(dom.order)
	sh := &shared{names: v.keys, setOf: make([]int32, m), max: max}
	// The tops, numbered compactly.
	topIdx := make([]int32, m)
	var tops []int32
	for d := 0; d < m; d++ {
		sh.setOf[d] = -1
		topIdx[d] = -1
		if d > 0 && dom.idom[d] == 0 {
			topIdx[d] = int32(len(tops))
			tops = append(tops, int32(d))
		}
	}
	isSharedTop := func(d int32) bool { return topIdx[d] >= 0 && v.isObject(dom.order[d]) }
	// Edges between tops, deduplicated, as compressed rows.
	type edge struct{ from, to int32 }
	var edges []edge
	for d := 1; d < m; d++ {
		to, base := v.succ(dom.order[d])
		for _, t := range to {
			w := dom.num[t+base]
			if w != a.top[d] && isSharedTop(w) {
				edges = append(edges, edge{topIdx[a.top[d]], topIdx[w]})
			}
		}
	}
	if len(edges) == 0 {
		return sh
	}
	sort.Slice(edges, func(i, j int) bool {
		if edges[i].from != edges[j].from {
			return edges[i].from < edges[j].from
		}
		return edges[i].to < edges[j].to
	})
	nt := len(tops)
	start := make([]int32, nt+1)
	var adj []int32
	for i, e := range edges {
		if i > 0 && e == edges[i-1] {
			continue
		}
		start[e.from+1]++
		adj = append(adj, e.to)
	}
	for i := 0; i < nt; i++ {
		start[i+1] += start[i]
	}
	edges = nil

	// Tarjan's strongly connected components, iteratively. Components come
	// out in reverse topological order.
	index := make([]int32, nt)
	low := make([]int32, nt)
	comp := make([]int32, nt)
	for i := range index {
		index[i], comp[i] = -1, -1
	}
	var order []int32 // tops, component by component
	var compStart []int32
	var sccStack, callStack, callPos []int32
	next := int32(0)
	for s := 0; s < nt; s++ {
		if index[s] >= 0 {
			continue
		}
		index[s], low[s] = next, next
		next++
		sccStack = append(sccStack, int32(s))
		callStack, callPos = append(callStack, int32(s)), append(callPos, start[s])
		for len(callStack) > 0 {
			k := len(callStack) - 1
			u := callStack[k]
			if callPos[k] < start[u+1] {
				w := adj[callPos[k]]
				callPos[k]++
				switch {
				case index[w] < 0:
					index[w], low[w] = next, next
					next++
					sccStack = append(sccStack, w)
					callStack, callPos = append(callStack, w), append(callPos, start[w])
				case comp[w] < 0 && index[w] < low[u]:
					low[u] = index[w]
				}
				continue
			}
			callStack, callPos = callStack[:k], callPos[:k]
			if k > 0 {
				if p := callStack[k-1]; low[u] < low[p] {
					low[p] = low[u]
				}
			}
			if low[u] == index[u] {
				c := int32(len(compStart))
				compStart = append(compStart, int32(len(order)))
				for {
					w := sccStack[len(sccStack)-1]
					sccStack = sccStack[:len(sccStack)-1]
					comp[w] = c
					order = append(order, w)
					if w == u {
						break
					}
				}
			}
		}
	}
	nc := len(compStart)
	compStart = append(compStart, int32(len(order)))

	// Propagate in topological order (the reverse of Tarjan's).
	setIdx := make(map[string]int32)
	intern := func(s nameSet) int32 {
		var b strings.Builder
		for _, id := range s.names {
			b.WriteString(strconv.Itoa(int(id)))
			b.WriteByte(',')
		}
		if s.over {
			b.WriteByte('+')
		}
		k := b.String()
		if id, ok := setIdx[k]; ok {
			return id
		}
		id := int32(len(sh.sets))
		setIdx[k] = id
		sh.sets = append(sh.sets, s)
		return id
	}
	compSet := make([]int32, nc)
	pending := make([][]int32, nc) // set ids flowing into each component
	seen := make([]bool, len(sh.names))
	var scratch []int32
	for c := nc - 1; c >= 0; c-- {
		members := order[compStart[c]:compStart[c+1]]
		scratch = scratch[:0]
		over := false
		add := func(id int32) {
			if !seen[id] {
				seen[id] = true
				scratch = append(scratch, id)
			}
		}
		for _, u := range members {
			if x := dom.order[tops[u]]; v.isKey(x) {
				add(x - 1)
			}
		}
		for _, sid := range pending[c] {
			over = over || sh.sets[sid].over
			for _, id := range sh.sets[sid].names {
				add(id)
			}
		}
		pending[c] = nil
		for _, id := range scratch {
			seen[id] = false
		}
		sort.Slice(scratch, func(i, j int) bool { return scratch[i] < scratch[j] })
		if len(scratch) > max {
			scratch, over = scratch[:max], true
		}
		sid := intern(nameSet{names: append([]int32(nil), scratch...), over: over})
		compSet[c] = sid
		for _, u := range members {
			for _, w := range adj[start[u]:start[u+1]] {
				if cw := comp[w]; cw != int32(c) {
					if p := pending[cw]; len(p) == 0 || p[len(p)-1] != sid {
						pending[cw] = append(p, sid)
					}
				}
			}
		}
	}
	for i, d := range tops {
		if v.isObject(dom.order[d]) {
			sh.setOf[d] = compSet[comp[i]]
			if sh.sets[sh.setOf[d]].over {
				sh.overflow++
			}
		}
	}
	return sh
}

// describe names the roots of set i: "shared by main.a, main.b (+3 more)".
func (sh *shared) describe(i int32) string {
	s := &sh.sets[i]
	if s.desc == "" {
		s.desc = describe(sh.names, *s)
	}
	return s.desc
}

func describe(all []string, s nameSet) string {
	names := make([]string, len(s.names))
	for i, id := range s.names {
		names[i] = all[id]
	}
	// The runtime's own roots first: what the runtime holds stays alive
	// whatever the program does; then package variables, then frames.
	sort.Slice(names, func(i, j int) bool {
		if a, b := rootRank(names[i]), rootRank(names[j]); a != b {
			return a < b
		}
		return names[i] < names[j]
	})
	const show = 2
	var b strings.Builder
	b.WriteString("shared by ")
	if len(names) <= show+1 {
		b.WriteString(strings.Join(names, ", "))
	} else {
		b.WriteString(strings.Join(names[:show], ", "))
		fmt.Fprintf(&b, " (+%d more", len(names)-show)
		if s.over {
			b.WriteString(" or more")
		}
		b.WriteString(")")
		return b.String()
	}
	if s.over {
		b.WriteString(" (and more)")
	}
	return b.String()
}

// rootRank orders root names for "shared by": the runtime's roots, package
// variables, goroutine frames.
func rootRank(name string) int {
	switch {
	case strings.HasPrefix(name, "runtime.") || strings.HasPrefix(name, "internal/runtime/") || strings.HasPrefix(name, "goroutine * runtime."):
		return 0
	case strings.HasPrefix(name, "goroutine "):
		return 2
	}
	return 1
}

// trie interns root paths: a node is a path of elements below a top.
type trie struct {
	nodes    []trieNode
	index    map[[3]int32]int32
	maxDepth int32
	elems    []string
	elemID   map[string]int32
	internal []bool // by element: a map-internal step (mapInternal)
	ellipsis int32
}

type trieNode struct {
	parent, elem, depth int32
	// anc is the ancestor kept when a deeper path is elided (-1 if none).
	anc int32
	rep bool // the element repeats: ".next…"
	// lastElem and lastChild remember the last child asked for.
	lastElem, lastChild int32
}

func newTrie(maxDepth int) *trie {
	t := &trie{index: make(map[[3]int32]int32), maxDepth: int32(maxDepth), elemID: make(map[string]int32)}
	t.nodes = append(t.nodes, trieNode{parent: -1, elem: -1, anc: -1})
	t.ellipsis = t.elem("…")
	return t
}

func (t *trie) elem(s string) int32 {
	if id, ok := t.elemID[s]; ok {
		return id
	}
	id := int32(len(t.elems))
	t.elems = append(t.elems, s)
	t.elemID[s] = id
	t.internal = append(t.internal, mapInternal(s))
	return id
}

// mapInternal reports whether a path step is a map's own structure (the
// map header reached without a field name, its directory, tables and
// groups): paths leave those steps out, so that a map's entries keep one
// path as the map grows and changes shape, as in "main.sessions → map value
// → *main.session".
func mapInternal(step string) bool {
	switch step {
	case "map directory", "map table", "map group", "map groups":
		return true
	}
	if strings.HasPrefix(step, "*map[") {
		return true // the map itself, reached with no field name: "map value" follows
	}
	s := strings.TrimPrefix(step, "*")
	return strings.HasPrefix(s, "map.") || strings.HasPrefix(s, "[]map.") || strings.HasPrefix(s, "[]*maps.table") ||
		strings.HasPrefix(s, "internal/runtime/maps.")
}

func (t *trie) intern(parent, elem int32, rep bool) int32 {
	k := [3]int32{parent, elem, 0}
	if rep {
		k[2] = 1
	}
	if id, ok := t.index[k]; ok {
		return id
	}
	p := t.nodes[parent]
	n := trieNode{parent: parent, elem: elem, depth: p.depth + 1, anc: -1, rep: rep}
	keep := t.maxDepth - 2 // elements kept before an elision
	switch {
	case n.depth == keep:
		n.anc = int32(len(t.nodes))
	case n.depth > keep:
		n.anc = p.anc
	}
	id := int32(len(t.nodes))
	t.nodes = append(t.nodes, n)
	t.index[k] = id
	return id
}

// child is the path p followed by elem: a repeated element collapses into
// one ("→ .next…"), and a path deeper than maxDepth keeps its first
// elements, "…" and its last element.
func (t *trie) child(p, elem int32) int32 {
	// Most objects below one path take the same step as the last one did.
	if n := &t.nodes[p]; n.lastElem == elem && n.lastChild > 0 {
		return n.lastChild
	}
	c := t.child1(p, elem)
	n := &t.nodes[p]
	n.lastElem, n.lastChild = elem, c
	return c
}

func (t *trie) child1(p, elem int32) int32 {
	if p != 0 {
		pn := t.nodes[p]
		if pn.elem == elem {
			if pn.rep {
				return p
			}
			return t.intern(pn.parent, elem, true)
		}
		if pn.depth >= t.maxDepth && pn.anc >= 0 {
			e := t.intern(pn.anc, t.ellipsis, false)
			return t.intern(e, elem, false)
		}
	}
	return t.intern(p, elem, false)
}

// path spells node p's elements, first first.
func (t *trie) path(p int32) []string {
	var out []string
	for ; p > 0; p = t.nodes[p].parent {
		n := t.nodes[p]
		s := t.elems[n.elem]
		if n.rep {
			s += "…"
		}
		out = append(out, s)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// normLabel drops what differs between the entries of one collection:
// indices ("[3]" → "[]") and map keys.
func normLabel(s string) string {
	if !strings.Contains(s, "[") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '[' {
			if j := strings.IndexByte(s[i:], ']'); j > 1 && isIndex(s[i+1:i+j]) {
				b.WriteString("[]")
				i += j
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// isIndex reports whether s is an index or a literal map key: digits, a
// hexadecimal number or a quoted string.
func isIndex(s string) bool {
	if len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"') {
		return true
	}
	for _, c := range s {
		if (c < '0' || c > '9') && c != 'x' && (c < 'a' || c > 'f') && c != '-' {
			return false
		}
	}
	return len(s) > 0 && s[0] >= '0' && s[0] <= '9' || len(s) > 1 && s[0] == '-'
}

// ptrName is how a path step names an object of a type: "*main.session";
// pseudo-types ("<unknown, 48 B>", "[]uint8 (backing array)", "string
// (bytes)") stay as they are.
func ptrName(name string) string {
	if strings.HasPrefix(name, "<") || strings.HasSuffix(name, ")") {
		return name
	}
	return "*" + name
}

// rowKey identifies a PathStat while paths are built.
type rowKey struct {
	top  int32 // id in topNames
	trie int32 // the path to the object
	typ  int32 // index in Types
}

// paths gives every reachable object its root path and builds the rows.
func (a *Analysis) paths(ctx context.Context, sh *shared, maxDepth int) error {
	v, dom, g := a.v, a.dom, a.g
	t := newTrie(maxDepth)
	pathOf := make([]int32, v.nodes())
	a.rowOf = make([]int32, v.N)
	for i := range a.rowOf {
		a.rowOf[i] = -1
	}
	rows := make(map[rowKey]int32)
	topID := make(map[string]int32)
	var topNames []string
	topOf := func(name string) int32 {
		id, ok := topID[name]
		if !ok {
			id = int32(len(topNames))
			topID[name] = id
			topNames = append(topNames, name)
		}
		return id
	}
	// The top name of each top, by preorder number.
	topKey := make([]int32, len(dom.order))
	for i := range topKey {
		topKey[i] = -1
	}
	keyOf := func(d int32) int32 {
		if k := topKey[d]; k >= 0 {
			return k
		}
		var k int32
		if x := dom.order[d]; v.isKey(x) {
			k = topOf(v.keys[x-1])
		} else {
			k = topOf(sh.describe(sh.setOf[d]))
		}
		topKey[d] = k
		return k
	}
	lc := newLabelCache()
	labelOf := func(p int32, off uint32) int32 {
		if !v.isObject(p) {
			return t.labelElem(g.Label(v.root(p), true, off))
		}
		o := v.object(p)
		return lc.get(g.Type[o], g.Size[o], off, func() (int32, bool) {
			s := g.Label(o, false, off)
			return t.labelElem(s), !strings.Contains(s, "(")
		})
	}
	// The row last used at each trie node: most paths hold one type
	// below one top, so this spares most map lookups.
	type cached struct{ top, typ, row int32 }
	var cache []cached
	addRow := func(k rowKey, o int) int32 {
		for int(k.trie) >= len(cache) {
			cache = append(cache, cached{row: -1})
		}
		if c := cache[k.trie]; c.row >= 0 && c.top == k.top && c.typ == k.typ {
			return c.row
		}
		if r, ok := rows[k]; ok {
			cache[k.trie] = cached{k.top, k.typ, r}
			return r
		}
		r := int32(len(a.Paths))
		rows[k] = r
		path := t.path(k.trie)
		tn := a.Types[k.typ].Name
		if n := t.nodes[k.trie]; k.trie == 0 || t.elems[n.elem] != ptrName(tn) {
			path = append(path, ptrName(tn))
		}
		a.Paths = append(a.Paths, PathStat{Root: topNames[k.top], Shared: v.isObject(dom.order[a.top[dom.num[v.node(o)]]]), Path: path, Type: tn})
		cache[k.trie] = cached{k.top, k.typ, r}
		return r
	}
	for h, x := range a.bfsQueue {
		if h%cancelEvery == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if !v.isObject(x) {
			continue // the virtual nodes and roots: the empty path
		}
		o := v.object(x)
		d := dom.num[x]
		typ := a.typeRow(o)
		var k rowKey
		if a.top[d] == d {
			// Shared: the path starts here.
			pathOf[x] = t.child(0, t.elem(ptrName(a.Types[typ].Name)))
			k = rowKey{top: keyOf(d), trie: pathOf[x], typ: typ}
		} else {
			p := a.bfsParent[x]
			e := labelOf(p, a.bfsOff[x])
			if e < 0 {
				e = t.elem(ptrName(a.Types[typ].Name))
			}
			if t.internal[e] {
				pathOf[x] = pathOf[p] // a map's internals: no step of its own
			} else {
				pathOf[x] = t.child(pathOf[p], e)
			}
			k = rowKey{top: keyOf(a.top[d]), trie: pathOf[x], typ: typ}
		}
		r := addRow(k, o)
		a.rowOf[o] = r
		ps := &a.Paths[r]
		ps.Objects++
		ps.Bytes += g.Size[o]
	}
	return nil
}

// labelElem interns a normalized label; an empty label is -1.
func (t *trie) labelElem(s string) int32 {
	s = normLabel(s)
	if s == "" {
		return -1
	}
	return t.elem(s)
}

// labelCache remembers the labels of pointers by the type and size of the
// object holding them and their offset: objects of one type and size have
// one layout (the size decides whether a malloc header shifts it). Labels
// that name an interface's dynamic type ("(main.circle)") differ between
// objects of one type and are never cached, nor are the labels of objects
// of unknown type. A direct-mapped table: a collision only costs a call.
type labelCache struct {
	slots []labelSlot
}

type labelSlot struct {
	typ  heapgraph.TypeID
	off  uint32
	size uint64
	elem int32
	ok   bool
}

const labelCacheBits = 16

func newLabelCache() *labelCache { return &labelCache{slots: make([]labelSlot, 1<<labelCacheBits)} }

// get returns the label element for (typ, size, off), calling label on a
// miss; label says whether its answer may be cached.
func (c *labelCache) get(typ heapgraph.TypeID, size uint64, off uint32, label func() (int32, bool)) int32 {
	if typ == heapgraph.NoType {
		e, _ := label()
		return e
	}
	h := (uint64(typ)*0x9e3779b97f4a7c15 ^ uint64(off)*0xc2b2ae3d27d4eb4f ^ size) >> (64 - labelCacheBits)
	sl := &c.slots[h]
	if sl.ok && sl.typ == typ && sl.off == off && sl.size == size {
		return sl.elem
	}
	e, cacheable := label()
	if cacheable {
		*sl = labelSlot{typ: typ, off: off, size: size, elem: e, ok: true}
	}
	return e
}
