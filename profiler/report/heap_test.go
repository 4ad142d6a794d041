package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/leakhunt/leakhunt/profiler/analyze"
	"github.com/leakhunt/leakhunt/profiler/snapshot"
	"github.com/leakhunt/leakhunt/profiler/source"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// golden compares got with testdata/NAME, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// fixtures loads real profiles captured from a Go 1.26 program (see
// ../source/testdata/README.md) into two snapshots a minute apart.
func fixtures(t *testing.T) (old, new *snapshot.Snapshot) {
	t.Helper()
	load := func(name string) *snapshot.Snapshot {
		s, err := source.LoadFile(filepath.Join("../source/testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	old = load("heap.pb.gz")
	old.Goroutines = load("goroutine-debug2.txt").Goroutines
	old.MemStats = load("heap-debug1.txt").MemStats
	new = load("allocs.pb.gz")
	new.Goroutines = load("goroutine-debug2-go1.27-leaked.txt").Goroutines
	new.MemStats = load("heap-debug1.txt").MemStats
	for i, s := range []*snapshot.Snapshot{old, new} {
		s.Target = snapshot.Target{Program: "probe", PID: 3242}
		s.Capture.Time = time.Date(2026, 11, 25, 10, i, 0, 0, time.UTC)
	}
	return old, new
}

func TestTopGolden(t *testing.T) {
	old, _ := fixtures(t)
	src := func(file string, line int) string {
		if line == 21 {
			return "sink = append(sink, make([]byte, 100000))"
		}
		return ""
	}
	for _, by := range []analyze.Key{analyze.ByLine, analyze.ByFunction, analyze.ByFile, analyze.ByStack} {
		t.Run(string(by), func(t *testing.T) {
			top, err := analyze.HeapTop(old, analyze.HeapOptions{By: by}, 5)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := Top(&buf, old, top, HeapOptions{Source: src}); err != nil {
				t.Fatal(err)
			}
			golden(t, "top-"+string(by)+".txt", buf.Bytes())
		})
	}
}

func TestDiffGolden(t *testing.T) {
	old, new := fixtures(t)
	d, err := analyze.CompareSnapshots(old, new, analyze.DiffOptions{N: 5})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Diff(&buf, old, new, d, HeapOptions{}); err != nil {
		t.Fatal(err)
	}
	golden(t, "diff.txt", buf.Bytes())
}

func TestStatsGolden(t *testing.T) {
	_, new := fixtures(t)
	new.Process = &snapshot.Process{RSS: 12 << 20, PeakRSS: 14 << 20}
	var buf bytes.Buffer
	if err := Stats(&buf, analyze.Summarize(new), 0); err != nil {
		t.Fatal(err)
	}
	golden(t, "stats.txt", buf.Bytes())
}

func TestWriteCut(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteCut(&buf, 8, "short\nthis line is long\né€ünïcødé!\n"); err != nil {
		t.Fatal(err)
	}
	if want := "short\nthis li…\né€ünïcø…\n"; buf.String() != want {
		t.Errorf("got %q, want %q", buf.String(), want)
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 20: "5.0 MiB", -2048: "-2.0 KiB", 3 << 30: "3.0 GiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
	if got := SignedBytes(1024); got != "+1.0 KiB" {
		t.Errorf("SignedBytes = %q", got)
	}
	if got := ShortFile("/a/b/c/d.go"); got != "c/d.go" {
		t.Errorf("ShortFile = %q", got)
	}
}
