package main

import (
	"runtime"
	"testing"

	"github.com/leakhunt/leakhunt/leakdemo/internal/proof"
)

// TestPlateau shows the cache grows while it warms up, then stops: after
// ten times as many requests again it holds what it held when full.
func TestPlateau(t *testing.T) {
	base := proof.Heap()
	s := newServer()
	i := 0
	for ; i < cacheSize; i++ {
		s.handle(i)
	}
	warm := proof.Growth(base)
	for ; i < 10*cacheSize; i++ {
		s.handle(i)
	}
	later := proof.Growth(base)
	runtime.KeepAlive(s)
	t.Logf("heap +%s when full (%d requests), +%s after %d requests", proof.Size(warm), cacheSize, proof.Size(later), i)
	if warm < 2*proof.MiB {
		t.Errorf("warm-up grew %s, want at least 2 MiB: the cache should look like a leak at first", proof.Size(warm))
	}
	if later > warm+proof.MiB/4 {
		t.Errorf("heap kept growing after the cache was full: %s then %s", proof.Size(warm), proof.Size(later))
	}
}
