// Package leakdemo holds leakhunt's demo programs — small services that leak
// on purpose, each with its fix, and controls that only look like leaks — and
// embeds their sources so that an installed leakhunt can build them (see
// profiler/demo and `leakhunt demo`).
//
// Each demo is a standalone program in leakdemo/NAME, using the standard
// library only (and cgo for the cgo demo); the code they share is in
// leakdemo/internal/demo. README.md lists them, their flags, and how the
// memory profiler is switched on or off.
package leakdemo

import (
	"embed"
	"io/fs"
)

// Sources holds the demos' Go sources, tests left out: NAME/main.go and
// NAME/doc.go for each demo, and internal/demo/*.go, which they all import.
// A demo whose code grows beyond main.go must be added here.
//
//go:embed */main.go */doc.go internal/demo/*.go
var Sources embed.FS

// Kind says what a demo shows.
type Kind string

// The kinds of demo.
const (
	// Leaky demos leak unless run with -fixed.
	Leaky Kind = "leaky"
	// Control demos do not leak but look like it at first.
	Control Kind = "control"
	// Race is the data-race demo: run it built with -race.
	Race Kind = "race"
)

// Demo describes one demo program.
type Demo struct {
	// Name is the demo's directory under leakdemo/ and its binary's name.
	Name string `json:"name"`
	// Kind says whether it leaks, is a control, or races.
	Kind Kind `json:"kind"`
	// Summary is what it shows, in one line.
	Summary string `json:"summary"`
	// Cgo says it needs cgo (and a C compiler) to build.
	Cgo bool `json:"cgo,omitempty"`
}

// demos lists every demo, leaks first, then controls, then the race.
var demos = []Demo{
	{Name: "cache", Kind: Leaky, Summary: "unbounded memoization map, never evicted (the lru_cache trap)"},
	{Name: "subslice", Kind: Leaky, Summary: "a 16-byte header sub-slice pins its whole 32 KiB packet buffer"},
	{Name: "sender", Kind: Leaky, Summary: "goroutine leak: forgotten sender blocked on an unbuffered send after the caller timed out"},
	{Name: "ranger", Kind: Leaky, Summary: "goroutine leak: receiver ranging over a channel nobody closes"},
	{Name: "worker", Kind: Leaky, Summary: "goroutine leak: per-request worker started with no way to stop it (the dangling task)"},
	{Name: "context", Kind: Leaky, Summary: "context.WithCancel children never cancelled under a long-lived parent"},
	{Name: "eventlog", Kind: Leaky, Summary: "global slice appended to forever (event log, history)"},
	{Name: "body", Kind: Leaky, Summary: "http.Response.Body never closed: connections, goroutines and fds pile up"},
	{Name: "cgo", Kind: Leaky, Summary: "C.malloc never freed: RSS grows while the Go heap stays flat", Cgo: true},
	{Name: "bounded", Kind: Control, Summary: "LRU cache that warms up, then plateaus (not a leak)"},
	{Name: "sawtooth", Kind: Control, Summary: "large temporary buffer every 2 s: the heap saws up and down (not a leak)"},
	{Name: "pool", Kind: Control, Summary: "fixed pool of idle workers blocked on receive (not a leak)"},
	{Name: "race", Kind: Race, Summary: "n = n + 1 from 8 goroutines loses updates; go build -race catches it"},
}

// List returns every demo, leaks first, then controls, then the race. The
// slice is a copy.
func List() []Demo {
	return append([]Demo(nil), demos...)
}

// Lookup returns the demo called name.
func Lookup(name string) (Demo, bool) {
	for _, d := range demos {
		if d.Name == name {
			return d, true
		}
	}
	return Demo{}, false
}

// Files returns the paths in Sources needed to build demo name: its own
// files and the shared internal/demo package, tests excluded.
func Files(name string) ([]string, error) {
	var files []string
	for _, dir := range []string{name, "internal/demo"} {
		ents, err := fs.ReadDir(Sources, dir)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if !e.IsDir() && !isTest(e.Name()) {
				files = append(files, dir+"/"+e.Name())
			}
		}
	}
	return files, nil
}

func isTest(name string) bool {
	return len(name) > len("_test.go") && name[len(name)-len("_test.go"):] == "_test.go"
}
