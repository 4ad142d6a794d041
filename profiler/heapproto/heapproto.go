// Package heapproto decodes Go heap profiles (profile.proto, as runtime/pprof
// writes /debug/pprof/heap) straight into per-stack totals.
//
// github.com/google/pprof/profile.Parse materialises every sample with its
// own location slice, value slice and label maps: for a profile of 760k
// samples that is 1.5 s and a gigabyte of allocations, spent largely on data a
// heap statistic never looks at (the "bytes" label runtime/pprof puts on
// every sample, for one). Decode reads the same bytes in one pass, merges
// samples with the same stack as it goes, and keeps only what grouping needs:
// the sample types, the locations with their (inlined) frames, and for each
// distinct stack its summed values.
//
// Decode accepts only profiles that profile.Parse accepts (it checks what
// Parse checks: wire types, string indexes, IDs, values per sample) and
// describes them exactly as FromProfile describes Parse's result; the tests
// compare the two on real, generated, hand-made and damaged profiles, and a
// fuzz test looks for any input where they differ. On data it refuses it
// returns an error; a caller that wants profile.Parse's own message (or its
// legacy text formats) falls back to Parse, as package analyze does.
package heapproto

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"

	"github.com/google/pprof/profile"
)

// ValueType is one sample type: "inuse_space" in "bytes".
type ValueType struct {
	Type, Unit string
}

// Line is one frame of a location: the function, its file and the line.
type Line struct {
	Function string
	File     string
	Line     int64
}

// Location is a program counter with its frames, innermost inlined call
// first, as in profile.Location.
type Location struct {
	ID      uint64
	Address uint64
	Line    []Line
}

// Stack is one distinct sequence of locations and the sum of the values of
// every sample with it.
type Stack struct {
	// Loc indexes Profile.Location, innermost frame first.
	Loc []int32
	// Value sums each sample type's value over the stack's samples.
	Value []int64
	// First is, for each sample type, the ordinal of the first sample of
	// this stack whose value of that type is not zero; -1 when none is.
	First []int32
}

// Profile is a heap profile reduced to what aggregation needs.
type Profile struct {
	SampleType []ValueType
	Location   []Location
	// Stack lists the distinct stacks in the order their first sample appears.
	Stack []Stack
	// Total sums each sample type's value over all samples.
	Total []int64
	// Samples is the number of samples read.
	Samples int
}

// ErrMalformed is wrapped by the errors Decode returns for data it cannot read.
var ErrMalformed = errors.New("malformed heap profile")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Decode reads a profile in protobuf form, gzipped or not.
func Decode(data []byte) (*Profile, error) {
	if IsGzip(data) {
		raw, err := Gunzip(data)
		if err != nil {
			return nil, fmt.Errorf("decompress profile: %w", err)
		}
		data = raw
	}
	if len(data) == 0 {
		return nil, malformed("empty profile")
	}
	d := newDecoder()
	if err := d.decode(data); err != nil {
		return nil, err
	}
	return d.finish()
}

// IsGzip reports whether data starts like gzip data.
func IsGzip(data []byte) bool { return len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b }

