package analyze

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/pprof/profile"

	"github.com/leakhunt/leakhunt/profiler/snapshot"
	"github.com/leakhunt/leakhunt/scripts/genprofile/heapgen"
)

// The benchmarks time what a user waits for: from the profile's bytes (as
// read from the file) to the statistics, parse included. "pprof-parse" is
// the old way (profile.Parse, then grouping), "direct" the fast path
// (snapshot.HeapData read by heapproto). The large inputs are generated once
// per benchmark binary: 760k samples, about 53 MB uncompressed, like
// `go run ./scripts/genprofile`.
//
//	go test ./profiler/analyze -run '^$' -bench . -benchtime 3x -count 6 -benchmem >bench.txt
//	benchstat -col /path bench.txt

var large struct {
	once     sync.Once
	old, new []byte
	err      error
}

func largeProfiles(b *testing.B) (old, new []byte) {
	large.once.Do(func() {
		dir, err := os.MkdirTemp("", "leakhunt-bench-")
		if err != nil {
			large.err = err
			return
		}
		defer os.RemoveAll(dir)
		write := func(name string, grow float64) []byte {
			path := filepath.Join(dir, name)
			f, err := os.Create(path)
			if err != nil {
				large.err = err
				return nil
			}
			if err := heapgen.Generate(760000, 1, grow).Write(f); err != nil {
				large.err = err
			}
			f.Close()
			data, err := os.ReadFile(path)
			if err != nil {
				large.err = err
			}
			return data
		}
		large.old = write("old.pb.gz", 0)
		large.new = write("new.pb.gz", 3)
	})
	if large.err != nil {
		b.Fatal(large.err)
	}
	return large.old, large.new
}

type benchInput struct {
	name     string
	old, new func(b *testing.B) []byte
}

var benchInputs = []benchInput{
	{"real", func(b *testing.B) []byte { return mustRead(b, realOld) }, func(b *testing.B) []byte { return mustRead(b, realNew) }},
	{"large", func(b *testing.B) []byte { o, _ := largeProfiles(b); return o }, func(b *testing.B) []byte { _, n := largeProfiles(b); return n }},
}

// load turns a profile's bytes into a snapshot the way a loader does.
func load(b *testing.B, data []byte, direct bool) *snapshot.Snapshot {
	if direct {
		return &snapshot.Snapshot{HeapData: data}
	}
	p, err := profile.ParseData(data)
	if err != nil {
		b.Fatal(err)
	}
	return &snapshot.Snapshot{Heap: p}
}

func BenchmarkHeapTop(b *testing.B) {
	for _, in := range benchInputs {
		for _, mode := range []string{"pprof-parse", "direct"} {
			b.Run(in.name+"/path="+mode, func(b *testing.B) {
				data := in.old(b)
				b.SetBytes(int64(len(data)))
				b.ResetTimer()
				for b.Loop() {
					if _, err := HeapTop(load(b, data, mode == "direct"), HeapOptions{}, 10); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkCompareSnapshots(b *testing.B) {
	for _, in := range benchInputs {
		for _, mode := range []string{"pprof-parse", "direct"} {
			b.Run(in.name+"/path="+mode, func(b *testing.B) {
				old, new := in.old(b), in.new(b)
				b.SetBytes(int64(len(old) + len(new)))
				b.ResetTimer()
				for b.Loop() {
					direct := mode == "direct"
					if _, err := CompareSnapshots(load(b, old, direct), load(b, new, direct), DiffOptions{N: 10}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
