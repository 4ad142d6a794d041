package heapproto

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"runtime/pprof"
	"testing"

	"github.com/google/pprof/profile"

	"github.com/leakhunt/leakhunt/scripts/genprofile/heapgen"
)

// realProfiles are heap profiles written by runtime/pprof (Go 1.26) from
// scripts/benchtarget, 3 s apart.
var realProfiles = []string{
	"../analyze/testdata/real-heap-old.pprof",
	"../analyze/testdata/real-heap-new.pprof",
}

// ownProfile returns this process's heap or goroutine profile as
// runtime/pprof writes it: real, and from the Go that runs the test.
func ownProfile(t testing.TB, name string) []byte {
	t.Helper()
	// Live allocations, so that the heap profile has in-use samples too.
	var live [][]byte
	for i := 0; i < 2000; i++ {
		live = append(live, make([]byte, 1024+i%4096))
	}
	runtime.GC()
	var buf bytes.Buffer
	if err := pprof.Lookup(name).WriteTo(&buf, 0); err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(live)
	return buf.Bytes()
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// generated returns a synthetic heap profile as profile.Write encodes it.
func generated(t testing.TB, n int, grow float64) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := heapgen.Generate(n, 7, grow).Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// canonical describes a Profile independently of the order locations were
// numbered in: each stack resolved to its locations.
type canonStack struct {
	Loc   []Location
	Value []int64
	First []int32
}

type canon struct {
	SampleType []ValueType
	Stack      []canonStack
	Total      []int64
	Samples    int
	Locations  int
}

func canonical(p *Profile) canon {
	c := canon{SampleType: p.SampleType, Total: p.Total, Samples: p.Samples, Locations: len(p.Location)}
	for _, st := range p.Stack {
		cs := canonStack{Value: st.Value, First: st.First, Loc: []Location{}}
		for _, l := range st.Loc {
			cs.Loc = append(cs.Loc, p.Location[l])
		}
		c.Stack = append(c.Stack, cs)
	}
	return c
}

// viaParse is the reference: profile.ParseData, then FromProfile.
func viaParse(data []byte) (*Profile, error) {
	p, err := profile.ParseData(data)
	if err != nil {
		return nil, err
	}
	return FromProfile(p)
}

func checkSame(t *testing.T, data []byte) {
	t.Helper()
	want, err := viaParse(data)
	if err != nil {
		t.Fatalf("profile.Parse: %v", err)
	}
	got, err := Decode(data)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	cw, cg := canonical(want), canonical(got)
	if !reflect.DeepEqual(cw, cg) {
		t.Fatalf("Decode differs from profile.Parse: %d/%d stacks, %d/%d samples, totals %v/%v",
			len(cg.Stack), len(cw.Stack), cg.Samples, cw.Samples, cg.Total, cw.Total)
	}
	if got.Samples == 0 || len(got.Stack) == 0 {
		t.Fatalf("no samples decoded")
	}
}

func TestDecodeMatchesParse(t *testing.T) {
	t.Parallel()
	for _, path := range realProfiles {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			checkSame(t, readFile(t, path))
		})
	}
	t.Run("own-heap", func(t *testing.T) { checkSame(t, ownProfile(t, "heap")) })
	for _, grow := range []float64{0, 3} {
		t.Run(fmt.Sprintf("generated-grow%g", grow), func(t *testing.T) {
			t.Parallel()
			data := generated(t, 30000, grow)
			checkSame(t, data)
			// Uncompressed too.
			p, err := profile.ParseData(data)
			if err != nil {
				t.Fatal(err)
			}
			var raw bytes.Buffer
			if err := p.WriteUncompressed(&raw); err != nil {
				t.Fatal(err)
			}
			checkSame(t, raw.Bytes())
		})
	}
}

// pb is a minimal protobuf writer for hand-made profiles.
type pb struct{ b []byte }

func (e *pb) varint(u uint64) {
	for u >= 0x80 {
		e.b = append(e.b, byte(u)|0x80)
		u >>= 7
	}
	e.b = append(e.b, byte(u))
}

func (e *pb) num(field int, u uint64) { e.varint(uint64(field)<<3 | 0); e.varint(u) }

func (e *pb) bytes(field int, b []byte) {
	e.varint(uint64(field)<<3 | 2)
	e.varint(uint64(len(b)))
	e.b = append(e.b, b...)
}

