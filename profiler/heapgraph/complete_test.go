package heapgraph

import "testing"

// TestNothingMissing checks the roots are complete: bigheap runs a full
// collection (which sweeps every span) just before it is dumped, so every
// allocated object but the few allocated since (printing "ready") and the
// ones only goroutine stacks hold (no stack roots are given here) is
// reachable. A root left out would leave thousands unreachable.
func TestNothingMissing(t *testing.T) {
	for _, tc := range toolchains {
		t.Run(tc, func(t *testing.T) {
			t.Parallel()
			bin := buildProg(t, "bigheap", tc)
			cmd, _ := startProg(t, bin, "BIGHEAP_OBJECTS=100000", "BIGHEAP_MB=4")
			core := dumpCore(t, cmd.Process.Pid)
			g := buildFromCore(t, core, bin)
			lost := g.Stats.Allocated - g.Stats.Reachable
			t.Logf("%d allocated, %d reachable", g.Stats.Allocated, g.Stats.Reachable)
			if g.Stats.Reachable < 100000 || lost > 16 {
				t.Errorf("%d of %d allocated objects are unreachable", lost, g.Stats.Allocated)
			}
		})
	}
}
