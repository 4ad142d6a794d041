package main

import (
	"testing"

	"github.com/leakhunt/leakhunt/leakdemo/internal/proof"
)

func serve(fixed bool, n int) uint64 {
	history, ring, next = nil, [ringSize]event{}, 0
	base := proof.Heap()
	for i := range n {
		handle(i, fixed)
	}
	return proof.Growth(base)
}

func TestLeak(t *testing.T) {
	const n = 40000 // 40000 events of about 300 bytes
	leaky := serve(false, n)
	fixed := serve(true, n)
	t.Logf("after %d requests: leaky heap +%s, fixed heap +%s", n, proof.Size(leaky), proof.Size(fixed))
	if leaky < 10*proof.MiB {
		t.Errorf("leaky variant grew %s, want at least 10 MiB", proof.Size(leaky))
	}
	// The ring holds 1024 events: about 0.3 MiB.
	if fixed > proof.MiB/2 {
		t.Errorf("fixed variant grew %s, want at most 0.5 MiB", proof.Size(fixed))
	}
}
