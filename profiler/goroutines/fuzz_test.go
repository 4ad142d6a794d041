package goroutines

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseDump feeds ParseDump mutations of real dumps (the fixture's, and
// the Go 1.26 and 1.27 dumps of ../source/testdata): it must never panic, and
// what it returns must group without losing a goroutine.
func FuzzParseDump(f *testing.F) {
	var seeds []string
	for _, pattern := range []string{"testdata/*.txt", "../source/testdata/goroutine-debug2*.txt"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, m...)
	}
	if len(seeds) == 0 {
		f.Fatal("no seed dumps found")
	}
	for _, path := range seeds {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		// A short piece too: the fuzzer mutates small inputs faster.
		if i := bytes.Index(data[min(len(data), 600):], []byte("\n\n")); i >= 0 {
			f.Add(data[:min(len(data), 600)+i+2])
		}
	}
	f.Add([]byte("goroutine 1 [running]:\n"))
	f.Add([]byte("goroutine 7 [chan send, 3 minutes, locked to thread]:\nmain.f(...)\n\t/a.go:1\ncreated by main.main in goroutine 1\n\t/a.go:2 +0x1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		gs, err := ParseDump(bytes.NewReader(data))
		if err != nil {
			return
		}
		total := 0
		for _, by := range []GroupBy{ByStack, BySite} {
			total = 0
			for _, g := range Groups(gs, GroupOptions{By: by}) {
				total += g.Count
			}
			if total != len(gs) {
				t.Fatalf("%s groups hold %d goroutines, parsed %d", by, total, len(gs))
			}
		}
	})
}
