package heapgraph

import "encoding/binary"

// mem reads the target's memory: the Image first, then the executable's
// segments (read-only data is often left out of copies and cores, and
// data and bss pages the process never touched hold the file's content).
// A mem is not safe for concurrent use; copy it per goroutine.
type mem struct {
	img  *Image
	x    *exe
	last int
}

func (m *mem) bytes(addr, n uint64) []byte {
	if b := m.img.bytes(addr, n, &m.last); b != nil {
		return b
	}
	if m.x != nil {
		return m.x.bytes(addr, n)
	}
	return nil
}

func (m *mem) u64(addr uint64) (uint64, bool) {
	b := m.bytes(addr, 8)
	if b == nil {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b), true
}

// word reads a word, zero when unreadable.
func (m *mem) word(addr uint64) uint64 {
	v, _ := m.u64(addr)
	return v
}

// uint reads an unsigned integer of size 1, 2, 4 or 8 bytes.
func (m *mem) uint(addr uint64, size int64) (uint64, bool) {
	b := m.bytes(addr, uint64(size))
	if b == nil {
		return 0, false
	}
	switch size {
	case 1:
		return uint64(b[0]), true
	case 2:
		return uint64(binary.LittleEndian.Uint16(b)), true
	case 4:
		return uint64(binary.LittleEndian.Uint32(b)), true
	case 8:
		return binary.LittleEndian.Uint64(b), true
	}
	return 0, false
}
