package heapgraph

import (
	"strings"
	"testing"
)

// TestMidGC dumps cores of a program whose garbage collector runs all the
// time, until one is stopped mid-mark or mid-sweep, and checks the counts
// of every core exactly: the walk marks from the roots itself, so stale
// alloc bits and black allocation change nothing.
func TestMidGC(t *testing.T) {
	for _, tc := range toolchains {
		t.Run(tc, func(t *testing.T) {
			t.Parallel()
			bin := buildProg(t, "churn", tc)
			cmd, _ := startProg(t, bin)
			midGC := 0
			for try := 0; try < 6 && midGC < 2; try++ {
				core := dumpCore(t, cmd.Process.Pid)
				g := buildFromCore(t, core, bin)
				names := byName(g)
				if n := len(names["main.keep"]); n != 5000 {
					t.Errorf("core %d: %d main.keep reachable, want 5000 (notes %q)", try, n, g.Stats.Notes)
				}
				if n := len(names["main.churned"]); n > 1 {
					t.Errorf("core %d: %d main.churned reachable, want at most 1", try, n)
				}
				for _, n := range g.Stats.Notes {
					if strings.Contains(n, "mark phase") || strings.Contains(n, "sweeping") {
						midGC++
						t.Logf("core %d: %s; %d allocated, %d reachable", try, n, g.Stats.Allocated, g.Stats.Reachable)
						break
					}
				}
			}
			if midGC == 0 {
				t.Log("no core was taken mid-GC: the counts were checked on quiescent heaps only")
			}
		})
	}
}
