package heapgraph

import (
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
)

// rootSet collects roots and their pointers (to slot ids, converted to
// object indices once marking is done). A root without pointers into the
// heap is dropped.
type rootSet struct {
	roots []Root
	out   []int64
	to    []uint32
	off   []uint32
	open  bool
	// prefix holds the label prefix of roots that have one, by index.
	prefix map[int]string
}

// setPrefix gives the open root a prefix for its labels: the path from
// the variable it is named after to the static object it is.
func (rs *rootSet) setPrefix(p string) {
	if !rs.open || p == "" {
		return
	}
	if rs.prefix == nil {
		rs.prefix = map[int]string{}
	}
	rs.prefix[len(rs.roots)-1] = p
}

func (rs *rootSet) begin(r Root) {
	if rs.open {
		rs.end()
	}
	if len(rs.out) == 0 {
		rs.out = append(rs.out, 0)
	}
	rs.roots = append(rs.roots, r)
	rs.open = true
}

func (rs *rootSet) edge(off uint32, id uint32) {
	rs.to = append(rs.to, id)
	rs.off = append(rs.off, off)
}

func (rs *rootSet) end() {
	if !rs.open {
		return
	}
	rs.open = false
	start := rs.out[len(rs.out)-1]
	if int64(len(rs.to)) == start {
		delete(rs.prefix, len(rs.roots)-1)
		rs.roots = rs.roots[:len(rs.roots)-1]
		return
	}
	rs.out = append(rs.out, int64(len(rs.to)))
}

// section is a module's data or bss with its GC mask.
type section struct {
	name     string
	lo, hi   uint64
	mask     []byte
	maskBits uint64
}

// moduleSections reads the module list: data and bss with their GC masks,
// and the type ranges for names.
func moduleSections(m *mem, l *layout, first uint64) (secs []section, mods []module, err error) {
	seen := map[uint64]bool{}
	for md := first; md != 0 && !seen[md] && len(seen) < 1024; md = m.word(md + uint64(l.mdNext)) {
		seen[md] = true
		rd := func(off int64) uint64 { return m.word(md + uint64(off)) }
		mods = append(mods, module{rd(l.mdTypes), rd(l.mdEtypes)})
		for _, s := range []struct {
			name        string
			lo, hi, msk int64
		}{{"data", l.mdData, l.mdEdata, l.mdGCData}, {"bss", l.mdBss, l.mdEbss, l.mdGCBss}} {
			lo, hi := rd(s.lo), rd(s.hi)
			n, _ := m.uint(md+uint64(s.msk)+uint64(l.bvN), 4)
			bytedata := rd(s.msk + l.bvBytes)
			if hi < lo || hi-lo > 1<<34 {
				return nil, nil, fmt.Errorf("runtime.moduledata %s section [%#x, %#x) is not a section: the memory image is inconsistent", s.name, lo, hi)
			}
			if hi == lo {
				continue
			}
			mask := m.bytes(bytedata, (n+7)/8)
			if mask == nil && n > 0 {
				return nil, nil, fmt.Errorf("read the GC mask of the %s section at %#x: not in the memory image", s.name, bytedata)
			}
			secs = append(secs, section{name: s.name, lo: lo, hi: hi, mask: mask, maskBits: n})
		}
	}
	if len(mods) == 0 {
		return nil, nil, fmt.Errorf("read runtime.firstmoduledata at %#x: not in the memory image", first)
	}
	return secs, mods, nil
}