func msg(fn func(*pb)) []byte { var e pb; fn(&e); return e.b }

// handmade is a profile with what profile.Write never produces: unpacked
// repeated fields, samples before the locations they use, a huge location
// ID, a location without lines, a sample without locations, string and
// numeric labels with units, an unknown field, zero-valued samples.
func handmade() []byte {
	var e pb
	strs := []string{"", "alloc_objects", "count", "alloc_space", "bytes", "inuse_objects", "inuse_space",
		"main.leak", "/app/main.go", "main.main", "bytes", "request", "/api", "space", "", "io.ReadAll", "/go/io.go"}
	for _, vt := range [][2]uint64{{1, 2}, {3, 4}, {5, 2}, {6, 4}} {
		e.bytes(1, msg(func(m *pb) { m.num(1, vt[0]); m.num(2, vt[1]) }))
	}
	sample := func(locs []uint64, vals []int64, packed bool, labels ...[]byte) {
		e.bytes(2, msg(func(m *pb) {
			if packed {
				m.bytes(1, msg(func(p *pb) {
					for _, l := range locs {
						p.varint(l)
					}
				}))
			} else {
				for _, l := range locs {
					m.num(1, l)
				}
			}
			for _, v := range vals {
				m.num(2, uint64(v))
			}
			for _, l := range labels {
				m.bytes(3, l)
			}
		}))
	}
	numLabel := msg(func(m *pb) { m.num(1, 10); m.num(3, 4096); m.num(4, 4) })
	strLabel := msg(func(m *pb) { m.num(1, 11); m.num(2, 12) })
	sample([]uint64{1, 9_000_000}, []int64{3, 300, 1, 100}, false, numLabel, strLabel)
	sample([]uint64{2, 9_000_000}, []int64{0, 0, 0, 0}, true)
	sample([]uint64{2, 9_000_000}, []int64{5, 500, 2, 200}, true, numLabel)
	sample(nil, []int64{1, 10, 1, 10}, false)
	sample([]uint64{1, 9_000_000}, []int64{1, 64, 0, 0}, true)
	sample([]uint64{3}, []int64{1, 8, 1, 8}, true)
	e.bytes(99, []byte("ignored"))
	e.bytes(3, msg(func(m *pb) { m.num(1, 1); m.num(2, 0x400000); m.num(3, 0x500000); m.num(7, 1) }))
	e.bytes(4, msg(func(m *pb) {
		m.num(1, 1)
		m.num(2, 1)
		m.num(3, 0x401000)
		m.bytes(4, msg(func(l *pb) { l.num(1, 3); l.num(2, 12) })) // inlined io.ReadAll
		m.bytes(4, msg(func(l *pb) { l.num(1, 1); l.num(2, 22) }))
	}))
	e.bytes(4, msg(func(m *pb) {
		m.num(1, 2)
		m.num(3, 0x401100)
		m.bytes(4, msg(func(l *pb) { l.num(1, 1); l.num(2, 30); l.num(3, 7) }))
	}))
	e.bytes(4, msg(func(m *pb) { m.num(1, 3); m.num(3, 0x40ffff) })) // no lines: an address only
	e.bytes(4, msg(func(m *pb) {
		m.num(1, 9_000_000)
		m.bytes(4, msg(func(l *pb) { l.num(1, 2); l.num(2, 5) }))
	}))
	e.bytes(5, msg(func(m *pb) { m.num(1, 1); m.num(2, 7); m.num(3, 7); m.num(4, 8); m.num(5, 20) }))
	e.bytes(5, msg(func(m *pb) { m.num(1, 2); m.num(2, 9); m.num(4, 8) }))
	e.bytes(5, msg(func(m *pb) { m.num(1, 3); m.num(2, 15); m.num(4, 16) }))
	for _, s := range strs {
		e.bytes(6, []byte(s))
	}
	e.num(9, 1_700_000_000_000_000_000)
	e.bytes(11, msg(func(m *pb) { m.num(1, 13); m.num(2, 4) }))
	e.num(12, 524288)
	e.num(13, 11)
	return e.b
}

