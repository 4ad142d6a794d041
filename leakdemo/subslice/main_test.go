package main

import (
	"runtime"
	"testing"

	"github.com/leakhunt/leakhunt/leakdemo/internal/proof"
)

func serve(fixed bool, n int) uint64 {
	base := proof.Heap()
	s := newServer(fixed)
	for i := range n {
		s.handle(i)
	}
	g := proof.Growth(base)
	runtime.KeepAlive(s)
	return g
}

func TestLeak(t *testing.T) {
	const n = 2000 // 2000 headers of 16 bytes, or 62.5 MiB of pinned packets
	leaky := serve(false, n)
	fixed := serve(true, n)
	t.Logf("after %d requests: leaky heap +%s, fixed heap +%s", n, proof.Size(leaky), proof.Size(fixed))
	if leaky < 48*proof.MiB {
		t.Errorf("leaky variant grew %s, want at least 48 MiB", proof.Size(leaky))
	}
	// The ring and the header storage are 0.5 MiB, allocated up front.
	if fixed > 1*proof.MiB {
		t.Errorf("fixed variant grew %s, want at most 1 MiB", proof.Size(fixed))
	}
}
