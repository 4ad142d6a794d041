package main

import (
	"context"
	"runtime"
	"testing"

	"github.com/leakhunt/leakhunt/leakdemo/internal/proof"
)

func serve(fixed bool, n int) uint64 {
	// A cancellable parent, as a server's base context is: its children
	// register with it.
	base, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := proof.Heap()
	s := &server{fixed: fixed, base: base}
	for i := range n {
		s.handle(i)
	}
	g := proof.Growth(h)
	runtime.KeepAlive(s)
	return g
}

func TestLeak(t *testing.T) {
	const n = 5000 // 10 MiB of request bodies if none is freed
	leaky := serve(false, n)
	fixed := serve(true, n)
	t.Logf("after %d requests: leaky heap +%s, fixed heap +%s", n, proof.Size(leaky), proof.Size(fixed))
	if leaky < 10*proof.MiB {
		t.Errorf("leaky variant grew %s, want at least 10 MiB", proof.Size(leaky))
	}
	if fixed > proof.MiB/4 {
		t.Errorf("fixed variant grew %s, want at most 0.25 MiB", proof.Size(fixed))
	}
}
