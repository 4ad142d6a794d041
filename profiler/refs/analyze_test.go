package refs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

// sharedSpec: main.a holds a map-like cache of three entries, one of which
// points at a buffer that main.b holds too; main.c holds a two-node cycle;
// one entry is garbage.
var sharedSpec = spec{
	types: []string{"main.cache", "main.entry", "main.entry", "main.entry", "main.buf", "main.node", "main.node", "main.entry"},
	sizes: []uint64{48, 32, 32, 32, 1024, 16, 16, 32},
	roots: []string{"main.a", "main.b", "main.c"},
	edges: []string{"r0->0", "r1->4", "r2->5", "0->1", "0->2", "0->3", "1->4", "5->6", "6->5", "7->4"},
}

func TestAnalyzeSharedAndCycles(t *testing.T) {
	a := analyze(t, build(t, sharedSpec))
	want := Totals{Objects: 7, Bytes: 48 + 3*32 + 1024 + 32, Roots: 3, Types: 4, Allocated: 8, AllocatedBytes: 1232,
		SharedObjects: 1, SharedBytes: 1024, Typed: 7}
	if a.Totals != want {
		t.Errorf("totals\n got %+v\nwant %+v", a.Totals, want)
	}
	gotRoots := map[string]RootStat{}
	for _, r := range a.Roots {
		gotRoots[r.Name] = r
	}
	wantRoots := map[string]RootStat{
		"main.a": {Name: "main.a", Kind: "global", Count: 1, Retained: 144, RetainedObjects: 4, Reachable: 144 + 1024, ReachableObjects: 5},
		"main.b": {Name: "main.b", Kind: "global", Count: 1, Retained: 0, RetainedObjects: 0, Reachable: 1024, ReachableObjects: 1},
		"main.c": {Name: "main.c", Kind: "global", Count: 1, Retained: 32, RetainedObjects: 2, Reachable: 32, ReachableObjects: 2},
	}
	if !reflect.DeepEqual(gotRoots, wantRoots) {
		t.Errorf("roots\n got %+v\nwant %+v", gotRoots, wantRoots)
	}
	if a.Roots[0].Name != "main.a" || a.Roots[1].Name != "main.c" || a.Roots[2].Name != "main.b" {
		t.Errorf("roots not sorted by retained size: %+v", a.Roots)
	}
	wantTypes := []TypeStat{
		{Name: "main.buf", Objects: 1, Bytes: 1024, Retained: 1024, RetainedObjects: 1, Samples: []Addr{0x14000}},
		{Name: "main.entry", Objects: 3, Bytes: 96, Retained: 96, RetainedObjects: 3, Samples: []Addr{0x11000, 0x12000, 0x13000}},
		{Name: "main.cache", Objects: 1, Bytes: 48, Retained: 144, RetainedObjects: 4, Samples: []Addr{0x10000}},
		{Name: "main.node", Objects: 2, Bytes: 32, Retained: 32, RetainedObjects: 2, Samples: []Addr{0x15000, 0x16000}},
	}
	if !reflect.DeepEqual(a.Types, wantTypes) {
		t.Errorf("types\n got %+v\nwant %+v", a.Types, wantTypes)
	}
	wantPaths := []string{
		"main.a → *main.cache → *main.entry: 3 objects 96 B retained 96",
		"main.a → *main.cache: 1 objects 48 B retained 144",
		"main.c → *main.node: 1 objects 16 B retained 32",
		"main.c → *main.node…: 1 objects 16 B retained 16",
		"shared by main.a, main.b → *main.buf: 1 objects 1024 B retained 1024",
	}
	if got := pathKeys(a); !reflect.DeepEqual(got, wantPaths) {
		t.Errorf("paths\n got %q\nwant %q", got, wantPaths)
	}
	if a.Paths[0].Root != "shared by main.a, main.b" || !a.Paths[0].Shared {
		t.Errorf("largest path is %+v, want the shared buffer", a.Paths[0])
	}
}

