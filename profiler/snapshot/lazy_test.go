package snapshot

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

// realHeapData is a real heap profile (runtime/pprof, Go 1.26) as a file holds it.
func realHeapData(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile("../analyze/testdata/real-heap-old.pprof")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestDecodeLazy checks that a lazily decoded snapshot keeps the heap
// profile encoded, decodes it on demand to what DecodeBytes gives, and
// encodes back to a snapshot DecodeBytes reads.
func TestDecodeLazy(t *testing.T) {
	t.Parallel()
	p, err := profile.ParseData(realHeapData(t))
	if err != nil {
		t.Fatal(err)
	}
	s := &Snapshot{Target: Target{Program: "benchtarget"}, Capture: Capture{Source: SourceHTTP}, Heap: p}
	var buf bytes.Buffer
	if err := s.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	eager, err := DecodeBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	lazy, err := DecodeLazy(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if lazy.Heap != nil || len(lazy.HeapData) == 0 || !lazy.HasHeap() {
		t.Fatalf("lazy snapshot: Heap %v, %d bytes of HeapData", lazy.Heap != nil, len(lazy.HeapData))
	}
	if lazy.Target.Program != "benchtarget" {
		t.Errorf("target %+v", lazy.Target)
	}
	// Saved again while still encoded, it reads back the same.
	var again bytes.Buffer
	if err := lazy.Encode(&again); err != nil {
		t.Fatal(err)
	}
	back, err := DecodeBytes(again.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	hp, err := lazy.HeapProfile()
	if err != nil {
		t.Fatal(err)
	}
	if lazy.HeapData != nil || lazy.Heap != hp {
		t.Error("HeapProfile did not replace HeapData by Heap")
	}
	for name, q := range map[string]*profile.Profile{"HeapProfile": hp, "re-encoded": back.Heap} {
		if !reflect.DeepEqual(q, eager.Heap) {
			t.Errorf("%s: heap profile differs from DecodeBytes'", name)
		}
	}
}

// TestEncodeRawHeapData checks that uncompressed HeapData is gzipped when
// saved, as the snapshot format wants.
func TestEncodeRawHeapData(t *testing.T) {
	t.Parallel()
	p, err := profile.ParseData(realHeapData(t))
	if err != nil {
		t.Fatal(err)
	}
	var raw bytes.Buffer
	if err := p.WriteUncompressed(&raw); err != nil {
		t.Fatal(err)
	}
	s := &Snapshot{HeapData: raw.Bytes()}
	var buf bytes.Buffer
	if err := s.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := DecodeBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if back.Heap == nil || len(back.Heap.Sample) != len(p.Sample) {
		t.Fatalf("re-read heap profile: %v", back.Heap)
	}
}

func TestHeapProfileDamaged(t *testing.T) {
	t.Parallel()
	data := realHeapData(t)
	s := &Snapshot{Capture: Capture{Source: SourceFile, Address: "heap.pb.gz"}, HeapData: data[:len(data)/2]}
	_, err := s.HeapProfile()
	if err == nil || !strings.HasPrefix(err.Error(), "heap.pb.gz: damaged heap profile: ") {
		t.Fatalf("error %v", err)
	}
	if s.Heap != nil || len(s.HeapData) == 0 {
		t.Error("a failed decode changed the snapshot")
	}
}
