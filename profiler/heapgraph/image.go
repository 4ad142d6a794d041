package heapgraph

import (
	"encoding/binary"
	"sort"
)

// Region is a copied stretch of memory.
type Region struct {
	Addr uint64
	Data []byte
}

// Image is a read-only copy of a process's address space: non-overlapping
// regions in ascending address order. It is safe for concurrent use.
type Image struct {
	regions []Region
}

// NewImage builds an Image. Where regions overlap, the earlier one in rs wins.
func NewImage(rs []Region) *Image {
	sorted := make([]Region, 0, len(rs))
	for _, r := range rs {
		if len(r.Data) > 0 {
			sorted = append(sorted, r)
		}
	}
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Addr < sorted[j].Addr })
	out := sorted[:0]
	for _, r := range sorted {
		if n := len(out); n > 0 {
			prev := out[n-1]
			end := prev.Addr + uint64(len(prev.Data))
			if r.Addr < end {
				rend := r.Addr + uint64(len(r.Data))
				if rend <= end {
					continue
				}
				r = Region{end, r.Data[end-r.Addr:]}
			}
		}
		out = append(out, r)
	}
	return &Image{regions: out}
}

// Regions returns the image's regions in address order.
func (m *Image) Regions() []Region { return m.regions }

// Bytes returns the n bytes at addr, or nil unless they lie wholly inside
// one region. The slice aliases the image: do not modify it.
// Bytes is safe for concurrent use.
func (m *Image) Bytes(addr, n uint64) []byte {
	var last int
	return m.bytes(addr, n, &last)
}

// bytes is Bytes with the caller's cache of the region hit last.
func (m *Image) bytes(addr, n uint64, last *int) []byte {
	rs := m.regions
	if i := *last; i < len(rs) && addr >= rs[i].Addr && n <= uint64(len(rs[i].Data)) && addr-rs[i].Addr <= uint64(len(rs[i].Data))-n {
		return rs[i].Data[addr-rs[i].Addr : addr-rs[i].Addr+n]
	}
	i := sort.Search(len(rs), func(i int) bool { return rs[i].Addr+uint64(len(rs[i].Data)) > addr })
	if i == len(rs) || addr < rs[i].Addr || n > uint64(len(rs[i].Data)) || addr-rs[i].Addr > uint64(len(rs[i].Data))-n {
		return nil
	}
	*last = i
	return rs[i].Data[addr-rs[i].Addr : addr-rs[i].Addr+n]
}

// Uint64 reads the little-endian word at addr.
func (m *Image) Uint64(addr uint64) (uint64, bool) {
	b := m.Bytes(addr, 8)
	if b == nil {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b), true
}
