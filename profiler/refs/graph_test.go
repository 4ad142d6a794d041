package refs

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/leakhunt/leakhunt/profiler/heapgraph"
)

// spec describes a small object graph for the algorithm tests: objects with
// a type and size, roots, and pointers. Objects get addresses 0x1000 apart
// in order.
type spec struct {
	types []string // object i's type name ("" = unknown)
	sizes []uint64 // object i's size (default 16)
	roots []string // root names
	// edges "r0->1" (root 0 to object 1) or "1->2" (object 1 to object 2).
	edges []string
}

func build(t testing.TB, s spec) *heapgraph.Graph {
	t.Helper()
	g := &heapgraph.Graph{Types: []heapgraph.Type{{Name: ""}}}
	typeID := map[string]heapgraph.TypeID{}
	for i, name := range s.types {
		g.Addr = append(g.Addr, 0x10000+uint64(i)*0x1000)
		size := uint64(16)
		if i < len(s.sizes) {
			size = s.sizes[i]
		}
		g.Size = append(g.Size, size)
		id := heapgraph.NoType
		if name != "" {
			var ok bool
			if id, ok = typeID[name]; !ok {
				id = heapgraph.TypeID(len(g.Types))
				typeID[name] = id
				g.Types = append(g.Types, heapgraph.Type{Name: name})
			}
		}
		g.Type = append(g.Type, id)
	}
	for _, r := range s.roots {
		kind := heapgraph.RootGlobal
		if strings.HasPrefix(r, "goroutine ") {
			kind = heapgraph.RootStack
		}
		g.Roots = append(g.Roots, heapgraph.Root{Kind: kind, Name: r})
	}
	objOut := make([][]int32, len(s.types))
	rootOut := make([][]int32, len(s.roots))
	for _, e := range s.edges {
		var from, to int
		if strings.HasPrefix(e, "r") {
			if _, err := fmt.Sscanf(e, "r%d->%d", &from, &to); err != nil {
				t.Fatalf("bad edge %q", e)
			}
			rootOut[from] = append(rootOut[from], int32(to))
			continue
		}
		if _, err := fmt.Sscanf(e, "%d->%d", &from, &to); err != nil {
			t.Fatalf("bad edge %q", e)
		}
		objOut[from] = append(objOut[from], int32(to))
	}
	csr := func(lists [][]int32) (out []int64, to []int32, off []uint32) {
		out = append(out, 0)
		for _, l := range lists {
			for i, x := range l {
				to = append(to, x)
				off = append(off, uint32(8*i))
			}
			out = append(out, int64(len(to)))
		}
		return
	}
	g.Out, g.To, g.Off = csr(objOut)
	g.RootOut, g.RootTo, g.RootOff = csr(rootOut)
	return g
}

// bruteDominators computes each node's immediate dominator by definition: d
// dominates w when w is unreachable from the super-root with d removed.
func bruteDominators(v *view) map[int32]int32 {
	n := v.nodes()
	reach := func(skip int32) []bool {
		seen := make([]bool, n)
		if skip == 0 {
			return seen
		}
		seen[0] = true
		stack := []int32{0}
		for len(stack) > 0 {
			x := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			to, base := v.succ(x)
			for _, t := range to {
				w := t + base
				if w != skip && !seen[w] {
					seen[w] = true
					stack = append(stack, w)
				}
			}
		}
		return seen
	}
	all := reach(-1)
	doms := make(map[int32][]int32) // w -> its strict dominators
	for d := int32(0); d < int32(n); d++ {
		if !all[d] {
			continue
		}
		r := reach(d)
		for w := int32(0); w < int32(n); w++ {
			if all[w] && !r[w] && w != d {
				doms[w] = append(doms[w], d)
			}
		}
	}
	idom := make(map[int32]int32)
	for w, ds := range doms {
		// The immediate dominator is the strict dominator dominated by all others.
		for _, d := range ds {
			ok := true
			for _, e := range ds {
				if e != d && !contains(doms[d], e) {
					ok = false
					break
				}
			}
			if ok {
				idom[w] = d
			}
		}
	}
	return idom
}

func contains(s []int32, x int32) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

func analyze(t testing.TB, g *heapgraph.Graph) *Analysis {
	t.Helper()
	a, err := Analyze(context.Background(), g, Options{})
	if err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	return a
}

func pathKeys(a *Analysis) []string {
	var out []string
	for _, p := range a.Paths {
		out = append(out, fmt.Sprintf("%s: %d objects %d B retained %d", p.Key(), p.Objects, p.Bytes, p.Retained))
	}
	sort.Strings(out)
	return out
}
