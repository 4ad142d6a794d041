package heapgraph

import (
	"fmt"
	"testing"
)

// byName counts reachable objects per type name.
func byName(g *Graph) map[string][]int {
	out := map[string][]int{}
	for i, t := range g.Type {
		n := g.Types[t].Name
		out[n] = append(out[n], i)
	}
	return out
}

func rootsNamed(g *Graph, name string) []int {
	var out []int
	for i, r := range g.Roots {
		if r.Name == name {
			out = append(out, i)
		}
	}
	return out
}

// TestCounts checks exact counts, slot sizes, pointers and roots of the
// counts program's heap, built by both Go versions, from a core. counts
// does not use runtime/pprof: its memory profiler is off.
func TestCounts(t *testing.T) {
	type variant struct {
		name, toolchain string
		flags           []string
	}
	var variants []variant
	for _, tc := range toolchains {
		variants = append(variants, variant{tc, tc, nil})
	}
	variants = append(variants,
		// Without Green Tea, small spans have no inline mark bits before
		// their heap bits.
		variant{"nogreenteagc", "local+nogreenteagc", nil},
		// A position-independent executable is loaded with a bias.
		variant{"pie", "local", []string{"-buildmode=pie"}},
	)
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			bin := buildProg(t, "counts", v.toolchain, v.flags...)
			cmd, lines := startProg(t, bin)
			var stackAddr uint64
			for _, l := range lines {
				fmt.Sscanf(l, "stack %v", &stackAddr)
			}
			if stackAddr == 0 {
				t.Fatalf("counts printed no stack address: %q", lines)
			}
			core := dumpCore(t, cmd.Process.Pid)
			g := buildFromCore(t, core, bin, StackVar{Goroutine: 99, Func: "main.main.func2", Name: "p", Addr: stackAddr, Size: 8})
			checkCounts(t, g)
		})
	}
}

func checkCounts(t *testing.T, g *Graph) {
	t.Helper()
	t.Logf("stats: %+v", g.Stats)
	names := byName(g)
	want := []struct {
		name  string
		count int
		size  uint64
	}{
		{"main.withHeader", 100, 704},
		{"main.large", 5, 40960},
		{"main.onDemand", 2, 163840},
		{"main.onDemandLeaf", 2, 576},
		{"main.keptByFinalizer", 3, 576},
		{"main.garbage", 0, 0},
		{"main.stackOnly", 1, 576},
		{"main.finalized", 0, 0},
		{"[]*main.withHeader (backing array)", 1, 1152},
		{"[]*main.small (backing array)", 1, 8192},
	}
	for _, w := range want {
		objs := names[w.name]
		if len(objs) != w.count {
			t.Errorf("%s: %d reachable objects, want %d", w.name, len(objs), w.count)
		}
		for _, i := range objs {
			if g.Size[i] != w.size {
				t.Errorf("%s at %#x: slot size %d, want %d", w.name, g.Addr[i], g.Size[i], w.size)
				break
			}
		}
	}
	// Each withHeader points to the previous one (at 8+640: the header,
	// then a) and to its leaf, a 16-byte object.
	withHeader := names["main.withHeader"]
	twoEdges := 0
	for _, i := range withHeader {
		var next, leaf int
		for e := g.Out[i]; e < g.Out[i+1]; e++ {
			to := g.To[e]
			switch g.Off[e] {
			case 8 + 640:
				if g.Types[g.Type[to]].Name != "main.withHeader" {
					t.Errorf("withHeader.next points to a %s", g.Types[g.Type[to]].Name)
				}
				next++
			case 8 + 648:
				if g.Size[to] != 16 {
					t.Errorf("withHeader.leaf points to a %d-byte object", g.Size[to])
				}
				leaf++
			default:
				t.Errorf("withHeader has a pointer at offset %d", g.Off[e])
			}
		}
		if leaf != 1 || next > 1 {
			t.Errorf("withHeader at %#x: %d leaf and %d next pointers", g.Addr[i], leaf, next)
		}
		if next == 1 {
			twoEdges++
		}
	}
	if twoEdges != 99 {
		t.Errorf("%d withHeaders point to a previous one, want 99", twoEdges)
	}
	// many's backing array: 100000 pointers, each to its own 16-byte
	// object, more than one scanning batch.
	if arr := names["[]*main.manyLeaf (backing array)"]; len(arr) != 1 {
		t.Errorf("%d []*main.manyLeaf backing arrays, want 1", len(arr))
	} else {
		i := arr[0]
		seen := map[int32]bool{}
		for e := g.Out[i]; e < g.Out[i+1]; e++ {
			if g.Off[e] != uint32(e-g.Out[i])*8 || g.Size[g.To[e]] != 16 {
				t.Fatalf("many[%d]: pointer at offset %d to a %d-byte object", e-g.Out[i], g.Off[e], g.Size[g.To[e]])
			}
			seen[g.To[e]] = true
		}
		if len(seen) != 100000 {
			t.Errorf("many points to %d objects, want 100000", len(seen))
		}
	}
	// Roots.
	for _, c := range []struct {
		root  string
		edges int
	}{{"main.headers", 1}, {"main.onDemands", 2}, {"main.larges", 1}, {"main.iface", 1}, {"goroutine 99 main.main.func2: p", 1}} {
		rs := rootsNamed(g, c.root)
		if len(rs) != 1 {
			t.Errorf("%d roots named %s, want 1", len(rs), c.root)
			continue
		}
		if n := g.RootOut[rs[0]+1] - g.RootOut[rs[0]]; int(n) != c.edges {
			t.Errorf("root %s has %d pointers, want %d", c.root, n, c.edges)
		}
	}
	if rs := rootsNamed(g, "main.sink"); len(rs) != 0 {
		t.Errorf("main.sink is nil but is a root")
	}
	fin := rootsNamed(g, "finalizer of *main.finalized")
	if len(fin) != 3 {
		t.Errorf("%d finalizer roots, want 3", len(fin))
	}
	for _, r := range fin {
		for e := g.RootOut[r]; e < g.RootOut[r+1]; e++ {
			if n := g.Types[g.Type[g.RootTo[e]]].Name; n != "main.keptByFinalizer" || g.RootOff[e] != 560 {
				t.Errorf("finalizer root points to a %s at offset %d", n, g.RootOff[e])
			}
		}
	}
	if g.Stats.Allocated < g.Stats.Reachable || g.Stats.Reachable != len(g.Addr) {
		t.Errorf("stats: %d allocated, %d reachable, %d objects", g.Stats.Allocated, g.Stats.Reachable, len(g.Addr))
	}
	for i := 1; i < len(g.Addr); i++ {
		if g.Addr[i] <= g.Addr[i-1] {
			t.Fatalf("objects not in address order at %d", i)
		}
	}
}
