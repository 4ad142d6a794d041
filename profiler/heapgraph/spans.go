package heapgraph

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"sort"
)

const (
	pageShift     = 13
	pageSize      = 1 << pageShift
	arenaShift    = 26 // 64 MiB heap arenas on linux/amd64
	pagesPerArena = 1 << (arenaShift - pageShift)
	mSpanInUse    = 1
	// maxHeapBitsSize is the largest object size whose pointer bits live
	// at the end of its span (gc.MinSizeForMallocHeader).
	maxHeapBitsSize = 512
)

// spanKind says where a span's objects keep their pointer layout.
type spanKind uint8

const (
	spanNoscan   spanKind = iota // no pointers
	spanHeapBits                 // bits at the end of the span
	spanHeader                   // a *_type in each object's first word
	spanLarge                    // one object, typed by span.largeType
)

// spans is the table of in-use heap spans, in address order, with every
// object slot numbered: slot ids ascend with addresses, so the allocated
// slots in id order are the objects in address order.
type spans struct {
	base      []uint64
	npages    []uint32
	elemsize  []uint64
	nelems    []uint32
	divMul    []uint32
	kind      []spanKind
	firstSlot []uint32 // id of the span's slot 0
	largeType []uint64
	specials  []uint64 // the span's specials list
	data      [][]byte // the span's memory; nil when not in the image

	slots uint32   // total slots
	alloc []uint64 // allocated bit per slot
	// arenas index pages: arenas[(addr>>arenaShift)-arenaLo][page] is the
	// span index plus one, 0 for no in-use span.
	arenaLo uint64
	arenas  []*[pagesPerArena]int32
	far     map[uint64]*[pagesPerArena]int32 // arenas too far from the others

	allocatedBytes uint64
	heapBitsOff    uint64 // where heap bits start, from the span's end
	notes          []string
}

