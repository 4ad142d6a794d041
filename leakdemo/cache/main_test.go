package main

import (
	"runtime"
	"testing"

	"github.com/leakhunt/leakhunt/leakdemo/internal/proof"
)

// serve runs n requests against a fresh server and returns how much the live
// heap grew while the server is still in use.
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
	const n = 20000 // about 20 MiB of pages if none is freed
	leaky := serve(false, n)
	fixed := serve(true, n)
	t.Logf("after %d requests: leaky heap +%s, fixed heap +%s", n, proof.Size(leaky), proof.Size(fixed))
	if leaky < 16*proof.MiB {
		t.Errorf("leaky variant grew %s, want at least 16 MiB", proof.Size(leaky))
	}
	if fixed > 1*proof.MiB {
		t.Errorf("fixed variant grew %s, want at most 1 MiB (256 pages)", proof.Size(fixed))
	}
}
