package main

import (
	"runtime"
	"testing"

	"github.com/leakhunt/leakhunt/leakdemo/internal/proof"
)

// serve runs n uploads and returns how many goroutines are left over: every
// chunk has been received by then, so a tally goroutine still alive is one
// waiting for a close that never comes.
func serve(fixed bool, n int) int {
	base := runtime.NumGoroutine()
	s := &server{fixed: fixed}
	for i := range n {
		s.handle(i)
	}
	want := base
	if !fixed {
		want += n
	}
	return proof.Goroutines(want) - base
}

func TestLeak(t *testing.T) {
	const n = 500
	leaky := serve(false, n)
	fixed := serve(true, n)
	t.Logf("after %d uploads: leaky +%d goroutines, fixed +%d", n, leaky, fixed)
	if leaky < n {
		t.Errorf("leaky variant left %d goroutines, want %d (one per upload)", leaky, n)
	}
	if fixed > 0 {
		t.Errorf("fixed variant left %d goroutines, want 0", fixed)
	}
}
