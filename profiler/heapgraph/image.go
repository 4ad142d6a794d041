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

// NewImage builds an Image. Where regions overlap, the earlier one in rs
// wins: the bytes of a later region are kept only where no earlier region
// has any. Regions that do not overlap cost one sort.
func NewImage(rs []Region) *Image {
	type idxRegion struct {
		Region
		i int // position in rs
	}
	sorted := make([]idxRegion, 0, len(rs))
	for i, r := range rs {
		if len(r.Data) > 0 && r.Addr+uint64(len(r.Data)) > r.Addr {
			sorted = append(sorted, idxRegion{r, i})
		}
	}
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Addr < sorted[j].Addr })
	end := func(r idxRegion) uint64 { return r.Addr + uint64(len(r.Data)) }
	overlap := false
	for i := 1; i < len(sorted); i++ {
		if sorted[i].Addr < end(sorted[i-1]) {
			overlap = true
			break
		}
	}
	if !overlap {
		out := make([]Region, len(sorted))
		for i, r := range sorted {
			out[i] = r.Region
		}
		return &Image{regions: out}
	}
	// Sweep the boundaries; between two, the region earliest in rs among
	// those covering the stretch gives its bytes.
	var bounds []uint64
	for _, r := range sorted {
		bounds = append(bounds, r.Addr, end(r))
	}
	sort.Slice(bounds, func(i, j int) bool { return bounds[i] < bounds[j] })
	var out []Region
	var active []idxRegion // covering regions, earliest in rs first
	next, lastWin := 0, -1
	for k := 0; k+1 < len(bounds); k++ {
		p, q := bounds[k], bounds[k+1]
		if p == q {
			continue
		}
		for next < len(sorted) && sorted[next].Addr <= p {
			r := sorted[next]
			at := sort.Search(len(active), func(i int) bool { return active[i].i > r.i })
			active = append(active, idxRegion{})
			copy(active[at+1:], active[at:])
			active[at] = r
			next++
		}
		w := -1
		for i := 0; i < len(active); i++ {
			if end(active[i]) > p {
				w = i
				break
			}
		}
		if w < 0 {
			lastWin = -1
			continue
		}
		win := active[w]
		data := win.Data[p-win.Addr : q-win.Addr]
		if n := len(out); n > 0 && lastWin == win.i && out[n-1].Addr+uint64(len(out[n-1].Data)) == p {
			out[n-1].Data = win.Data[out[n-1].Addr-win.Addr : q-win.Addr]
		} else {
			out = append(out, Region{p, data})
		}
		lastWin = win.i
		// Drop regions that ended.
		kept := active[:0]
		for _, r := range active {
			if end(r) > q {
				kept = append(kept, r)
			}
		}
		active = kept
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
