package main

import (
	"context"
	"os"
	"runtime"
	"testing"

	"github.com/leakhunt/leakhunt/leakdemo/internal/proof"
)

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("counting file descriptors needs /proc: %v", err)
	}
	return len(ents)
}

// serve makes n calls to a local backend and returns the goroutines and file
// descriptors that are left over while the backend still runs.
func serve(t *testing.T, fixed bool, n int) (goroutines, fds int, heap uint64) {
	b, err := startBackend()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c := newClient(fixed, b.url)
	defer c.http.CloseIdleConnections()
	baseG, baseFD, baseHeap := runtime.NumGoroutine(), openFDs(t), proof.Heap()
	for i := range n {
		if code, err := c.handle(context.Background(), i); err != nil || code != 200 {
			t.Fatalf("request %d: status %d, %v", i, code, err)
		}
	}
	// A reused keep-alive connection costs 3 goroutines (client read and
	// write loops, server handler) and 2 descriptors: allow for it.
	want := baseG + 3
	if !fixed {
		want += 3 * n
	}
	return proof.Goroutines(want) - baseG, openFDs(t) - baseFD, proof.Growth(baseHeap)
}

func TestLeak(t *testing.T) {
	const n = 300
	// The fixed variant first: closing the leaky backend ends many
	// goroutines, which would upset the fixed variant's baseline.
	fg, ffd, fheap := serve(t, true, n)
	lg, lfd, lheap := serve(t, false, n)
	t.Logf("after %d calls: leaky +%d goroutines, +%d fds, heap +%s; fixed +%d goroutines, +%d fds, heap +%s",
		n, lg, lfd, proof.Size(lheap), fg, ffd, proof.Size(fheap))
	if lg < 2*n || lfd < n {
		t.Errorf("leaky variant left %d goroutines and %d fds, want at least %d and %d", lg, lfd, 2*n, n)
	}
	if fg > 3 || ffd > 2 {
		t.Errorf("fixed variant left %d goroutines and %d fds, want at most 3 and 2 (one keep-alive connection)", fg, ffd)
	}
}