func TestWhy(t *testing.T) {
	a := analyze(t, build(t, sharedSpec))
	objs, err := a.ObjectsOfType("*main.entry")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 3 {
		t.Fatalf("ObjectsOfType(main.entry) = %v, want the 3 live ones", objs)
	}
	chains, err := a.Why(objs, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(chains) != 1 || chains[0].Count != 3 || chains[0].Root != "main.a" || chains[0].HeldBy != "main.a" ||
		len(chains[0].Steps) != 2 || chains[0].Steps[0].Type != "main.cache" || chains[0].Steps[1].Type != "main.entry" {
		t.Fatalf("chains %+v", chains)
	}
	buf, err := a.Find(0x14000 + 100)
	if err != nil || buf != 4 {
		t.Fatalf("Find inside the buffer = %d, %v", buf, err)
	}
	chains, _ = a.Why([]int{buf}, 0, 0)
	if len(chains) != 1 || chains[0].Root != "main.b" || chains[0].HeldBy != "shared by main.a, main.b" || len(chains[0].Steps) != 1 {
		t.Fatalf("buffer chains %+v", chains)
	}
	if _, err := a.Find(0x17000); err == nil || !strings.Contains(err.Error(), "garbage") {
		t.Errorf("Find(garbage) = %v, want a garbage error", err)
	}
	if _, err := a.Find(0x1); err == nil {
		t.Errorf("Find(0x1) found an object")
	}
	if _, err := a.Type("entry"); err == nil || !strings.Contains(err.Error(), "did you mean main.entry") {
		t.Errorf("Type(entry) = %v, want a suggestion", err)
	}
	var dot bytes.Buffer
	all, _ := a.Why(append(objs, buf), 0, 0)
	if err := a.Dot(&dot, all, DotOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"digraph backrefs", `label="main.a"`, `label="main.b"`, "main.entry\\n0x11000", "(3 like it)"} {
		if !strings.Contains(dot.String(), want) {
			t.Errorf("dot output lacks %q:\n%s", want, dot.String())
		}
	}
	var small bytes.Buffer
	a.Dot(&small, all, DotOptions{MaxNodes: 1})
	if strings.Contains(small.String(), "main.buf") {
		t.Errorf("dot with MaxNodes 1 drew a second chain:\n%s", small.String())
	}
}

func TestGoroutineRootsAddUp(t *testing.T) {
	a := analyze(t, build(t, spec{
		types: []string{"[]uint8", "[]uint8", "main.conf"},
		sizes: []uint64{4096, 4096, 64},
		roots: []string{"goroutine 7 main.worker: buf", "goroutine 8 main.worker: buf", "goroutine 9 main.main: conf"},
		edges: []string{"r0->0", "r1->1", "r2->2"},
	}))
	if len(a.Roots) != 2 || a.Roots[0].Name != "goroutine * main.worker: buf" || a.Roots[0].Count != 2 || a.Roots[0].Retained != 8192 || a.Roots[0].Kind != "stack" {
		t.Fatalf("roots %+v", a.Roots)
	}
	if len(a.Paths) != 2 || a.Paths[0].Objects != 2 || a.Paths[0].Key() != "goroutine * main.worker: buf → *[]uint8" {
		t.Fatalf("paths %+v", a.Paths)
	}
}

// TestSameNameRootsRetainTogether checks that what only the frames of one
// function (in several goroutines) reach is retained by that root name, not
// reported as shared; what another root reaches too is shared.
func TestSameNameRootsRetainTogether(t *testing.T) {
	a := analyze(t, build(t, spec{
		types: []string{"chan int", "main.state", "main.state"},
		sizes: []uint64{96, 64, 64},
		roots: []string{"goroutine 7 main.worker: ch", "goroutine 8 main.worker: ch", "goroutine 9 main.worker: ch", "main.global", "goroutine 9 main.worker: st"},
		edges: []string{"r0->0", "r1->0", "r2->0", "r3->1", "r4->1", "r4->2"},
	}))
	got := map[string]RootStat{}
	for _, r := range a.Roots {
		got[r.Name] = r
	}
	if r := got["goroutine * main.worker: ch"]; r.Count != 3 || r.Retained != 96 || r.RetainedObjects != 1 {
		t.Errorf("the workers' channel: %+v, want 3 roots retaining 96 B", r)
	}
	if r := got["goroutine * main.worker: st"]; r.Retained != 64 || r.Reachable != 128 {
		t.Errorf("st: %+v, want 64 B retained, 128 B reachable", r)
	}
	if a.Totals.SharedBytes != 64 || a.Totals.SharedObjects != 1 {
		t.Errorf("shared %d B in %d objects, want the one state main.global shares", a.Totals.SharedBytes, a.Totals.SharedObjects)
	}
	want := "shared by main.global, goroutine * main.worker: st → *main.state"
	found := false
	for _, p := range a.Paths {
		found = found || p.Key() == want
	}
	if !found {
		t.Errorf("no path %q in %q", want, pathKeys(a))
	}
	chains, _ := a.Why([]int{0}, 0, 0)
	if len(chains) != 1 || chains[0].Root != "goroutine 7 main.worker: ch" || chains[0].HeldBy != "goroutine * main.worker: ch" {
		t.Errorf("why the channel: %+v", chains)
	}
}

func TestUnknownTypesBySize(t *testing.T) {
	a := analyze(t, build(t, spec{
		types: []string{"", "", ""},
		sizes: []uint64{48, 48, 8192},
		roots: []string{"main.x"},
		edges: []string{"r0->0", "r0->1", "r0->2"},
	}))
	var names []string
	for _, ty := range a.Types {
		names = append(names, ty.Name)
	}
	if !reflect.DeepEqual(names, []string{"<unknown, 8192 B>", "<unknown, 48 B>"}) || a.Types[1].Objects != 2 || a.Totals.Typed != 0 {
		t.Fatalf("types %+v", a.Types)
	}
}

func TestNormLabel(t *testing.T) {
	for in, want := range map[string]string{
		".conns[3]":        ".conns[]",
		"[12].next":        "[].next",
		`.m["key"]`:        ".m[]",
		"[0x10]":           "[]",
		"(*main.T)":        "(*main.T)",
		"[]*main.T":        "[]*main.T",
		".a[b]":            ".a[b]",
		"map value":        "map value",
		".x[1].y[22][333]": ".x[].y[][]",
	} {
		if got := normLabel(in); got != want {
			t.Errorf("normLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestProfile(t *testing.T) {
	a := analyze(t, build(t, sharedSpec))
	var buf bytes.Buffer
	if err := a.Profile().Write(&buf); err != nil {
		t.Fatal(err)
	}
	p, err := profile.Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.CheckValid(); err != nil {
		t.Fatal(err)
	}
	// A root frame's cumulative inuse_space is what the root retains.
	cum := map[string]int64{}
	for _, s := range p.Sample {
		root := s.Location[len(s.Location)-1].Line[0].Function.Name
		cum[root] += s.Value[1]
		if leaf := s.Location[0].Line[0].Function.Name; !strings.HasPrefix(leaf, "*main.") {
			t.Errorf("leaf frame %q is not a type", leaf)
		}
	}
	want := map[string]int64{"main.a": 144, "main.c": 32, "shared by main.a, main.b": 1024}
	if !reflect.DeepEqual(cum, want) {
		t.Errorf("cumulative inuse_space by root %v, want %v", cum, want)
	}
}

func TestSaveLoad(t *testing.T) {
	a := analyze(t, build(t, sharedSpec))
	a.Notes = append(a.Notes, "a note")
	dir := t.TempDir()
	path := filepath.Join(dir, "a.lhobj")
	if err := a.Save(path, false); err != nil {
		t.Fatal(err)
	}
	if err := a.Save(path, false); err == nil {
		t.Errorf("Save over an existing file succeeded")
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("saved file mode %v, %v; want 0600", fi.Mode(), err)
	}
	data, _ := os.ReadFile(path)
	if !IsAnalysis(data) {
		t.Errorf("IsAnalysis(saved file) = false")
	}
	b, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(b.Types, a.Types) || !reflect.DeepEqual(b.Paths, a.Paths) || !reflect.DeepEqual(b.Roots, a.Roots) ||
		b.Totals != a.Totals || !reflect.DeepEqual(b.Notes, a.Notes) {
		t.Errorf("loaded analysis differs")
	}
	if _, err := b.Why([]int{0}, 0, 0); !errors.Is(err, ErrNoGraph) {
		t.Errorf("Why on a loaded analysis: %v, want ErrNoGraph", err)
	}
	// Junk, truncated and missing files give one clear error.
	junk := filepath.Join(dir, "junk")
	os.WriteFile(junk, []byte("hello"), 0o600)
	if _, err := Load(junk); !errors.Is(err, ErrNotAnalysis) {
		t.Errorf("Load(junk) = %v", err)
	}
	trunc := filepath.Join(dir, "trunc")
	os.WriteFile(trunc, data[:len(data)/2], 0o600)
	if _, err := Load(trunc); err == nil {
		t.Errorf("Load(truncated) succeeded")
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("Load(missing) = %v", err)
	}
}

func TestDiff(t *testing.T) {
	old := analyze(t, build(t, sharedSpec))
	grownSpec := sharedSpec
	grownSpec.types = append(append([]string{}, sharedSpec.types...), "main.entry", "main.entry", "main.newthing")
	grownSpec.sizes = append(append([]uint64{}, sharedSpec.sizes...), 32, 32, 100)
	grownSpec.edges = append(append([]string{}, sharedSpec.edges...), "0->8", "0->9", "r2->10")
	new := analyze(t, build(t, grownSpec))
	d := Diff(old, new)
	if d.Objects != 3 || d.Bytes != 164 {
		t.Errorf("totals change %d objects %d B, want 3 and 164", d.Objects, d.Bytes)
	}
	wantTypes := []Growth{
		{Name: "main.newthing", Objects: 1, Bytes: 100, Retained: 100, ObjectsChange: 1, BytesChange: 100, RetainedChange: 100, New: true},
		{Name: "main.entry", Objects: 5, Bytes: 160, Retained: 160, ObjectsChange: 2, BytesChange: 64, RetainedChange: 64},
		{Name: "main.cache", Objects: 1, Bytes: 48, Retained: 208, ObjectsChange: 0, BytesChange: 0, RetainedChange: 64},
	}
	if !reflect.DeepEqual(d.Types, wantTypes) {
		t.Errorf("types\n got %+v\nwant %+v", d.Types, wantTypes)
	}
	if len(d.Roots) != 2 || d.Roots[0].Name != "main.c" || d.Roots[0].RetainedChange != 100 || d.Roots[1].Name != "main.a" || d.Roots[1].RetainedChange != 64 {
		t.Errorf("roots %+v", d.Roots)
	}
	if len(d.Paths) != 3 || d.Paths[0].Name != "main.c → *main.newthing" || d.Paths[1].Name != "main.a → *main.cache → *main.entry" || d.Paths[2].Name != "main.a → *main.cache" {
		t.Errorf("paths %+v", d.Paths)
	}
	if len(Diff(new, new).Types) != 0 {
		t.Errorf("a diff with itself shows growth")
	}
}

func TestAnalyzeCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	g := build(t, sharedSpec)
	// Small graphs finish before the first check; a canceled context on a
	// big one must stop the walk.
	big := spec{roots: []string{"main.x"}}
	for i := 0; i < 3*cancelEvery; i++ {
		big.types = append(big.types, "T")
		if i > 0 {
			big.edges = append(big.edges, "0->"+itoa(i))
		}
	}
	big.edges = append(big.edges, "r0->0")
	if _, err := Analyze(ctx, build(t, big), Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Analyze with a canceled context: %v", err)
	}
	_ = g
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestMalformedGraph(t *testing.T) {
	g := build(t, sharedSpec)
	g.To[0] = 99
	if _, err := Analyze(context.Background(), g, Options{}); err == nil || !strings.Contains(err.Error(), "malformed graph") {
		t.Errorf("Analyze(bad edge) = %v", err)
	}
	g = build(t, sharedSpec)
	g.Size = g.Size[:2]
	if _, err := Analyze(context.Background(), g, Options{}); err == nil {
		t.Errorf("Analyze(short sizes) succeeded")
	}
}

// TestMapInternalsLeftOut checks that a map's entries have one path whether
// the map is small (one group) or big (directory, tables, group arrays).
func TestMapInternalsLeftOut(t *testing.T) {
	small := analyze(t, build(t, spec{
		types: []string{"map[string]*main.T", "map.group[string]*main.T", "main.T", "main.T"},
		roots: []string{"main.m"},
		edges: []string{"r0->0", "0->1", "1->2", "1->3"},
	}))
	big := analyze(t, build(t, spec{
		types: []string{"map[string]*main.T", "map.dir[string]*main.T", "map.table[string]*main.T", "[]map.group[string]*main.T (backing array)", "main.T", "main.T", "main.T"},
		roots: []string{"main.m"},
		edges: []string{"r0->0", "0->1", "1->2", "2->3", "3->4", "3->5", "3->6"},
	}))
	want := "main.m → *main.T"
	for _, a := range []*Analysis{small, big} {
		found := false
		for _, p := range a.Paths {
			found = found || p.Key() == want
		}
		if !found {
			t.Errorf("no path %q in %q", want, pathKeys(a))
		}
	}
	ok := false
	for _, g := range Diff(small, big).Paths {
		ok = ok || g.Name == want && !g.New && g.ObjectsChange == 1
	}
	if !ok {
		t.Errorf("the entries' path did not grow by one object in the diff")
	}
}

// TestDeepPathElided checks that a path deeper than MaxDepth keeps its
// first steps, "…" and its last step.
func TestDeepPathElided(t *testing.T) {
	s := spec{roots: []string{"main.deep"}, edges: []string{"r0->0"}}
	for i := 0; i < 20; i++ {
		s.types = append(s.types, "main.T"+strconv.Itoa(i))
		if i > 0 {
			s.edges = append(s.edges, strconv.Itoa(i-1)+"->"+strconv.Itoa(i))
		}
	}
	a := analyze(t, build(t, s))
	var last PathStat
	for _, p := range a.Paths {
		if p.Type == "main.T19" {
			last = p
		}
	}
	want := "main.deep → *main.T0 → *main.T1 → *main.T2 → *main.T3 → *main.T4 → *main.T5 → *main.T6 → *main.T7 → *main.T8 → *main.T9 → … → *main.T19"
	if last.Key() != want || len(a.Paths) != 20 {
		t.Errorf("deepest path %q (%d paths), want %q", last.Key(), len(a.Paths), want)
	}
}

func TestEmptyGraphs(t *testing.T) {
	for name, s := range map[string]spec{
		"nothing":        {},
		"roots only":     {roots: []string{"main.a", "main.b"}},
		"garbage only":   {types: []string{"main.T", "main.T"}, edges: []string{"0->1"}},
		"unknown type 0": {types: []string{""}, roots: []string{"main.a"}, edges: []string{"r0->0"}},
	} {
		a := analyze(t, build(t, s))
		var buf bytes.Buffer
		if err := a.WriteTypes(&buf, TextOptions{}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if err := a.WriteRoots(&buf, TextOptions{}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if err := a.Profile().CheckValid(); err != nil {
			t.Errorf("%s: profile: %v", name, err)
		}
		if chains, err := a.Why(nil, 0, 0); err != nil || len(chains) != 0 {
			t.Errorf("%s: Why(nothing) = %v, %v", name, chains, err)
		}
	}
}