// readSpans reads mheap_.allspans and keeps the in-use heap spans.
func readSpans(m *mem, l *layout, mheap uint64) (*spans, error) {
	if m.img.Bytes(mheap+uint64(l.mheapAllspans), 16) == nil {
		return nil, fmt.Errorf("runtime.mheap_ at %#x is not in the memory image: it holds no copy of the process's runtime data", mheap)
	}
	arr, ok1 := m.u64(mheap + uint64(l.mheapAllspans))
	n, ok2 := m.u64(mheap + uint64(l.mheapAllspans) + 8)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("read runtime.mheap_.allspans at %#x: not in the memory image", mheap)
	}
	if n > 1<<32 {
		return nil, fmt.Errorf("runtime.mheap_.allspans has %d spans: the memory image is inconsistent", n)
	}
	ptrs := m.bytes(arr, n*8)
	if ptrs == nil && n > 0 {
		return nil, fmt.Errorf("read runtime.mheap_.allspans array (%d spans at %#x): not in the memory image", n, arr)
	}
	type rawSpan struct {
		base, npages, elemsize, largeType, specials, allocBits uint64
		nelems, freeindex                                      uint32
		class                                                  uint8
	}
	var raw []rawSpan
	need := uint64(maxInt64(l.spanStart, l.spanNpages, l.spanFreeindex, l.spanNelems, l.spanAllocBits,
		l.spanClass, l.spanState, l.spanElemsize, l.spanSpecials, l.spanLargeType, l.spanUserArena, l.spanSweepgen) + 8)
	unreadable, unswept, arenaChunks := 0, 0, 0
	// imgBytes bounds a span: a real one lies in the image (a copy holds
	// every in-use span, a core the whole heap).
	var imgBytes uint64
	for _, r := range m.img.Regions() {
		imgBytes += uint64(len(r.Data))
	}
	var sweepgen uint64
	if l.mheapSweepgen >= 0 {
		sweepgen, _ = m.uint(mheap+uint64(l.mheapSweepgen), 4)
	}
	for i := uint64(0); i < n; i++ {
		sp := binary.LittleEndian.Uint64(ptrs[i*8:])
		b := m.bytes(sp, need)
		if b == nil {
			unreadable++
			continue
		}
		if b[l.spanState] != mSpanInUse {
			continue
		}
		if l.spanUserArena >= 0 && b[l.spanUserArena] != 0 {
			arenaChunks++
			continue
		}
		// A span is unswept when its sweepgen is h.sweepgen-2, -1 (being
		// swept) or +1 (cached before the sweep began): its alloc bits
		// still count last cycle's garbage.
		if l.spanSweepgen >= 0 && sweepgen != 0 {
			switch sg := binary.LittleEndian.Uint32(b[l.spanSweepgen:]); sg {
			case uint32(sweepgen) - 2, uint32(sweepgen) - 1, uint32(sweepgen) + 1:
				unswept++
			}
		}
		r := rawSpan{
			base:      le64(b, l.spanStart),
			npages:    le64(b, l.spanNpages),
			elemsize:  le64(b, l.spanElemsize),
			largeType: le64(b, l.spanLargeType),
			specials:  le64(b, l.spanSpecials),
			allocBits: le64(b, l.spanAllocBits),
			nelems:    uint32(leN(b, l.spanNelems, l.spanNelemsSize)),
			freeindex: uint32(leN(b, l.spanFreeindex, l.spanFreeindexSize)),
			class:     b[l.spanClass],
		}
		// Every size is bounded before it is used: a damaged span must
		// not make Build allocate or index more than the image holds.
		if r.npages == 0 || r.elemsize == 0 || r.nelems == 0 || r.npages > imgBytes/pageSize+1 ||
			r.base+r.npages*pageSize < r.base || uint64(r.nelems)*r.elemsize > r.npages*pageSize {
			unreadable++
			continue
		}
		raw = append(raw, r)
	}
	sort.Slice(raw, func(i, j int) bool { return raw[i].base < raw[j].base })
	// In-use spans do not overlap: one that overlaps the span before it
	// is damaged. Together they fit in the image: past that, what the
	// spans claim is damage, which must not make the slot tables and the
	// page index grow.
	kept := raw[:0]
	var spanBytes uint64
	for _, r := range raw {
		if n := len(kept); n > 0 && r.base < kept[n-1].base+kept[n-1].npages*pageSize {
			unreadable++
			continue
		}
		if spanBytes += r.npages * pageSize; spanBytes > imgBytes {
			unreadable++
			continue
		}
		kept = append(kept, r)
	}
	raw = kept

	s := &spans{heapBitsOff: 0}
	ns := len(raw)
	s.base = make([]uint64, ns)
	s.npages = make([]uint32, ns)
	s.elemsize = make([]uint64, ns)
	s.nelems = make([]uint32, ns)
	s.divMul = make([]uint32, ns)
	s.kind = make([]spanKind, ns)
	s.firstSlot = make([]uint32, ns)
	s.largeType = make([]uint64, ns)
	s.specials = make([]uint64, ns)
	s.data = make([][]byte, ns)
	var total uint64
	for i, r := range raw {
		s.base[i], s.npages[i], s.elemsize[i], s.nelems[i] = r.base, uint32(r.npages), r.elemsize, r.nelems
		s.divMul[i] = uint32(^uint32(0)/uint32(min(r.elemsize, 1<<31)) + 1)
		s.largeType[i], s.specials[i] = r.largeType, r.specials
		s.firstSlot[i] = uint32(total)
		total += uint64(r.nelems)
		switch {
		case r.class&1 != 0:
			s.kind[i] = spanNoscan
		case r.class>>1 == 0:
			s.kind[i] = spanLarge
		case r.elemsize <= maxHeapBitsSize:
			s.kind[i] = spanHeapBits
		default:
			s.kind[i] = spanHeader
		}
	}
	if total >= 1<<32-1 {
		return nil, fmt.Errorf("heap has %d object slots: more than this analysis can number", total)
	}
	s.slots = uint32(total)
	s.alloc = make([]uint64, (total+63)/64)
	missing := 0
	budget := imgBytes // bytes spanData may copy, in all
	for i, r := range raw {
		size := r.npages * pageSize
		s.data[i] = spanData(m.img, r.base, size, &budget)
		if s.data[i] == nil {
			missing++
		}
		first := uint64(s.firstSlot[i])
		nb := (uint64(r.nelems) + 7) / 8
		ab := m.bytes(r.allocBits, nb)
		for j := uint64(0); j < uint64(r.nelems); j++ {
			if j < uint64(r.freeindex) || (ab != nil && ab[j/8]&(1<<(j%8)) != 0) {
				id := first + j
				s.alloc[id/64] |= 1 << (id % 64)
				s.allocatedBytes += r.elemsize
			}
		}
		if ab == nil && r.freeindex < r.nelems {
			missing++
		}
	}
	if arenaChunks > 0 {
		s.notes = append(s.notes, fmt.Sprintf("%d user arena chunks (GOEXPERIMENT=arenas) were left out: their objects are not in the graph", arenaChunks))
	}
	if unswept > 0 {
		s.notes = append(s.notes, fmt.Sprintf("the process was stopped while the garbage collector was sweeping: %d spans were unswept", unswept))
	}
	if unreadable > 0 {
		s.notes = append(s.notes, fmt.Sprintf("%d spans could not be read from the memory image and were skipped", unreadable))
	}
	if missing > 0 {
		s.notes = append(s.notes, fmt.Sprintf("%d in-use spans have memory or alloc bits missing from the image: their objects' pointers were not followed", missing))
	}
	s.index()
	return s, nil
}

