package main

import (
	"runtime"
	"testing"

	"github.com/leakhunt/leakhunt/leakdemo/internal/proof"
)

// TestPlateau shows the pool's goroutine count is the pool's size, whether
// it ran ten jobs or a thousand, and that Close ends them all.
func TestPlateau(t *testing.T) {
	base := runtime.NumGoroutine()
	p := newPool()
	for i := range 10 {
		p.Do(i)
	}
	early := runtime.NumGoroutine() - base
	for i := range 1000 {
		p.Do(i)
	}
	late := runtime.NumGoroutine() - base
	p.Close()
	after := proof.Goroutines(base) - base
	t.Logf("goroutines: +%d after 10 jobs, +%d after 1010 jobs, +%d after Close", early, late, after)
	if early != poolSize || late != poolSize {
		t.Errorf("goroutines +%d then +%d, want +%d both times", early, late, poolSize)
	}
	if after != 0 {
		t.Errorf("%d goroutines left after Close, want 0", after)
	}
}
