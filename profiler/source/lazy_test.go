package source

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime/pprof"
	"testing"

	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

// TestLazyHeap checks that a file target's heap profile stays encoded with
// Options.LazyHeap, and that other profiles load as without it.
func TestLazyHeap(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	heap, err := os.ReadFile("../analyze/testdata/real-heap-old.pprof")
	if err != nil {
		t.Fatal(err)
	}
	var gr bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&gr, 0); err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	heapPath, grPath := write("heap.pb.gz", heap), write("goroutine.pb.gz", gr.Bytes())

	t.Run("heap", func(t *testing.T) {
		s, err := Capture(t.Context(), Target{Kind: snapshot.SourceFile, Path: heapPath}, Options{LazyHeap: true})
		if err != nil {
			t.Fatal(err)
		}
		if s.Heap != nil || len(s.HeapData) == 0 {
			t.Fatalf("heap profile decoded (%v) or missing (%d bytes)", s.Heap != nil, len(s.HeapData))
		}
		if s.Capture.Source != snapshot.SourceFile || s.Capture.Address != heapPath {
			t.Errorf("capture %+v", s.Capture)
		}
		p, err := s.HeapProfile()
		if err != nil || len(p.Sample) == 0 {
			t.Fatalf("HeapProfile: %v", err)
		}
		eager, err := LoadFile(heapPath)
		if err != nil {
			t.Fatal(err)
		}
		if eager.Heap == nil || len(eager.Heap.Sample) != len(p.Sample) {
			t.Errorf("eager load: %d samples, lazy %d", len(eager.Heap.Sample), len(p.Sample))
		}
	})
	t.Run("goroutine", func(t *testing.T) {
		s, err := Capture(t.Context(), Target{Kind: snapshot.SourceFile, Path: grPath}, Options{LazyHeap: true})
		if err != nil {
			t.Fatal(err)
		}
		if s.HasHeap() || !s.HasGoroutines() {
			t.Fatalf("goroutine profile: heap %v, %d goroutines", s.HasHeap(), len(s.Goroutines))
		}
	})
}
