package refs

import (
	"context"
	"fmt"
	"math/rand"
	"testing"

	"github.com/leakhunt/leakhunt/profiler/heapgraph"
)

// idomOf returns the immediate dominator of every reachable node, by node.
func idomOf(t *testing.T, v *view) map[int32]int32 {
	t.Helper()
	dom, err := dominators(context.Background(), v)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[int32]int32)
	for d := 1; d < len(dom.order); d++ {
		out[dom.order[d]] = dom.order[dom.idom[d]]
	}
	return out
}

// TestDominatorsLengauerTarjan checks the example graph of Lengauer and
// Tarjan's paper (1979, figure 1), entered through one root.
func TestDominatorsLengauerTarjan(t *testing.T) {
	names := "RABCDEFGHIJKL"
	idx := func(c byte) int { return int(c - 'A' + 1) }
	id := func(c byte) int {
		if c == 'R' {
			return 0
		}
		return idx(c)
	}
	// Objects 0..12 are R, A..L.
	edges := []string{"r0->0"}
	for _, e := range []string{"RA", "RB", "RC", "AD", "BA", "BD", "BE", "CF", "CG", "DL", "EH", "FI", "GI", "GJ", "HE", "HK", "IK", "JI", "KI", "KR", "LH"} {
		edges = append(edges, fmt.Sprintf("%d->%d", id(e[0]), id(e[1])))
	}
	types := make([]string, 13)
	for i := range types {
		types[i] = "T"
	}
	g := build(t, spec{types: types, roots: []string{"main.r"}, edges: edges})
	v, err := newView(g)
	if err != nil {
		t.Fatal(err)
	}
	got := idomOf(t, v)
	want := map[byte]byte{'A': 'R', 'B': 'R', 'C': 'R', 'D': 'R', 'E': 'R', 'F': 'C', 'G': 'C', 'H': 'R', 'I': 'R', 'J': 'G', 'K': 'R', 'L': 'D'}
	for w, d := range want {
		if g, e := got[v.node(id(w))], v.node(id(d)); g != e {
			t.Errorf("idom(%c) = node %d, want %c (node %d)", w, g, d, e)
		}
	}
	if r := got[v.node(0)]; r != v.rootNode(0) {
		t.Errorf("idom(R) = node %d, want the root (node %d)", r, v.rootNode(0))
	}
	_ = names
}

// TestDominatorsRandom compares the semi-NCA result with the definition on
// random graphs with several roots, cycles and unreachable objects.
func TestDominatorsRandom(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewSource(7))
	for iter := 0; iter < 300; iter++ {
		n := 1 + rng.Intn(40)
		nroots := 1 + rng.Intn(4)
		s := spec{types: make([]string, n)}
		for i := range s.types {
			s.types[i] = "T"
		}
		for r := 0; r < nroots; r++ {
			s.roots = append(s.roots, fmt.Sprintf("main.r%d", r))
			for k := rng.Intn(3); k >= 0; k-- {
				s.edges = append(s.edges, fmt.Sprintf("r%d->%d", r, rng.Intn(n)))
			}
		}
		for k := rng.Intn(3 * n); k >= 0; k-- {
			s.edges = append(s.edges, fmt.Sprintf("%d->%d", rng.Intn(n), rng.Intn(n)))
		}
		g := build(t, s)
		v, err := newView(g)
		if err != nil {
			t.Fatal(err)
		}
		got := idomOf(t, v)
		want := bruteDominators(v)
		if len(got) != len(want) {
			t.Fatalf("graph %d: %d nodes with a dominator, want %d (%v)", iter, len(got), len(want), s.edges)
		}
		for w, d := range want {
			if got[w] != d {
				t.Fatalf("graph %d %v: idom(%d) = %d, want %d", iter, s.edges, w, got[w], d)
			}
		}
	}
}

// TestDominatorsDeepList checks that a million-object linked list (a
// million-deep depth-first search) needs no recursion.
func TestDominatorsDeepList(t *testing.T) {
	t.Parallel()
	const n = 1 << 20
	g := &heapgraph.Graph{Types: []heapgraph.Type{{}, {Name: "main.node"}}}
	g.Addr, g.Size, g.Type = make([]uint64, n), make([]uint64, n), make([]heapgraph.TypeID, n)
	g.Out, g.To, g.Off = make([]int64, n+1), make([]int32, 0, n), make([]uint32, 0, n)
	for i := 0; i < n; i++ {
		g.Addr[i], g.Size[i], g.Type[i] = 0x10000+uint64(i)*16, 16, 1
		if i+1 < n {
			g.To = append(g.To, int32(i+1))
			g.Off = append(g.Off, 8)
		}
		g.Out[i+1] = int64(len(g.To))
	}
	g.Roots = []heapgraph.Root{{Kind: heapgraph.RootGlobal, Name: "main.list"}}
	g.RootOut, g.RootTo, g.RootOff = []int64{0, 1}, []int32{0}, []uint32{0}
	a := analyze(t, g)
	if a.Totals.Objects != n || a.Totals.Bytes != 16*n {
		t.Fatalf("totals %+v, want %d objects", a.Totals, n)
	}
	if len(a.Roots) != 1 || a.Roots[0].Retained != 16*n {
		t.Fatalf("roots %+v, want main.list retaining %d B", a.Roots, 16*n)
	}
	// All nodes after the first have the same repeated path.
	if len(a.Paths) != 2 {
		t.Fatalf("paths: %v", pathKeys(a))
	}
}
