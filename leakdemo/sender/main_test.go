package main

import (
	"runtime"
	"testing"
	"time"

	"github.com/leakhunt/leakhunt/leakdemo/internal/proof"
)

// serve runs n requests and returns how many goroutines are left over once
// every lookup has finished: the leaky variant's slow ones stay blocked on
// their send.
func serve(fixed bool, n int) int {
	base := runtime.NumGoroutine()
	s := &server{fixed: fixed, timeout: time.Millisecond, slow: 20 * time.Millisecond}
	for i := range n {
		s.handle(i)
	}
	s.lookups.Wait()
	want := base
	if !fixed {
		want += n / 4
	}
	return proof.Goroutines(want) - base
}

func TestLeak(t *testing.T) {
	const n = 400 // 100 of them slow: each slow one times out
	leaky := serve(false, n)
	fixed := serve(true, n)
	t.Logf("after %d requests: leaky +%d goroutines, fixed +%d", n, leaky, fixed)
	if leaky < n/4 {
		t.Errorf("leaky variant left %d goroutines, want at least %d (one per timed-out lookup)", leaky, n/4)
	}
	if fixed > 0 {
		t.Errorf("fixed variant left %d goroutines, want 0", fixed)
	}
}