// spanData returns a span's memory from the image, joining regions when a
// span crosses them; nil if any of it is missing. A joined copy is taken
// from *budget, and only once the whole span is known to be there: sizes
// read from a damaged image never allocate more than the image holds.
func spanData(img *Image, base, size uint64, budget *uint64) []byte {
	if b := img.Bytes(base, size); b != nil {
		return b
	}
	if base+size < base || size > *budget {
		return nil
	}
	rs := img.regions
	first := sort.Search(len(rs), func(i int) bool { return rs[i].Addr+uint64(len(rs[i].Data)) > base })
	// Check the regions from first cover the span without a gap.
	addr := base
	for i := first; addr < base+size; i++ {
		if i == len(rs) || rs[i].Addr > addr {
			return nil
		}
		addr = rs[i].Addr + uint64(len(rs[i].Data))
	}
	*budget -= size
	out := make([]byte, 0, size)
	for i := first; uint64(len(out)) < size; i++ {
		at := base + uint64(len(out))
		chunk := rs[i].Data[at-rs[i].Addr:]
		if rest := size - uint64(len(out)); uint64(len(chunk)) > rest {
			chunk = chunk[:rest]
		}
		out = append(out, chunk...)
	}
	return out
}

// index builds the page index.
func (s *spans) index() {
	if len(s.base) == 0 {
		return
	}
	lo := s.base[0] >> arenaShift
	hi := (s.base[len(s.base)-1] + uint64(s.npages[len(s.base)-1])*pageSize - 1) >> arenaShift
	s.arenaLo = lo
	dense := hi-lo < 1<<16
	if dense {
		s.arenas = make([]*[pagesPerArena]int32, hi-lo+1)
	} else {
		s.far = map[uint64]*[pagesPerArena]int32{}
	}
	for i := range s.base {
		for p := s.base[i]; p < s.base[i]+uint64(s.npages[i])*pageSize; p += pageSize {
			a := p >> arenaShift
			var pages *[pagesPerArena]int32
			if dense {
				if pages = s.arenas[a-lo]; pages == nil {
					pages = new([pagesPerArena]int32)
					s.arenas[a-lo] = pages
				}
			} else if pages = s.far[a]; pages == nil {
				pages = new([pagesPerArena]int32)
				s.far[a] = pages
			}
			pages[(p>>pageShift)%pagesPerArena] = int32(i + 1)
		}
	}
}

// find returns the span and slot id holding addr, or ok false when addr is
// not inside an object slot of an in-use span.
func (s *spans) find(addr uint64) (span int32, id uint32, ok bool) {
	var pages *[pagesPerArena]int32
	if s.arenas != nil {
		a := addr>>arenaShift - s.arenaLo
		if a >= uint64(len(s.arenas)) {
			return 0, 0, false
		}
		pages = s.arenas[a]
	} else {
		pages = s.far[addr>>arenaShift]
	}
	if pages == nil {
		return 0, 0, false
	}
	si := pages[(addr>>pageShift)%pagesPerArena] - 1
	if si < 0 {
		return 0, 0, false
	}
	off := addr - s.base[si]
	var j uint64
	if s.kind[si] == spanLarge {
		if off >= s.elemsize[si] {
			return 0, 0, false
		}
	} else {
		j = off * uint64(s.divMul[si]) >> 32
		if j >= uint64(s.nelems[si]) {
			return 0, 0, false
		}
	}
	return si, s.firstSlot[si] + uint32(j), true
}

// allocated reports whether slot id holds an allocated object.
func (s *spans) allocated(id uint32) bool { return s.alloc[id/64]&(1<<(id%64)) != 0 }

// spanOf returns the span holding slot id.
func (s *spans) spanOf(id uint32) int32 {
	i := sort.Search(len(s.firstSlot), func(i int) bool { return s.firstSlot[i] > id })
	return int32(i - 1)
}

// countBits counts set bits.
func countBits(b []uint64) int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

func le64(b []byte, off int64) uint64 { return binary.LittleEndian.Uint64(b[off:]) }

func leN(b []byte, off, size int64) uint64 {
	switch size {
	case 1:
		return uint64(b[off])
	case 2:
		return uint64(binary.LittleEndian.Uint16(b[off:]))
	case 4:
		return uint64(binary.LittleEndian.Uint32(b[off:]))
	}
	return binary.LittleEndian.Uint64(b[off:])
}

func maxInt64(vs ...int64) int64 {
	m := vs[0]
	for _, v := range vs[1:] {
		m = max(m, v)
	}
	return m
}
