package snapshot

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

func realHeap(t testing.TB) *profile.Profile {
	t.Helper()
	f, err := os.Open("../source/testdata/heap.pb.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func sample(t testing.TB) *Snapshot {
	rate := 524288
	main := Frame{Function: "main.main", File: "/src/main.go", Line: 23}
	t.Helper()
	return &Snapshot{
		Target: Target{Program: "api", Path: "/bin/api", Args: []string{"/bin/api", "-v"}, PID: 42, GoVersion: "go1.26.8"},
		Capture: Capture{Source: SourceHTTP, Address: "http://127.0.0.1:6060/debug/pprof/",
			Time: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), Duration: 20 * time.Millisecond,
			MemProfileRate: &rate, Notes: []string{"a note"}},
		Heap: realHeap(t),
		Goroutines: []Goroutine{
			{ID: 1, State: "IO wait", Frames: []Frame{{Function: "net.(*TCPListener).Accept", File: "/go/net/tcpsock.go", Line: 387, Args: "0xc0001"}, main}},
			{ID: 8, State: "chan send", Wait: 5 * time.Minute, Leaked: true, Frames: []Frame{{Function: "main.leak", File: "/src/main.go", Line: 13, Inlined: true}},
				CreatedBy: &main, CreatorID: 1, Labels: map[string]string{"req": "7"}},
			{ID: 9, State: "chan send", Frames: []Frame{{Function: "main.leak", File: "/src/main.go", Line: 13, Inlined: true}}, CreatedBy: &main, CreatorID: 1},
			{ID: 10, State: "running", Frames: []Frame{{Function: "main.f", Vars: []Var{{Name: "n", Type: "int", Value: "3", Arg: true}}}}},
		},
		MemStats: &MemStats{HeapAlloc: 100, NumGC: 3, GCCPUFraction: 0.5},
		Process:  &Process{RSS: 4096, PeakRSS: 8192, Threads: 5},
	}
}

func TestRoundTrip(t *testing.T) {
	s := sample(t)
	var buf bytes.Buffer
	if err := s.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Goroutines, s.Goroutines) {
		t.Errorf("goroutines differ:\n got %+v\nwant %+v", got.Goroutines, s.Goroutines)
	}
	if !reflect.DeepEqual(got.Target, s.Target) || !reflect.DeepEqual(got.Capture, s.Capture) ||
		!reflect.DeepEqual(got.MemStats, s.MemStats) || !reflect.DeepEqual(got.Process, s.Process) {
		t.Errorf("metadata differs:\n got %+v %+v\nwant %+v %+v", got.Target, got.Capture, s.Target, s.Capture)
	}
	if got.Heap.String() != s.Heap.String() {
		t.Error("heap profile differs after the round trip")
	}
}

// TestHeapMemberIsPlainPprof checks the promise in docs/snapshot-format.md:
// heap.pb.gz inside the archive is a profile any pprof tool reads.
func TestHeapMemberIsPlainPprof(t *testing.T) {
	var buf bytes.Buffer
	if err := sample(t).Encode(&buf); err != nil {
		t.Fatal(err)
	}
	s, err := DecodeBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if s.Heap == nil || len(s.Heap.Sample) == 0 {
		t.Fatal("no heap after decode")
	}
}

func TestDecodeErrors(t *testing.T) {
	var good bytes.Buffer
	if err := sample(t).Encode(&good); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrNotSnapshot},
		{"text", []byte("hello"), ErrNotSnapshot},
		{"truncated", good.Bytes()[:good.Len()/2], ErrNotSnapshot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeBytes(tt.data); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSave(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.lhsnap")
	s := sample(t)
	if err := s.Save(path, false); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %o, want 600", fi.Mode().Perm())
	}
	if err := s.Save(path, false); !errors.Is(err, fs.ErrExist) && (err == nil || !bytes.Contains([]byte(err.Error()), []byte("file exists"))) {
		t.Errorf("second Save: err = %v, want file exists", err)
	}
	if err := s.Save(path, true); err != nil {
		t.Errorf("Save with overwrite: %v", err)
	}
	loaded, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Target.Program != "api" {
		t.Errorf("loaded program %q", loaded.Target.Program)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d files in the directory, want 1 (no temporary file left)", len(entries))
	}
}

func FuzzDecodeBytes(f *testing.F) {
	var buf bytes.Buffer
	if err := sample(f).Encode(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeBytes(data)
		if err == nil && s == nil {
			t.Fatal("nil snapshot without an error")
		}
	})
}
