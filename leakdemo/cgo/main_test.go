package main

import (
	"testing"

	"github.com/leakhunt/leakhunt/leakdemo/internal/proof"
)

// serve runs n requests and returns how much RSS and the Go heap grew.
func serve(t *testing.T, fixed bool, n int) (rss, heap uint64) {
	baseHeap := proof.Heap()
	baseRSS := proof.RSS(t)
	s := &server{fixed: fixed}
	for i := range n {
		s.handle(i)
	}
	heap = proof.Growth(baseHeap)
	if r := proof.RSS(t); r > baseRSS {
		rss = r - baseRSS
	}
	return rss, heap
}

func TestLeak(t *testing.T) {
	const n = 1000 // 62.5 MiB of C memory if none is freed
	// The fixed variant first: it then starts from a heap the leaky run
	// has not grown.
	frss, fheap := serve(t, true, n)
	lrss, lheap := serve(t, false, n)
	t.Logf("after %d requests: leaky RSS +%s, Go heap +%s; fixed RSS +%s, Go heap +%s",
		n, proof.Size(lrss), proof.Size(lheap), proof.Size(frss), proof.Size(fheap))
	if lrss < 48*proof.MiB {
		t.Errorf("leaky variant's RSS grew %s, want at least 48 MiB", proof.Size(lrss))
	}
	if lheap > proof.MiB {
		t.Errorf("leaky variant's Go heap grew %s, want at most 1 MiB: the leak is outside it", proof.Size(lheap))
	}
	if frss > 8*proof.MiB {
		t.Errorf("fixed variant's RSS grew %s, want at most 8 MiB", proof.Size(frss))
	}
}
