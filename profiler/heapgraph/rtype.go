package heapgraph

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// Runtime type descriptors (internal/abi.Type) as found in malloc headers
// and span.largeType: their size, pointer mask and name.

const (
	tflagExtraStar      = 1 << 1
	tflagGCMaskOnDemand = 1 << 4
	kindMask            = 0x1f
	kindArray           = 17
	kindStruct          = 25
	maxMaskDepth        = 100
	// maxPtrBytes bounds the pointer masks built (a 256 MiB mask): a
	// larger type is taken for a damaged one.
	maxPtrBytes = 1 << 34
)

// rtype is a runtime type descriptor, decoded.
type rtype struct {
	size, ptrBytes uint64
	// ptrWords are the word indices of one element's pointers.
	ptrWords []uint32
	name     string
	id       TypeID // of a single object of the type
	arrayID  TypeID // of a backing array of several
	ok       bool
}

// module is a loaded module's type section.
type module struct{ types, etypes uint64 }

// rtypes decodes and caches type descriptors. Lookups during the parallel
// phase only read the cache, filled while marking.
type rtypes struct {
	l          *layout
	mods       []module
	inProgress uint64 // runtime.inProgress: a mask being built
	// maxSize bounds the size of a type found in the heap: no object is
	// larger than the largest span (0: no bound but maxPtrBytes).
	maxSize  uint64
	cache    map[uint64]*rtype
	byName   map[string]TypeID
	types    []Type
	lastAddr uint64
	last     *rtype
}

func newRTypes(l *layout, mods []module, inProgress uint64) *rtypes {
	return &rtypes{
		l: l, mods: mods, inProgress: inProgress,
		cache:  map[uint64]*rtype{},
		byName: map[string]TypeID{},
		types:  []Type{{Name: "<unknown>"}},
	}
}

// get returns the decoded type at addr, decoding it on first use.
func (t *rtypes) get(m *mem, addr uint64) *rtype {
	if addr == t.lastAddr && t.last != nil {
		return t.last
	}
	rt := t.cache[addr]
	if rt == nil {
		rt = t.decode(m, addr)
		t.cache[addr] = rt
	}
	t.lastAddr, t.last = addr, rt
	return rt
}

// peek is get for concurrent readers: no decoding, no caching.
func (t *rtypes) peek(addr uint64) *rtype { return t.cache[addr] }

func (t *rtypes) id(name string) TypeID {
	if id, ok := t.byName[name]; ok {
		return id
	}
	id := TypeID(len(t.types))
	t.types = append(t.types, Type{Name: name})
	t.byName[name] = id
	return id
}

func (t *rtypes) decode(m *mem, addr uint64) *rtype {
	l := t.l
	rt := &rtype{}
	hdr := m.bytes(addr, uint64(maxInt64(l.typSize, l.typPtrBytes, l.typGCData, l.typStr)+8))
	if hdr == nil {
		return rt
	}
	rt.size = le64(hdr, l.typSize)
	rt.ptrBytes = le64(hdr, l.typPtrBytes)
	if rt.ptrBytes > rt.size || rt.size == 0 || rt.ptrBytes%8 != 0 || rt.ptrBytes > maxPtrBytes ||
		(t.maxSize > 0 && rt.size > t.maxSize) {
		return rt
	}
	rt.name = t.name(m, addr, int32(binary.LittleEndian.Uint32(hdr[l.typStr:])), hdr[l.typTFlag])
	nwords := rt.ptrBytes / 8
	mask := make([]byte, (nwords+7)/8)
	if !t.mask(m, addr, mask, 0, 0) {
		return rt
	}
	for i, b := range mask {
		for b != 0 {
			k := bits.TrailingZeros8(b)
			b &= b - 1
			if w := uint64(i*8 + k); w < nwords {
				rt.ptrWords = append(rt.ptrWords, uint32(w))
			}
		}
	}
	rt.ok = true
	rt.id = t.id(rt.name)
	rt.arrayID = t.id("[]" + rt.name + " (backing array)")
	return rt
}