// dataRoots cuts the data and bss sections into named roots, one per
// package variable that holds pointers into the heap, scanning the words
// the section's GC mask says are pointers.
func (b *builder) dataRoots(secs []section, globals []namedVar) {
	sort.Slice(globals, func(i, j int) bool { return globals[i].Addr < globals[j].Addr })
	m := &b.sc.m
	for _, sec := range secs {
		cur := -1 // the global whose root is open
		unnamed := uint64(0)
		g := sort.Search(len(globals), func(i int) bool { return globals[i].Addr+globals[i].Size > sec.lo })
		for w := uint64(0); w < sec.maskBits && sec.lo+w*8 < sec.hi; w++ {
			if sec.mask[w/8]&(1<<(w%8)) == 0 {
				continue
			}
			addr := sec.lo + w*8
			v, ok := m.u64(addr)
			if !ok || v == 0 {
				continue
			}
			id, si, ok := b.target(v)
			if !ok {
				continue
			}
			for g < len(globals) && globals[g].Addr+globals[g].Size <= addr {
				g++
			}
			if g < len(globals) && globals[g].Addr <= addr {
				if cur != g {
					gv := globals[g]
					b.roots.begin(Root{Kind: RootGlobal, Name: gv.Name, Type: gv.Type, Addr: gv.Addr, Size: gv.Size})
					b.roots.setPrefix(gv.Prefix)
					cur = g
				}
				b.roots.edge(uint32(addr-globals[g].Addr), id)
			} else {
				// A word no variable covers (padding of a symbol whose
				// size the symbol table understates): a root of its own,
				// named after the symbol before it.
				cur = -1
				unnamed++
				name := fmt.Sprintf("%s section word at %#x", sec.name, addr)
				if g > 0 && globals[g-1].Addr <= addr {
					// Named after the nearest variable before it, which
					// does not hold it: no offset into it.
					name = fmt.Sprintf("%s word after %s", sec.name, globals[g-1].Name)
				}
				b.roots.begin(Root{Kind: RootGlobal, Name: name, Addr: addr, Size: 8})
				b.roots.edge(0, id)
				b.roots.end()
			}
			b.mark(id, si)
		}
		b.roots.end()
		if unnamed > 8 {
			b.notes = append(b.notes, fmt.Sprintf("%d pointer words of the %s section are in no known variable", unnamed, sec.name))
		}
	}
}

// conservative scans the whole aligned words of [r.Addr, r.Addr+r.Size)
// as one root. Any address and size is safe: a variable smaller than a
// word, unaligned, or running off the end of the address space has no
// words, or fewer.
func (b *builder) conservative(r Root) {
	m := &b.sc.m
	end := r.Addr + r.Size
	if r.Size < 8 || end < r.Addr {
		return
	}
	lo := r.Addr + (-r.Addr)&7 // r.Addr rounded up to a word
	if lo < r.Addr || lo > end-8 {
		return // no whole word
	}
	n := (end - lo) &^ 7
	b.roots.begin(r)
	data := m.bytes(lo, n)
	for k := uint64(0); k < n; k += 8 {
		var v uint64
		if k+8 <= uint64(len(data)) {
			v = binary.LittleEndian.Uint64(data[k:])
		} else {
			var ok bool
			if v, ok = m.u64(lo + k); !ok {
				continue
			}
		}
		if id, si, ok := b.target(v); ok {
			b.roots.edge(uint32(lo+k-r.Addr), id)
			b.mark(id, si)
		}
	}
	b.roots.end()
}

// The special kinds that hold heap pointers (runtime/mheap.go).
const (
	kindSpecialFinalizer  = 2
	kindSpecialWeakHandle = 3
	kindSpecialCleanup    = 7
)

