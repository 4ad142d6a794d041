//go:build linux && amd64

package attach

import (
	"fmt"
	"math"
	"strings"

	"github.com/go-delve/delve/pkg/proc"
	"github.com/google/pprof/profile"

	"github.com/leakhunt/leakhunt/profiler/pproftext"
)

// memReader reads target memory (a live copy or a core).
type memReader interface {
	ReadMemory(buf []byte, addr uint64) (int, error)
}

func readBytes(m memReader, addr uint64, n int) ([]byte, error) {
	b := make([]byte, n)
	got, err := m.ReadMemory(b, addr)
	if err != nil {
		return nil, err
	}
	if got != n {
		return nil, fmt.Errorf("short read at %#x: %d of %d bytes", addr, got, n)
	}
	return b, nil
}

func readU64(m memReader, addr uint64) (uint64, error) {
	b, err := readBytes(m, addr, 8)
	if err != nil {
		return 0, err
	}
	return le.Uint64(b), nil
}

// memRecordCycle mirrors runtime.memRecordCycle.
type memRecordCycle struct{ allocs, frees, allocBytes, freeBytes int64 }

func (a *memRecordCycle) add(b memRecordCycle) {
	a.allocs += b.allocs
	a.frees += b.frees
	a.allocBytes += b.allocBytes
	a.freeBytes += b.freeBytes
}

type memRecord struct {
	stack  []uint64
	active memRecordCycle
}

// readBuckets walks runtime.mbuckets and combines each bucket's cycles the
// way runtime.MemProfile does: the published (active) cycle plus the cycle
// at index mProfCycle%3, which MemProfile flushes before reading; and when
// no bucket has published data yet (no GC so far), every cycle.
func readBuckets(m memReader, bi *proc.BinaryInfo, l *layout) ([]memRecord, error) {
	head, err := readU64(m, l.sym["runtime.mbuckets"])
	if err != nil {
		return nil, fmt.Errorf("read runtime.mbuckets: %w", err)
	}
	var cycle uint32
	if b, err := readBytes(m, l.sym["runtime.mProfCycle"], 4); err == nil {
		cycle = le.Uint32(b) >> 1
	}
	mr, err := structType(bi, "runtime.memRecord")
	if err != nil {
		return nil, err
	}
	activeOff, err := fieldOffset(mr, "active")
	if err != nil {
		return nil, err
	}
	futureOff, err := fieldOffset(mr, "future")
	if err != nil {
		return nil, err
	}
	cyc, err := structType(bi, "runtime.memRecordCycle")
	if err != nil {
		return nil, err
	}
	var offs [4]int64
	for i, f := range []string{"allocs", "frees", "alloc_bytes", "free_bytes"} {
		if offs[i], err = fieldOffset(cyc, f); err != nil {
			if i < 2 {
				return nil, err
			}
			offs[i] = -1 // Go 1.27 keeps counts only: bytes = count × bucket size
		}
	}
	sizeOff := int64(-1)
	if bt, err := structType(bi, "runtime.bucket"); err == nil {
		sizeOff, _ = fieldOffset(bt, "size")
	}
	cycSize := cyc.Size()
	readCycle := func(b []byte, at int64, size int64) memRecordCycle {
		c := memRecordCycle{allocs: int64(u64(b, at+offs[0])), frees: int64(u64(b, at+offs[1]))}
		if offs[2] >= 0 {
			c.allocBytes, c.freeBytes = int64(u64(b, at+offs[2])), int64(u64(b, at+offs[3]))
		} else {
			c.allocBytes, c.freeBytes = c.allocs*size, c.frees*size
		}
		return c
	}
	index := int64(cycle % 3)
	var recs []memRecord
	var futures [][3]memRecordCycle
	clear := true
	seen := map[uint64]bool{}
	for b := head; b != 0; {
		if seen[b] {
			return nil, fmt.Errorf("memory profile bucket list loops at %#x", b)
		}
		seen[b] = true
		hdr, err := readBytes(m, b, int(l.bucketSize))
		if err != nil {
			return nil, fmt.Errorf("read memory profile bucket: %w", err)
		}
		nstk := u64(hdr, l.bucketNstk)
		if nstk > 1024 {
			return nil, fmt.Errorf("memory profile bucket at %#x has %d frames: not a bucket", b, nstk)
		}
		body, err := readBytes(m, b+uint64(l.bucketSize), int(nstk)*8+int(l.memRecordSize))
		if err != nil {
			return nil, fmt.Errorf("read memory profile bucket: %w", err)
		}
		stk := make([]uint64, nstk)
		for i := range stk {
			stk[i] = le.Uint64(body[i*8:])
		}
		rec := body[nstk*8:]
		size := int64(0)
		if sizeOff >= 0 {
			size = int64(u64(hdr, sizeOff))
		}
		r := memRecord{stack: stk, active: readCycle(rec, activeOff, size)}
		var fut [3]memRecordCycle
		for i := range fut {
			fut[i] = readCycle(rec, futureOff+int64(i)*cycSize, size)
		}
		r.active.add(fut[index])
		if r.active.allocs != 0 || r.active.frees != 0 {
			clear = false
		}
		recs = append(recs, r)
		futures = append(futures, fut)
		b = u64(hdr, l.bucketAllnext)
	}
	if clear {
		for i := range recs {
			for c := range futures[i] {
				if int64(c) != index {
					recs[i].active.add(futures[i][c])
				}
			}
		}
	}
	return recs, nil
}

