package heapgraph

import (
	"strings"
	"testing"
)

// TestFinalizerTypes checks that what only finalizers and cleanups keep
// alive is typed and labelled: objects captured by finalizer closures,
// cleanup arguments (boxed by AddCleanup, typed from the cleanup
// function's parameter), and objects whose finalizers are queued behind a
// blocked one (typed from the finalizer's ot), with what they point to.
// Both Go versions, from cores.
func TestFinalizerTypes(t *testing.T) {
	for _, tc := range toolchains {
		t.Run(tc, func(t *testing.T) {
			t.Parallel()
			bin := buildProg(t, "finq", tc)
			cmd, _ := startProg(t, bin)
			core := dumpCore(t, cmd.Process.Pid)
			g := typedGraph(t, core, bin)
			names := byName(g)
			from := reachedFrom(g)
			tname := func(i int, root bool) string {
				if root {
					return "root " + g.Roots[i].Name
				}
				return g.Types[g.Type[i]].Name
			}
			for _, w := range []struct {
				typ   string
				count int
				// root: the start of the names of the roots reaching the
				// objects; from and label: what points to each.
				root, from, label string
			}{
				{"main.captured", 3, "finalizer function of *main.finObj", "main.main.func1 (closure)", "closure var c"},
				{"*main.cleanupArg", 2, "cleanup of ", "root cleanup of ", ".arg"},
				{"main.cleanupArg", 2, "cleanup of ", "*main.cleanupArg", ""},
				{"main.queuedObj", 4, "queued finalizers", "root queued finalizers", "[*].arg"},
				{"main.queuedLeaf", 4, "queued finalizers", "main.queuedObj", ".leaf"},
				// The runtime's handle of main.weakPtr, an 8-byte word.
				{"internal/runtime/atomic.Uintptr", 1, "", "root weak pointer handle of ", ""},
			} {
				objs := names[w.typ]
				if len(objs) != w.count {
					t.Errorf("%s: %d objects, want %d", w.typ, len(objs), w.count)
				}
				in := inEdges(g, objs)
				for _, o := range objs {
					for _, r := range from[o] {
						if !strings.HasPrefix(r, w.root) {
							t.Errorf("%s at %#x is reached from root %q, want only roots named %q...", w.typ, g.Addr[o], r, w.root)
						}
					}
					ok := false
					var seen []string
					for _, e := range in[o] {
						f := tname(e.from, e.root)
						l := anyIndex.ReplaceAllString(e.label, "[*]")
						seen = append(seen, f+" "+l)
						if strings.HasPrefix(f, w.from) && l == w.label {
							ok = true
						}
					}
					if !ok {
						t.Errorf("%s at %#x: pointed to by %q, want %s with label %q", w.typ, g.Addr[o], seen, w.from, w.label)
						break
					}
				}
			}
		})
	}
}