// specialRoots adds finalizers, cleanups and weak handles: what the
// runtime's markrootSpans scans. A finalizer keeps what its object points
// to alive, not the object itself.
func (b *builder) specialRoots() {
	s, l, m := b.spans, b.l, &b.sc.m
	badSpecials := 0
	defer func() {
		if badSpecials > 0 {
			b.notes = append(b.notes, fmt.Sprintf("the finalizers and cleanups of %d spans are not in the memory image", badSpecials))
		}
	}()
	for si := range s.base {
		seen := 0
		for sp := s.specials[si]; sp != 0 && seen < 1<<20; sp = m.word(sp + uint64(l.specialNext)) {
			seen++
			kind, ok1 := m.uint(sp+uint64(l.specialKind), 1)
			offset, ok2 := m.uint(sp+uint64(l.specialOffset), l.specialOffsetSize)
			if !ok1 || !ok2 {
				badSpecials++
				break
			}
			es := s.elemsize[si]
			if offset/es >= uint64(s.nelems[si]) {
				badSpecials++ // an object past the span's end: damaged
				continue
			}
			j := uint32(offset / es)
			obj := s.base[si] + uint64(j)*es
			switch kind {
			case kindSpecialFinalizer:
				what := b.objectName(int32(si), j)
				var ot uint64
				if l.finOt >= 0 {
					ot = m.word(sp + uint64(l.finOt))
				}
				if b.ty != nil && strings.HasPrefix(what, "a ") {
					// Named from ot when its slot does not say.
					if n := b.ty.rtName(ot); n != "" {
						what = n
					}
				}
				// The root is the object's data (after its malloc
				// header), typed from the finalizer's ot, a *T.
				hdr := uint64(0)
				if s.kind[si] == spanHeader {
					hdr = 8
				}
				r := Root{Kind: RootFinalizer, Name: "finalizer of " + what, Addr: obj + hdr, Size: es - hdr}
				if b.ty != nil {
					r.Type = b.ty.elemOfPtrType(ot)
				}
				b.roots.begin(r)
				if j < s.nelems[si] {
					for from := uint64(0); ; {
						data, offs, _, resume := b.sc.pointers(int32(si), j, from)
						for _, o := range offs {
							if o < uint32(hdr) {
								continue
							}
							if id, tsi, ok := b.target(binary.LittleEndian.Uint64(data[o:])); ok {
								b.roots.edge(o-uint32(hdr), id)
								b.mark(id, tsi)
							}
						}
						if from = resume; from == 0 {
							break
						}
					}
				}
				b.roots.end()
				b.conservative(Root{Kind: RootFinalizer, Name: "finalizer function of " + what, Addr: sp + uint64(l.finFn), Size: 8,
					Type: b.tyType(func(t *typer) dwarf.Offset { return t.funcValueType() })})
			case kindSpecialCleanup:
				b.conservative(Root{Kind: RootFinalizer, Name: "cleanup of " + b.objectName(int32(si), j), Addr: sp + uint64(l.cleanupFn), Size: uint64(l.cleanupFnSize),
					Type: b.tyType(func(t *typer) dwarf.Offset { return t.runtimeType("runtime.cleanupFn") })})
			case kindSpecialWeakHandle:
				b.conservative(Root{Kind: RootOther, Name: "weak pointer handle of " + b.objectName(int32(si), j), Addr: sp + uint64(l.weakHandle), Size: 8,
					Type: b.tyType(func(t *typer) dwarf.Offset { return t.fieldType("runtime.specialWeakHandle", "handle") })})
			}
		}
	}
}

// queueRoots adds finalizers and cleanups queued to run: their arguments
// are still alive.
func (b *builder) queueRoots() {
	l, m, x := b.l, &b.sc.m, b.x
	if allfin, ok := x.sym("runtime.allfin"); ok && l.finBlockAlllink >= 0 && l.finBlockCnt >= 0 && l.finBlockFin >= 0 && l.finalizerSize > 0 {
		n := 0
		for fb := m.word(allfin); fb != 0 && n < 1<<20; fb = m.word(fb + uint64(l.finBlockAlllink)) {
			n++
			cnt, ok := m.uint(fb+uint64(l.finBlockCnt), 4)
			if !ok || cnt == 0 || cnt > 1<<16 {
				continue
			}
			b.conservative(Root{Kind: RootFinalizer, Name: "queued finalizers", Addr: fb + uint64(l.finBlockFin), Size: cnt * uint64(l.finalizerSize),
				Type: b.tyType(func(t *typer) dwarf.Offset { return t.runtimeType("runtime.finalizer") })})
		}
	}
	if q, ok := x.sym("runtime.gcCleanups"); ok && l.cleanupAll >= 0 && l.cbAlllink >= 0 && l.cbN >= 0 && l.cbCleanups >= 0 {
		n := 0
		for cb := m.word(q + uint64(l.cleanupAll)); cb != 0 && n < 1<<20; cb = m.word(cb + uint64(l.cbAlllink)) {
			n++
			cnt, ok := m.uint(cb+uint64(l.cbN), 4)
			if !ok || cnt == 0 || cnt > 1<<16 {
				continue
			}
			b.conservative(Root{Kind: RootFinalizer, Name: "queued cleanups", Addr: cb + uint64(l.cbCleanups), Size: cnt * uint64(l.cleanupFnSize),
				Type: b.tyType(func(t *typer) dwarf.Offset { return t.runtimeType("runtime.cleanupFn") })})
		}
	}
}

// tyType returns a DWARF type from the typer, 0 without one.
func (b *builder) tyType(f func(*typer) dwarf.Offset) dwarf.Offset {
	if b.ty == nil {
		return 0
	}
	return f(b.ty)
}

// objectName names an object by its runtime type, for root names.
func (b *builder) objectName(si int32, j uint32) string {
	if rt := b.sc.typeOf(si, j); rt != nil && rt.ok {
		return "*" + rt.name
	}
	return fmt.Sprintf("a %d-byte object", b.spans.elemsize[si])
}