// mask writes the pointer bits of the type at addr into dst starting at
// bit word, building it from the type's structure when the runtime builds
// it on demand and has not yet.
func (t *rtypes) mask(m *mem, addr uint64, dst []byte, word uint64, depth int) bool {
	l := t.l
	if depth > maxMaskDepth {
		return false
	}
	hdr := m.bytes(addr, uint64(maxInt64(l.typSize, l.typPtrBytes, l.typGCData, l.typStr, l.typKind)+8))
	if hdr == nil {
		return false
	}
	ptrBytes := le64(hdr, l.typPtrBytes)
	if ptrBytes == 0 {
		return true
	}
	nwords := ptrBytes / 8
	gcdata := le64(hdr, l.typGCData)
	if hdr[l.typTFlag]&tflagGCMaskOnDemand != 0 {
		built, ok := m.u64(gcdata)
		if ok && built != 0 && built != t.inProgress {
			gcdata = built
		} else {
			return t.buildMask(m, addr, hdr, dst, word, depth)
		}
	}
	src := m.bytes(gcdata, (nwords+7)/8)
	if src == nil {
		return false
	}
	for w := uint64(0); w < nwords; w++ {
		if src[w/8]&(1<<(w%8)) != 0 {
			d := word + w
			if d/8 < uint64(len(dst)) {
				dst[d/8] |= 1 << (d % 8)
			}
		}
	}
	return true
}

// buildMask follows runtime.buildGCMask: arrays repeat their element's
// mask, structs place their fields'.
func (t *rtypes) buildMask(m *mem, addr uint64, hdr []byte, dst []byte, word uint64, depth int) bool {
	l := t.l
	switch hdr[l.typKind] & kindMask {
	case kindArray:
		elem, ok1 := m.u64(addr + uint64(l.arrElem))
		n, ok2 := m.u64(addr + uint64(l.arrLen))
		if !ok1 || !ok2 {
			return false
		}
		esize, ok := m.u64(elem + uint64(l.typSize))
		if !ok || esize%8 != 0 {
			return false
		}
		for i := uint64(0); i < n; i++ {
			if word+i*esize/8 >= uint64(len(dst))*8 {
				break
			}
			if !t.mask(m, elem, dst, word+i*esize/8, depth+1) {
				return false
			}
		}
		return true
	case kindStruct:
		fields, ok1 := m.u64(addr + uint64(l.structFields))
		n, ok2 := m.u64(addr + uint64(l.structFields) + 8)
		if !ok1 || !ok2 || n > 1<<20 {
			return false
		}
		for i := uint64(0); i < n; i++ {
			f := fields + i*uint64(l.fieldSize)
			ft, ok1 := m.u64(f + uint64(l.fieldTyp))
			off, ok2 := m.u64(f + uint64(l.fieldOffset))
			if !ok1 || !ok2 {
				return false
			}
			if off%8 != 0 {
				// Only pointer-free fields may be unaligned.
				if pb, ok := m.u64(ft + uint64(l.typPtrBytes)); ok && pb == 0 {
					continue
				}
				return false
			}
			if !t.mask(m, ft, dst, word+off/8, depth+1) {
				return false
			}
		}
		return true
	}
	return false
}

// name resolves a type's name offset through its module.
func (t *rtypes) name(m *mem, typ uint64, off int32, tflag byte) string {
	if off == 0 {
		return ""
	}
	for _, md := range t.mods {
		if typ < md.types || typ >= md.etypes {
			continue
		}
		p := md.types + uint64(off)
		b := m.bytes(p, 1+binary.MaxVarintLen32)
		if b == nil {
			b = m.bytes(p, 3)
		}
		if b == nil {
			return fmt.Sprintf("<type at %#x>", typ)
		}
		n, k := binary.Uvarint(b[1:])
		if k <= 0 || n > 1<<16 {
			return fmt.Sprintf("<type at %#x>", typ)
		}
		s := m.bytes(p+1+uint64(k), n)
		if s == nil {
			return fmt.Sprintf("<type at %#x>", typ)
		}
		name := string(s)
		if tflag&tflagExtraStar != 0 && len(name) > 0 && name[0] == '*' {
			name = name[1:]
		}
		return name
	}
	return fmt.Sprintf("<type made at run time at %#x>", typ)
}
