package hunt

import "testing"

func TestExplain(t *testing.T) {
	tests := []struct {
		e    Evidence
		want string
	}{
		{Evidence{Kind: "heap", Source: "s.pages[key] = page"}, "unbounded map (the lru_cache / memoize trap)"},
		{Evidence{Kind: "heap", Source: "events = append(events, ev)"}, "a slice that only grows (event log, history, queue)"},
		{Evidence{Kind: "heap", Source: "kept = append(kept, buf[:16])"}, "a small slice pinning a large buffer"},
		{Evidence{Kind: "heap", Source: "return data[off : off+n]"}, "a small slice pinning a large buffer"},
		{Evidence{Kind: "heap", Source: "ctx, _ := context.WithTimeout(parent, time.Second)"}, "contexts never cancelled"},
		{Evidence{Kind: "heap", Source: "if a == b {"}, "memory retained from one allocation site"},
		{Evidence{Kind: "goroutine", State: "chan send"}, "forgotten sender"},
		{Evidence{Kind: "goroutine", State: "chan send (leaked)"}, "forgotten sender"},
		{Evidence{Kind: "goroutine", State: "chan receive", Source: "for job := range jobs {"}, "receiver on a channel nobody closes"},
		{Evidence{Kind: "goroutine", State: "chan receive", Source: "v := <-ch"}, "receiver waiting for a value that never comes"},
		{Evidence{Kind: "goroutine", State: "select"}, "worker with no way to stop (the dangling task)"},
		{Evidence{Kind: "goroutine", State: "sync.Mutex.Lock"}, "lock never released"},
		{Evidence{Kind: "goroutine", State: "sync.WaitGroup.Wait"}, "WaitGroup that never reaches zero"},
		{Evidence{Kind: "goroutine", State: "IO wait"}, "connections never closed"},
		{Evidence{Kind: "goroutine", State: "sleep"}, "polling loop with no stop"},
		{Evidence{Kind: "goroutine", State: "runnable"}, "goroutines that pile up"},
		{Evidence{Kind: "non-go-memory"}, "memory outside the Go heap (cgo, mmap, off-heap buffers)"},
	}
	for _, tt := range tests {
		t.Run(tt.e.Kind+"/"+tt.e.State+"/"+tt.e.Source, func(t *testing.T) {
			if got := Explain(tt.e); got.Name != tt.want {
				t.Errorf("Explain(%+v) = %q, want %q", tt.e, got.Name, tt.want)
			}
		})
	}
}
