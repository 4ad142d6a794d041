package heapgraph

import (
	"encoding/binary"
	"math/bits"
)

// scanResult is what scanning one object slot finds.
type scanResult uint8

const (
	scanOK        scanResult = iota
	scanNoMemory             // the slot's memory is not in the image
	scanNoType               // its header or largeType could not be decoded
	scanNoPointer            // a header-less or untyped slot: nothing to follow
)

// scanner finds the pointer words of object slots. Each goroutine has its
// own.
type scanner struct {
	s       *spans
	t       *rtypes
	m       mem
	inline  uint64 // inline mark bits size
	decode  bool   // may decode new types (only while single-threaded)
	offsBuf []uint32
}

// typeOf returns the runtime type of slot j of span si, nil for none.
func (sc *scanner) typeOf(si int32, j uint32) *rtype {
	s := sc.s
	var typ uint64
	switch s.kind[si] {
	case spanHeader:
		d := s.data[si]
		if d == nil {
			return nil
		}
		typ = binary.LittleEndian.Uint64(d[uint64(j)*s.elemsize[si]:])
	case spanLarge:
		typ = s.largeType[si]
	default:
		return nil
	}
	if typ == 0 {
		return nil
	}
	if sc.decode {
		return sc.t.get(&sc.m, typ)
	}
	return sc.t.peek(typ)
}

// maxBatch bounds the offsets pointers returns at once, so that a huge
// array of pointers is scanned in pieces.
const maxBatch = 1 << 16

// pointers returns the slot's bytes and the offsets in it that hold
// pointers, by the runtime's own pointer layout. When the object has more
// than maxBatch pointers, resume is where to continue: call again with it
// until it is 0.
func (sc *scanner) pointers(si int32, j uint32, from uint64) (data []byte, offs []uint32, res scanResult, resume uint64) {
	data, offs, res, resume = sc.scan(si, j, from)
	sc.offsBuf = offs[:0]
	return data, offs, res, resume
}

// scan is pointers without the buffer bookkeeping: heap bits for small
// objects, the malloc header's or span's type, its mask tiled over the slot.
func (sc *scanner) scan(si int32, j uint32, from uint64) (data []byte, offs []uint32, res scanResult, resume uint64) {
	s := sc.s
	es := s.elemsize[si]
	offs = sc.offsBuf[:0]
	kind := s.kind[si]
	if kind == spanNoscan {
		return nil, offs, scanOK, 0
	}
	span := s.data[si]
	if span == nil {
		return nil, offs, scanNoMemory, 0
	}
	start := uint64(j) * es
	data = span[start : start+es]
	switch kind {
	case spanHeapBits:
		size := uint64(s.npages[si]) * pageSize
		hb := span[size-size/64-sc.heapBitsInline(es):]
		w0 := start / 8
		nw := es / 8
		bitsAt := func(p uint64) uint64 {
			i := p / 64
			var lo, hi uint64
			if (i+1)*8 <= uint64(len(hb)) {
				lo = binary.LittleEndian.Uint64(hb[i*8:])
			}
			if (i+2)*8 <= uint64(len(hb)) {
				hi = binary.LittleEndian.Uint64(hb[(i+1)*8:])
			}
			sh := p % 64
			if sh == 0 {
				return lo
			}
			return lo>>sh | hi<<(64-sh)
		}
		b := bitsAt(w0)
		if nw < 64 {
			b &= 1<<nw - 1
		}
		for b != 0 {
			k := bits.TrailingZeros64(b)
			b &= b - 1
			offs = append(offs, uint32(k*8))
		}
		return data, offs, scanOK, 0
	case spanHeader, spanLarge:
		rt := sc.typeOf(si, j)
		base := uint64(0)
		if kind == spanHeader {
			if binary.LittleEndian.Uint64(data) == 0 {
				return data, offs, scanNoPointer, 0
			}
			base = 8
		} else if s.largeType[si] == 0 {
			return data, offs, scanNoPointer, 0
		}
		if rt == nil || !rt.ok {
			return data, offs, scanNoType, 0
		}
		if len(rt.ptrWords) == 0 {
			return data, offs, scanOK, 0
		}
		if from > base {
			base = from
		}
		for e := base; e < es; e += rt.size {
			if len(offs) >= maxBatch {
				return data, offs, scanOK, e
			}
			for _, w := range rt.ptrWords {
				o := e + uint64(w)*8
				if o+8 > es {
					break
				}
				offs = append(offs, uint32(o))
			}
		}
		return data, offs, scanOK, 0
	}
	return nil, offs, scanOK, 0
}

// heapBitsInline is the size of Green Tea's inline mark bits, which sit
// after the heap bits of spans of objects of 16 to 512 bytes.
func (sc *scanner) heapBitsInline(es uint64) uint64 {
	if es >= 16 && es <= maxHeapBitsSize {
		return sc.inline
	}
	return 0
}