// Gunzip decompresses gzip data into a buffer sized from the gzip trailer
// (the uncompressed size modulo 4 GiB), so that a 50 MB profile is written
// once into one 50 MB buffer instead of into a series of doubling ones.
func Gunzip(data []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Grow(GunzipSize(data))
	if _, err := buf.ReadFrom(zr); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// GunzipSize guesses the uncompressed size of gzip data from its trailer,
// for sizing a buffer; 0 when the trailer is not believable.
func GunzipSize(data []byte) int {
	n := len(data)
	if n < 18 {
		return 0
	}
	size := int(uint32(data[n-4]) | uint32(data[n-3])<<8 | uint32(data[n-2])<<16 | uint32(data[n-1])<<24)
	// Believe the trailer only as far as deflate can compress (1032:1).
	if size <= 0 || size/1032 > n {
		return 0
	}
	return size + bytes.MinRead
}

// FromProfile reduces a parsed profile. It fails only for a sample whose
// number of values differs from the number of sample types, which
// profile.Parse never gives.
func FromProfile(p *profile.Profile) (*Profile, error) {
	hp := &Profile{Samples: len(p.Sample)}
	nv := len(p.SampleType)
	for _, st := range p.SampleType {
		hp.SampleType = append(hp.SampleType, ValueType{Type: st.Type, Unit: st.Unit})
	}
	hp.Total = make([]int64, nv)
	index := make(map[*profile.Location]int32, len(p.Location))
	add := func(l *profile.Location) int32 {
		if i, ok := index[l]; ok {
			return i
		}
		i := int32(len(hp.Location))
		index[l] = i
		loc := Location{ID: l.ID, Address: l.Address, Line: make([]Line, len(l.Line))}
		for j, ln := range l.Line {
			loc.Line[j].Line = ln.Line
			if ln.Function != nil {
				loc.Line[j].Function, loc.Line[j].File = ln.Function.Name, ln.Function.Filename
			}
		}
		hp.Location = append(hp.Location, loc)
		return i
	}
	for _, l := range p.Location {
		add(l)
	}
	sa := newStackSet(nv)
	var locs []int32
	for n, s := range p.Sample {
		if len(s.Value) != nv {
			return nil, fmt.Errorf("damaged heap profile: a sample has %d values of %d", len(s.Value), nv)
		}
		locs = locs[:0]
		for _, l := range s.Location {
			locs = append(locs, add(l))
		}
		sa.add(locs, s.Value, int32(n), hp.Total)
	}
	hp.Stack = sa.stacks
	return hp, nil
}

// stackSet merges samples by stack. Stacks are found by a hash of their
// location indexes and confirmed by comparing them, so no key strings are
// kept; the rare stacks whose hash collides with another's go to a map by
// their full key.
type stackSet struct {
	nv       int
	seed     maphash.Seed
	index    map[uint64]int32
	collided map[string]int32
	stacks   []Stack
	key      []byte
	// Where the stacks' slices are cut from.
	locs   arena[int32]
	values arena[int64]
	firsts arena[int32]
}

func newStackSet(nv int) *stackSet {
	return &stackSet{nv: nv, seed: maphash.MakeSeed(), index: make(map[uint64]int32)}
}

func (sa *stackSet) add(locs []int32, values []int64, n int32, total []int64) {
	sa.key = sa.key[:0]
	for _, l := range locs {
		sa.key = append(sa.key, byte(l), byte(l>>8), byte(l>>16), byte(l>>24))
	}
	h := maphash.Bytes(sa.seed, sa.key)
	i, ok := sa.index[h]
	if ok && !slices.Equal(sa.stacks[i].Loc, locs) {
		i, ok = sa.collided[string(sa.key)]
		if !ok {
			if sa.collided == nil {
				sa.collided = make(map[string]int32)
			}
			i = sa.new(locs)
			sa.collided[string(sa.key)] = i
		}
	} else if !ok {
		i = sa.new(locs)
		sa.index[h] = i
	}
	st := &sa.stacks[i]
	for j, v := range values {
		st.Value[j] += v
		total[j] += v
		if v != 0 && st.First[j] < 0 {
			st.First[j] = n
		}
	}
}

func (sa *stackSet) new(locs []int32) int32 {
	st := Stack{Loc: sa.locs.cut(len(locs)), Value: sa.values.cut(sa.nv), First: sa.firsts.cut(sa.nv)}
	copy(st.Loc, locs)
	for j := range st.First {
		st.First[j] = -1
	}
	sa.stacks = append(sa.stacks, st)
	return int32(len(sa.stacks) - 1)
}

// arena hands out slices cut from a few large arrays, so that many small
// slices cost few allocations. Chunks double from 256 elements up to 64Ki,
// so a small profile stays small.
type arena[T any] struct {
	buf   []T
	chunk int
}

// cut returns the next n elements.
func (a *arena[T]) cut(n int) []T {
	if len(a.buf) < n {
		a.chunk = min(max(2*a.chunk, 256), 64<<10)
		a.buf = make([]T, max(n, a.chunk))
	}
	s := a.buf[:n:n]
	a.buf = a.buf[n:]
	return s
}

// IsHeap reports whether data, an uncompressed profile in protobuf form,
// has the four sample types of a Go heap profile (alloc_objects,
// alloc_space, inuse_objects, inuse_space). It only walks the top-level
// fields, so it is cheap, and it does not check the rest of the profile:
// Decode does.
func IsHeap(data []byte) bool {
	var f field
	var err error
	var types []int64
	var strs []string
	for len(data) > 0 {
		if data, err = next(data, &f); err != nil {
			return false
		}
		switch f.num {
		case fProfileSampleType:
			if f.typ != wireBytes {
				return false
			}
			vt, err := (*decoder)(nil).valueType(f.data)
			if err != nil {
				return false
			}
			types = append(types, vt[0])
		case fProfileString:
			if f.typ != wireBytes {
				return false
			}
			strs = append(strs, string(f.data))
		}
	}
	want := map[string]bool{"alloc_objects": true, "alloc_space": true, "inuse_objects": true, "inuse_space": true}
	n := 0
	for _, t := range types {
		if t >= 0 && t < int64(len(strs)) && want[strs[t]] {
			want[strs[t]] = false
			n++
		}
	}
	return n == 4
}
