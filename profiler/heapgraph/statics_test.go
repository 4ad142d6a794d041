package heapgraph

import (
	"sort"
	"strings"
	"testing"
)

// reachedFrom returns, for each object, the sorted names of the roots
// that reach it.
func reachedFrom(g *Graph) [][]string {
	names := make([]map[string]bool, len(g.Addr))
	for r := range g.Roots {
		seen := map[int32]bool{}
		stack := append([]int32(nil), g.RootTo[g.RootOut[r]:g.RootOut[r+1]]...)
		for len(stack) > 0 {
			x := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[x] {
				continue
			}
			seen[x] = true
			if names[x] == nil {
				names[x] = map[string]bool{}
			}
			names[x][g.Roots[r].Name] = true
			stack = append(stack, g.To[g.Out[x]:g.Out[x+1]]...)
		}
	}
	out := make([][]string, len(g.Addr))
	for i, m := range names {
		for n := range m {
			out[i] = append(out[i], n)
		}
		sort.Strings(out[i])
	}
	return out
}

// TestStatics checks package variables initialised with composite
// literals, whose objects the linker lays out in data: the heap objects
// those static objects hold are reached from roots named after the
// variables, with labels that go through the static objects, and from no
// root named after a neighbouring symbol. Both Go versions and a PIE,
// from cores.
func TestStatics(t *testing.T) {
	type build struct {
		name, toolchain string
		flags           []string
	}
	// A position-independent executable is loaded with a bias.
	builds := []build{{"pie", "local", []string{"-buildmode=pie"}}}
	for _, tc := range toolchains {
		builds = append(builds, build{tc, tc, nil})
	}
	for _, b := range builds {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			bin := buildProg(t, "statics", b.toolchain, b.flags...)
			cmd, _ := startProg(t, bin)
			core := dumpCore(t, cmd.Process.Pid)
			g := typedGraph(t, core, bin)
			names := byName(g)
			from := reachedFrom(g)
			for _, w := range []struct {
				typ   string
				count int
				root  string
			}{
				{"main.session", 12, "main.sessions"},
				{"main.chainItem", 5, "main.sessions"},
				{"main.hit", 3, "main.handlers"},
			} {
				objs := names[w.typ]
				if len(objs) != w.count {
					t.Errorf("%s: %d objects, want %d", w.typ, len(objs), w.count)
				}
				for _, o := range objs {
					if got := strings.Join(from[o], ", "); got != w.root {
						t.Errorf("%s at %#x is reached from %q, want %s only", w.typ, g.Addr[o], got, w.root)
						break
					}
				}
			}
			// Runtime roots say so; the program's do not.
			for _, c := range []struct {
				name    string
				runtime bool
			}{{"runtime.allp", true}, {"runtime.allm", true}, {"main.sessions", false}, {"main.handlers", false}} {
				rs := rootsNamed(g, c.name)
				if len(rs) == 0 {
					t.Errorf("no root %s", c.name)
				}
				for _, r := range rs {
					if g.Roots[r].Runtime() != c.runtime {
						t.Errorf("root %s: Runtime() is %v", c.name, !c.runtime)
					}
				}
			}
			// The roots' labels start with the path to the static object.
			labels := map[string][]string{}
			for r, root := range g.Roots {
				if strings.Contains(root.Name, "stmp") || strings.Contains(root.Name, "+0x") {
					t.Errorf("root %q: named after a linker symbol or with an offset into one", root.Name)
				}
				if root.Name != "main.sessions" && root.Name != "main.handlers" {
					continue
				}
				for e := g.RootOut[r]; e < g.RootOut[r+1]; e++ {
					labels[root.Name] = append(labels[root.Name], g.Label(r, true, g.RootOff[e])+" → "+g.Types[g.Type[g.RootTo[e]]].Name)
				}
			}
			for name, want := range map[string][]string{
				"main.sessions": {".byID → map[int]*main.session", ".next.items → []*main.chainItem (backing array)"},
				"main.handlers": {"[1].hits → []*main.hit (backing array)"},
			} {
				got := labels[name]
				sort.Strings(got)
				if strings.Join(got, "; ") != strings.Join(want, "; ") {
					t.Errorf("root %s: pointers %q, want %q", name, got, want)
				}
			}
		})
	}
}
