package main

import (
	"runtime"
	"testing"
	"time"

	"github.com/leakhunt/leakhunt/leakdemo/internal/proof"
)

// serve runs n requests and returns how many goroutines are left over after
// every request has returned.
func serve(fixed bool, n int) int {
	base := runtime.NumGoroutine()
	s := &server{fixed: fixed, every: time.Hour}
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
	t.Logf("after %d requests: leaky +%d goroutines, fixed +%d", n, leaky, fixed)
	if leaky < n {
		t.Errorf("leaky variant left %d goroutines, want %d (one heartbeat per request)", leaky, n)
	}
	if fixed > 0 {
		t.Errorf("fixed variant left %d goroutines, want 0", fixed)
	}
}