// symFrame is what one PC of a profile stack symbolizes to.
type symFrame struct {
	name, file string
	line       int
	entry      uint64 // entry of the physical function holding the PC
	inlined    bool
}

// heapBuilder turns bucket records into a profile the way runtime/pprof's
// writeHeapProto does.
type heapBuilder struct {
	bi     *proc.BinaryInfo
	inl    *inlineIndex
	p      *profile.Profile
	syms   map[uint64]symFrame
	locs   map[string]*profile.Location
	funcs  map[string]*profile.Function
	exeMap *profile.Mapping
}

func (h *heapBuilder) symbolize(pc uint64) symFrame {
	if f, ok := h.syms[pc]; ok {
		return f
	}
	var f symFrame
	file, line, fn := h.bi.PCToLine(pc - 1)
	if fn != nil {
		f = symFrame{name: fn.Name, file: file, line: line, entry: fn.Entry}
		if in := h.inl.innermost(pc-1, fn.Entry); in != "" {
			f.name, f.inlined = in, true
		}
	}
	h.syms[pc] = f
	return f
}

// hidden reports whether runtime/pprof hides a leading frame of this function.
func hiddenRuntime(name string) bool {
	return strings.HasPrefix(name, "runtime.") || strings.HasPrefix(name, "internal/runtime/")
}

// locations groups a stack's PCs into locations as runtime/pprof's pcDeck
// does: the PCs of inlined calls join the PC of the physical frame that
// holds them, innermost first.
func (h *heapBuilder) locations(stk []uint64) []*profile.Location {
	var out []*profile.Location
	var deck []uint64
	var frames []symFrame
	flush := func() {
		if len(deck) == 0 {
			return
		}
		key := fmt.Sprint(deck)
		loc := h.locs[key]
		if loc == nil {
			loc = &profile.Location{ID: uint64(len(h.p.Location) + 1), Address: deck[0] - 1, Mapping: h.exeMap}
			for _, f := range frames {
				fn := h.funcs[f.name]
				if fn == nil {
					fn = &profile.Function{ID: uint64(len(h.p.Function) + 1), Name: f.name, SystemName: f.name, Filename: f.file}
					h.funcs[f.name] = fn
					h.p.Function = append(h.p.Function, fn)
				}
				loc.Line = append(loc.Line, profile.Line{Function: fn, Line: int64(f.line)})
			}
			h.locs[key] = loc
			h.p.Location = append(h.p.Location, loc)
		}
		out = append(out, loc)
		deck, frames = deck[:0], frames[:0]
	}
	for _, pc := range stk {
		f := h.symbolize(pc)
		if f.name == "runtime.goexit" {
			flush()
			continue
		}
		if f.name == "" {
			flush()
			deck, frames = append(deck, pc), append(frames, symFrame{name: fmt.Sprintf("%#x", pc)})
			flush()
			continue
		}
		if len(frames) > 0 {
			last := frames[len(frames)-1]
			if !last.inlined || last.entry != f.entry || last.name == f.name {
				flush()
			}
		}
		deck, frames = append(deck, pc), append(frames, f)
	}
	flush()
	return out
}

// buildHeapProfile builds the heap profile runtime/pprof would write for these records.
func buildHeapProfile(bi *proc.BinaryInfo, inl *inlineIndex, recs []memRecord, rate int64, exe string) *profile.Profile {
	p := &profile.Profile{
		PeriodType: &profile.ValueType{Type: "space", Unit: "bytes"},
		Period:     rate,
		SampleType: []*profile.ValueType{
			{Type: "alloc_objects", Unit: "count"},
			{Type: "alloc_space", Unit: "bytes"},
			{Type: "inuse_objects", Unit: "count"},
			{Type: "inuse_space", Unit: "bytes"},
		},
	}
	m := &profile.Mapping{ID: 1, Start: 0, Limit: math.MaxUint64, File: exe, HasFunctions: true, HasFilenames: true, HasLineNumbers: true, HasInlineFrames: true}
	p.Mapping = []*profile.Mapping{m}
	h := &heapBuilder{bi: bi, inl: inl, p: p, syms: map[uint64]symFrame{}, locs: map[string]*profile.Location{}, funcs: map[string]*profile.Function{}, exeMap: m}
	for _, r := range recs {
		stk := r.stack
		for i, pc := range stk {
			if !hiddenRuntime(h.symbolize(pc).name) {
				stk = stk[i:]
				break
			}
		}
		locs := h.locations(stk)
		if len(locs) == 0 {
			locs = h.locations(r.stack)
		}
		s := &profile.Sample{Location: locs, Value: make([]int64, 4)}
		s.Value[0], s.Value[1] = pproftext.ScaleHeapSample(r.active.allocs, r.active.allocBytes, rate)
		s.Value[2], s.Value[3] = pproftext.ScaleHeapSample(r.active.allocs-r.active.frees, r.active.allocBytes-r.active.freeBytes, rate)
		if r.active.allocs > 0 {
			if bs := r.active.allocBytes / r.active.allocs; bs != 0 {
				s.NumLabel = map[string][]int64{"bytes": {bs}}
			}
		}
		p.Sample = append(p.Sample, s)
	}
	return p
}
