package main

import (
	"runtime"
	"testing"

	"github.com/leakhunt/leakhunt/leakdemo/internal/proof"
)

// TestPlateau shows that the live heap after a GC does not grow however
// many reports are built, although each one allocates 16 MiB.
func TestPlateau(t *testing.T) {
	var before, after runtime.MemStats
	base := proof.Heap()
	runtime.ReadMemStats(&before)
	var most uint64
	const rounds = 20
	for i := range rounds {
		report(i, 0)
		most = max(most, proof.Growth(base))
	}
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d reports allocated %s; live heap after GC grew at most %s", rounds, proof.Size(allocated), proof.Size(most))
	if allocated < rounds*reportSize {
		t.Errorf("allocated %s, want at least %s: the sawtooth should be real", proof.Size(allocated), proof.Size(rounds*reportSize))
	}
	if most > proof.MiB {
		t.Errorf("live heap after GC grew %s, want at most 1 MiB", proof.Size(most))
	}
}