func TestDecodeHandmade(t *testing.T) {
	t.Parallel()
	data := handmade()
	checkSame(t, data)
	got, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	// Samples 2 and 3 share a stack: merged, the first non-zero values from sample 2.
	if len(got.Stack) != 4 || got.Samples != 6 {
		t.Fatalf("got %d stacks of %d samples, want 4 of 6", len(got.Stack), got.Samples)
	}
	if st := got.Stack[1]; !reflect.DeepEqual(st.Value, []int64{5, 500, 2, 200}) || !reflect.DeepEqual(st.First, []int32{2, 2, 2, 2}) {
		t.Errorf("merged stack: values %v first %v", st.Value, st.First)
	}
	if st := got.Stack[0]; !reflect.DeepEqual(st.First, []int32{0, 0, 0, 0}) || st.Value[2] != 1 {
		t.Errorf("first stack: values %v first %v", st.Value, st.First)
	}
	if !reflect.DeepEqual(got.Total, []int64{11, 882, 5, 318}) {
		t.Errorf("totals %v", got.Total)
	}
}

// TestDecodeDamaged checks that Decode never accepts what profile.Parse
// refuses, and reads what both accept identically, on truncated and
// corrupted real profiles.
func TestDecodeDamaged(t *testing.T) {
	t.Parallel()
	inputs := [][]byte{handmade()}
	p, err := profile.ParseData(readFile(t, realProfiles[0]))
	if err != nil {
		t.Fatal(err)
	}
	var raw bytes.Buffer
	if err := p.WriteUncompressed(&raw); err != nil {
		t.Fatal(err)
	}
	inputs = append(inputs, raw.Bytes())
	accepted, refused := 0, 0
	for i, in := range inputs {
		for _, cut := range []int{0, 1, 2, 7, len(in) / 3, len(in) / 2, len(in) - 1} {
			if d := agree(t, in[:cut]); d {
				accepted++
			} else {
				refused++
			}
		}
		for j := 0; j < 400; j++ {
			bad := bytes.Clone(in)
			pos := (j*7919 + i*104729) % len(bad)
			bad[pos] ^= byte(1 << (j % 8))
			if agree(t, bad) {
				accepted++
			} else {
				refused++
			}
		}
	}
	if accepted == 0 || refused == 0 {
		t.Fatalf("damaged inputs: %d accepted, %d refused: the test does not exercise both", accepted, refused)
	}
}

// agree checks Decode against profile.Parse on data and reports whether
// Decode accepted it.
func agree(t *testing.T, data []byte) bool {
	t.Helper()
	got, err := Decode(data)
	want, perr := viaParse(data)
	if err != nil {
		// Refusing too much only costs speed (analyze falls back to
		// profile.Parse), but it should not happen for protobuf data.
		if p, perr := profile.ParseUncompressed(data); perr == nil && p.CheckValid() == nil {
			t.Errorf("Decode refused what profile.Parse reads: %v", err)
		}
		return false
	}
	if perr != nil {
		t.Fatalf("Decode accepted what profile.Parse refuses (%v)", perr)
	}
	if !reflect.DeepEqual(canonical(got), canonical(want)) {
		t.Fatalf("Decode and profile.Parse read damaged data differently")
	}
	return true
}

func FuzzDecode(f *testing.F) {
	for _, path := range realProfiles {
		f.Add(readFile(f, path))
	}
	f.Add(handmade())
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Decode(data)
		if err != nil {
			return
		}
		want, perr := viaParse(data)
		if perr != nil {
			t.Fatalf("Decode accepted what profile.Parse refuses (%v)", perr)
		}
		if !reflect.DeepEqual(canonical(got), canonical(want)) {
			t.Fatalf("Decode and profile.Parse read it differently")
		}
	})
}

func TestIsHeap(t *testing.T) {
	t.Parallel()
	p, err := profile.ParseData(ownProfile(t, "goroutine"))
	if err != nil {
		t.Fatal(err)
	}
	var raw bytes.Buffer
	if err := p.WriteUncompressed(&raw); err != nil {
		t.Fatal(err)
	}
	if IsHeap(raw.Bytes()) {
		t.Error("a goroutine profile taken for a heap profile")
	}
	if !IsHeap(handmade()) {
		t.Error("a heap profile not recognised")
	}
	real, err := Gunzip(readFile(t, realProfiles[0]))
	if err != nil {
		t.Fatal(err)
	}
	if !IsHeap(real) {
		t.Error("a real heap profile not recognised")
	}
}
