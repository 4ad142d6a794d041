//go:build linux && amd64

package attach

import (
	"math"

	"github.com/go-delve/delve/pkg/dwarf/godwarf"
	"github.com/go-delve/delve/pkg/proc"

	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

// Memory statistics read from a stopped process differ from
// runtime.ReadMemStats, which stops the world and first flushes every P's
// allocation cache: here objects still free in those caches count as
// allocated (Mallocs, HeapAlloc, HeapObjects slightly high), and NextGC is
// the GOGC goal without the memory limit. Everything else is the runtime's
// own counter, read as ReadMemStats reads it. docs/snapshot-format.md says so
// once, rather than every capture saying it in a note.

// statReader reads fields of the runtime's global structs by DWARF path.
type statReader struct {
	mem  memReader
	bi   *proc.BinaryInfo
	l    *layout
	errs int
}

func (s *statReader) u64(sym, typ, path string) uint64 {
	st, err := structType(s.bi, typ)
	if err != nil {
		s.errs++
		return 0
	}
	off, err := fieldOffset(st, path)
	if err != nil || s.l.sym[sym] == 0 {
		s.errs++
		return 0
	}
	v, err := readU64(s.mem, s.l.sym[sym]+uint64(off))
	if err != nil {
		s.errs++
	}
	return v
}

func (s *statReader) u32(sym, typ, path string) uint32 { return uint32(s.u64(sym, typ, path)) }

// readMemStats rebuilds runtime.MemStats from the runtime's own counters, as
// readmemstats_m does: the three generations of consistent heap stats are
// merged, then combined with the gcController and mheap counters.
func readMemStats(mem memReader, bi *proc.BinaryInfo, l *layout) (*snapshot.MemStats, bool) {
	s := &statReader{mem: mem, bi: bi, l: l}
	const ms, mst = "runtime.memstats", "runtime.mstats"
	const gc, gct = "runtime.gcController", "runtime.gcControllerState"
	const mh, mht = "runtime.mheap_", "runtime.mheap"

	mstats, err := structType(bi, mst)
	if err != nil {
		return nil, false
	}
	statsOff, err := fieldOffset(mstats, "heapStats.stats")
	if err != nil {
		return nil, false
	}
	delta, err := structType(bi, "runtime.heapStatsDelta")
	if err != nil {
		return nil, false
	}
	raw, err := readBytes(mem, l.sym[ms]+uint64(statsOff), int(delta.Size())*3)
	if err != nil {
		return nil, false
	}
	field := func(name string) int64 {
		off, err := fieldOffset(delta, name)
		if err != nil {
			s.errs++
			return -1
		}
		return off
	}
	sum := func(name string) uint64 {
		off := field(name)
		var t uint64
		for g := 0; g < 3; g++ {
			t += u64(raw, int64(g)*delta.Size()+off)
		}
		return t
	}
	nClasses := 68
	for _, f := range delta.Field {
		if at, ok := resolve(f.Type).(*godwarf.ArrayType); ok && f.Name == "smallAllocCount" {
			nClasses = int(at.Count)
		}
	}
	sizes := sizeClasses(mem, l, nClasses)
	classSum := func(name string) (count, bytes uint64) {
		off := field(name)
		if off < 0 {
			return 0, 0
		}
		for c := range sizes {
			var n uint64
			for g := 0; g < 3; g++ {
				n += u64(raw, int64(g)*delta.Size()+off+int64(c)*8)
			}
			count += n
			bytes += n * sizes[c]
		}
		return count, bytes
	}
	nMalloc, totalAlloc := classSum("smallAllocCount")
	nFree, totalFree := classSum("smallFreeCount")
	totalAlloc += sum("largeAlloc")
	nMalloc += sum("largeAllocCount")
	totalFree += sum("largeFree")
	nFree += sum("largeFreeCount")
	tiny := sum("tinyAllocCount")
	nMalloc += tiny
	nFree += tiny
	stackInUse, workBufs := sum("inStacks"), sum("inWorkBufs")

	heapInUse := s.u64(gc, gct, "heapInUse")
	heapFree := s.u64(gc, gct, "heapFree")
	heapReleased := s.u64(gc, gct, "heapReleased")
	stacksSys := s.u64(ms, mst, "stacks_sys")
	mspanSys := s.u64(ms, mst, "mspan_sys")
	mcacheSys := s.u64(ms, mst, "mcache_sys")
	buckhashSys := s.u64(ms, mst, "buckhash_sys")
	gcMisc := s.u64(ms, mst, "gcMiscSys")
	otherSys := s.u64(ms, mst, "other_sys")

	out := &snapshot.MemStats{
		Alloc:         totalAlloc - totalFree,
		TotalAlloc:    totalAlloc,
		Sys:           heapInUse + heapFree + heapReleased + stacksSys + mspanSys + mcacheSys + buckhashSys + gcMisc + otherSys + stackInUse + workBufs,
		Mallocs:       nMalloc,
		Frees:         nFree,
		HeapAlloc:     totalAlloc - totalFree,
		HeapSys:       heapInUse + heapFree + heapReleased,
		HeapIdle:      heapFree + heapReleased,
		HeapInuse:     heapInUse,
		HeapReleased:  heapReleased,
		HeapObjects:   nMalloc - nFree,
		StackInuse:    stackInUse,
		StackSys:      stackInUse + stacksSys,
		MSpanInuse:    s.u64(mh, mht, "spanalloc.inuse"),
		MSpanSys:      mspanSys,
		MCacheInuse:   s.u64(mh, mht, "cachealloc.inuse"),
		MCacheSys:     mcacheSys,
		BuckHashSys:   buckhashSys,
		GCSys:         gcMisc + workBufs,
		OtherSys:      otherSys,
		NextGC:        s.u64(gc, gct, "gcPercentHeapGoal"),
		LastGC:        s.u64(ms, mst, "last_gc_unix"),
		PauseTotalNs:  s.u64(ms, mst, "pause_total_ns"),
		NumGC:         s.u32(ms, mst, "numgc"),
		NumForcedGC:   s.u32(ms, mst, "numforcedgc"),
		GCCPUFraction: math.Float64frombits(s.u64(ms, mst, "gc_cpu_fraction")),
	}
	return out, s.errs == 0
}

// lastGCNanotime is the runtime's monotonic time of the last GC: the only
// clock reading a core carries.
func lastGCNanotime(mem memReader, bi *proc.BinaryInfo, l *layout) int64 {
	s := &statReader{mem: mem, bi: bi, l: l}
	return int64(s.u64("runtime.memstats", "runtime.mstats", "last_gc_nanotime"))
}

// sizeClasses reads the runtime's size class table (n classes).
func sizeClasses(mem memReader, l *layout, n int) []uint64 {
	for _, name := range []string{"internal/runtime/gc.SizeClassToSize", "runtime.class_to_size"} {
		addr := l.sym[name]
		if addr == 0 {
			continue
		}
		b, err := readBytes(mem, addr, n*2)
		if err != nil {
			continue
		}
		out := make([]uint64, n)
		for i := range out {
			out[i] = uint64(le.Uint16(b[i*2:]))
		}
		return out
	}
	return nil
}
