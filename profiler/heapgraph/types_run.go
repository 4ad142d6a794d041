package heapgraph

import (
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
)

// Typing: DWARF types pushed from the roots through typed pointers, the
// way golang.org/x/debug's viewcore and cloudwego/goref type the heap.
//
// Every object gets at most one DWARF typing, the first that fits: a dtype
// and whether the object is an array of it (a slice's backing array, a
// map's group array, a channel's buffer). A typing fits an object when the
// type is no larger than the object and every pointer the garbage
// collector's layout found in the object (the edges Build made) lies on a
// pointer of the type. A typing that does not fit is refused, so that an
// unsafe cast or an interior pointer loses a type instead of inventing one;
// the edges stay as Build found them.

// odt bits: dtype<<2 | header<<1 | array.
const (
	odtArray  = 1
	odtHeader = 2
	odtShift  = 2
	// maxRefusals is how many typings an object may refuse before the
	// typer stops offering it more.
	maxRefusals = 3
	// minHeaderSize and maxHeaderSize bound the objects that carry a
	// malloc header (Go 1.22+): larger than 512 bytes, small-object spans.
	minHeaderSize = 512
	maxHeaderSize = 32 << 10
	// tyTFlagExtraStar is internal/abi.TFlagExtraStar: the name has a
	// leading '*' to drop.
	tyTFlagExtraStar = 1 << 1
)

// tyRun is one run of the typer over a graph.
type tyRun struct {
	t    *typer
	g    *Graph
	regs []Region // the image's regions
	last int

	// odt is each object's typing (see odtArray); 0 for none yet, -n
	// after n refused typings.
	odt   []int32
	rootD []int32 // each root's dtype
	queue []int32

	tids     map[[2]int32]TypeID // (naming dtype, array) → TypeID
	byName   map[string]TypeID
	rtCache  map[uint64]int32 // runtime type address → dtype
	buildDt  map[TypeID]int32 // Build's TypeID → dtype<<1 | array, -1 if none
	strBytes int32            // "string (bytes)": how string data is named
	u8       int32
	// ifaces records the dynamic types of interface data words, for labels.
	ifaces []tyIface

	refused int
	// paramCache is the type of the first parameter of the cleanup
	// functions seen, by entry PC.
	paramCache map[uint64]int32
}

// tyIface is the dynamic type of the interface whose data word is at off
// in object (or root) from.
type tyIface struct {
	from int32
	root bool
	off  uint32
	typ  int32
}

// run types the objects of g, whose memory is mem, and sets g's labeler.
// Objects Build typed from their malloc header or span keep their type;
// their Types entry gets its DWARF offset and typing continues through
// them.
func (t *typer) run(g *Graph, mem *Image) {
	n := len(g.Addr)
	r := &tyRun{
		t: t, g: g, regs: mem.Regions(),
		odt:     make([]int32, n),
		rootD:   make([]int32, len(g.Roots)),
		tids:    map[[2]int32]TypeID{},
		byName:  make(map[string]TypeID, len(g.Types)),
		rtCache: map[uint64]int32{},
		buildDt: map[TypeID]int32{},
	}
	if len(g.Types) == 0 {
		g.Types = append(g.Types, Type{Name: "<unknown>"})
	}
	nBuild := len(g.Types)
	for i, ty := range g.Types {
		if i != int(NoType) {
			if _, dup := r.byName[ty.Name]; !dup {
				r.byName[ty.Name] = TypeID(i)
			}
		}
	}
	r.u8 = t.madeType("uint8", func(int32) dtype { return dtype{name: "uint8", size: 1} })
	r.strBytes = t.madeType("string (bytes)", func(int32) dtype { return dtype{name: "string (bytes)", size: 1} })
	if len(g.Size) != n || len(g.Type) != n || len(g.Out) != n+1 || len(g.To) != len(g.Off) ||
		(len(g.Roots) > 0 && len(g.RootOut) != len(g.Roots)+1) || len(g.RootTo) != len(g.RootOff) {
		return // a malformed graph: nothing to type
	}
	// The roots' DWARF types first: they are the most precise.
	for ri := range g.Roots {
		r.root(ri)
		r.drain()
	}
	// Build's types get their DWARF offsets.
	for id := 1; id < nBuild; id++ {
		r.buildType(TypeID(id))
	}
	// Then objects Build typed that no typed pointer reached.
	for j := 0; j < n; j++ {
		if g.Type[j] == NoType || r.odt[j] > 0 {
			continue
		}
		d, arr := r.buildType(g.Type[j])
		if d == 0 {
			continue
		}
		hdr := r.hasHeader(int32(j))
		if !r.fits(int32(j), d, arr, hdr) {
			continue
		}
		r.set(int32(j), d, arr, hdr)
		r.drain()
	}
	sort.Slice(r.ifaces, func(a, b int) bool {
		x, y := r.ifaces[a], r.ifaces[b]
		if x.root != y.root {
			return !x.root
		}
		if x.from != y.from {
			return x.from < y.from
		}
		return x.off < y.off
	})
	if r.refused > 0 {
		g.Stats.Notes = append(g.Stats.Notes, fmt.Sprintf(
			"%d DWARF typings did not fit the object's pointer layout (unsafe casts, interior pointers) and were dropped", r.refused))
	}
	lb := &tyLabeler{t: &typer{dts: t.dts}, g: g, odt: r.odt, rootD: r.rootD, ifaces: r.ifaces, rootPrefix: g.rootPrefix}
	g.labeler = lb.label
}

// drain types through the queued objects.
func (r *tyRun) drain() {
	for len(r.queue) > 0 {
		j := r.queue[len(r.queue)-1]
		r.queue = r.queue[:len(r.queue)-1]
		r.scan(j)
	}
}

// bytes reads memory: the image, then the executable.
func (r *tyRun) bytes(addr, n uint64) []byte {
	rs := r.regs
	if i := r.last; i < len(rs) && addr >= rs[i].Addr && addr-rs[i].Addr+n <= uint64(len(rs[i].Data)) {
		return rs[i].Data[addr-rs[i].Addr : addr-rs[i].Addr+n]
	}
	i := sort.Search(len(rs), func(i int) bool { return rs[i].Addr+uint64(len(rs[i].Data)) > addr })
	if i < len(rs) && addr >= rs[i].Addr && addr-rs[i].Addr+n <= uint64(len(rs[i].Data)) {
		r.last = i
		return rs[i].Data[addr-rs[i].Addr : addr-rs[i].Addr+n]
	}
	return r.t.roBytes(addr, n)
}

// span reads n bytes at addr that may lie across several regions (copies
// made page by page), with what is missing read as zeros; nil if nothing
// of it is there.
func (r *tyRun) span(addr, n uint64) []byte {
	if b := r.bytes(addr, n); b != nil {
		return b
	}
	if n > 1<<30 {
		return nil
	}
	out := make([]byte, n)
	found := false
	for p := addr; p < addr+n; {
		rs := r.regs
		i := sort.Search(len(rs), func(i int) bool { return rs[i].Addr+uint64(len(rs[i].Data)) > p })
		if i < len(rs) && p >= rs[i].Addr {
			k := copy(out[p-addr:], rs[i].Data[p-rs[i].Addr:])
			p += uint64(k)
			found = true
			continue
		}
		next := addr + n
		if i < len(rs) && rs[i].Addr < next {
			next = rs[i].Addr
		}
		if b := r.t.roBytes(p, next-p); b != nil {
			copy(out[p-addr:], b)
			found = true
		}
		p = next
	}
	if !found {
		return nil
	}
	return out
}

func (r *tyRun) word(addr uint64) (uint64, bool) {
	b := r.bytes(addr, 8)
	if b == nil {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b), true
}

// hasHeader says whether object j starts with a malloc header: a pointer
// to its runtime type, 8 bytes before its data. Only objects of the sizes
// that have one and contain pointers do: those Build typed from it, or,
// when Build could not, whose first word points at a type descriptor.
func (r *tyRun) hasHeader(j int32) bool {
	g := r.g
	sz := g.Size[j]
	if sz <= minHeaderSize || sz > maxHeaderSize {
		return false
	}
	if g.Type[j] != NoType && r.odt[j] <= 0 {
		return true
	}
	w, ok := r.word(g.Addr[j])
	return ok && w >= r.t.types && w < r.t.etypes
}

// root types what root ri points to from its DWARF type.
func (r *tyRun) root(ri int) {
	g := r.g
	rt := &g.Roots[ri]
	if rt.Type == 0 || ri+1 >= len(g.RootOut) {
		return
	}
	d := r.t.dtypeAt(rt.Type)
	r.rootD[ri] = d
	if d == 0 || !r.t.dts[d].ptrs {
		return
	}
	src := r.span(rt.Addr, rt.Size)
	// A root larger than its type is an array of it (a static backing
	// array a package variable points to, queued finalizers and cleanups);
	// not a stack variable, whose pieces may lie apart.
	es := r.t.dts[d].size
	for e := g.RootOut[ri]; e < g.RootOut[ri+1]; e++ {
		off := uint64(g.RootOff[e])
		k := uint64(0)
		if es > 0 && rt.Size >= 2*es && off < rt.Size && rt.Kind != RootStack {
			k = off / es
		}
		leaf, lb, ok := r.t.leafAt(d, off-k*es)
		if !ok {
			continue
		}
		r.follow(leaf, k*es+lb, off, src, g.RootTo[e], int32(ri), true)
	}
	if role := r.t.dts[d].role; role == roleCleanup || role == roleFinalizer {
		r.specialRoot(ri, d, src)
	}
}

// scan types what object j points to from its typing.
func (r *tyRun) scan(j int32) {
	g := r.g
	v := r.odt[j]
	d := v >> odtShift
	base := uint64(0)
	if v&odtHeader != 0 {
		base = 8
	}
	es := r.t.dts[d].size
	if es == 0 {
		return
	}
	src := r.span(g.Addr[j], g.Size[j])
	for e := g.Out[j]; e < g.Out[j+1]; e++ {
		off := uint64(g.Off[e])
		if off < base {
			continue
		}
		rel := off - base
		k := rel / es
		if k > 0 && v&odtArray == 0 {
			continue // beyond a closure's known captures
		}
		leaf, lb, ok := r.t.leafAt(d, rel-k*es)
		if !ok {
			continue
		}
		r.follow(leaf, base+k*es+lb, off, src, g.To[e], j, false)
	}
}

// follow types object tgt, which the pointer word at off of src (object
// or root from) points to, from leaf, the dtype of the value at leafOff
// that holds the word.
func (r *tyRun) follow(leaf int32, leafOff, off uint64, src []byte, tgt int32, from int32, root bool) {
	t := r.t
	g := r.g
	if tgt < 0 || int(tgt) >= len(g.Addr) || src == nil || off+8 > uint64(len(src)) {
		return
	}
	p := binary.LittleEndian.Uint64(src[off:])
	toff := p - g.Addr[tgt]
	if r.odt[tgt] <= 0 && r.hasHeader(tgt) {
		toff -= 8
	} else if r.odt[tgt] > 0 && r.odt[tgt]&odtHeader != 0 {
		toff -= 8
	}
	ld := &t.dts[leaf]
	switch ld.kind {
	case dPtr:
		if ld.elem != 0 && toff == 0 {
			e := ld.elem
			if tt := t.timerType(e); tt != 0 && r.odt[tgt] == 0 && r.fits(tgt, tt, false, r.hasHeader(tgt)) {
				e = tt
			} else if nt := r.trieNode(e, tgt); nt != 0 && r.odt[tgt] == 0 && r.fits(tgt, nt, false, r.hasHeader(tgt)) {
				e = nt
			}
			r.offer(tgt, e, false, e)
		}
	case dString:
		if toff == 0 {
			r.offer(tgt, r.u8, true, r.strBytes)
		}
	case dSlice:
		if es := t.dts[ld.elem].size; ld.elem != 0 && es > 0 && toff%es == 0 && toff < g.Size[tgt] {
			r.offer(tgt, ld.elem, true, ld.elem)
		}
	case dEface, dIface:
		if off != leafOff+8 || leafOff+16 > uint64(len(src)) {
			return
		}
		w := binary.LittleEndian.Uint64(src[leafOff:])
		dyn := r.dynType(w, ld.kind == dIface)
		if dyn == 0 {
			return
		}
		r.ifaces = append(r.ifaces, tyIface{from: from, root: root, off: uint32(off), typ: dyn})
		if r.direct(dyn) {
			if l2, lb2, ok := t.leafAt(dyn, 0); ok && lb2 == 0 && t.dts[l2].kind != dEface && t.dts[l2].kind != dIface {
				r.follow(l2, off, off, src, tgt, from, root)
			}
			return
		}
		if toff == 0 {
			r.offer(tgt, dyn, false, dyn)
		}
	case dFunc:
		if toff != 0 || r.odt[tgt] > 0 {
			return
		}
		pc, ok := r.word(p)
		if !ok {
			return
		}
		if c := t.closureType(pc); c != 0 {
			r.offer(tgt, c, false, c)
		}
	case dChan, dMap:
		if ld.elem != 0 && toff == 0 {
			r.offer(tgt, ld.elem, false, ld.elem)
		}
	case dMapDir:
		if toff != 0 {
			return
		}
		lo := int64(off) + int64(ld.rel)
		if lo < 0 || uint64(lo)+8 > uint64(len(src)) {
			return
		}
		if binary.LittleEndian.Uint64(src[lo:]) == 0 {
			r.offer(tgt, ld.aux, false, ld.aux)
		} else {
			r.offer(tgt, ld.elem, true, ld.elem)
		}
	case dArrayPtr:
		if toff == 0 && ld.elem != 0 {
			r.offer(tgt, ld.elem, true, ld.elem)
		}
	case dChanBuf:
		if toff == 0 && ld.elem != 0 && (root || tgt != from) && t.dts[ld.elem].size > 0 {
			r.offer(tgt, ld.elem, true, leaf)
		}
	}
}

// direct says whether values of dtype d are stored in an interface's data
// word itself: pointer-shaped types (cmd/compile's IsDirectIface).
func (r *tyRun) direct(d int32) bool {
	dt := &r.t.dts[d]
	if dt.size != 8 {
		return false
	}
	l, lb, ok := r.t.leafAt(d, 0)
	if !ok || lb != 0 {
		return false
	}
	switch r.t.dts[l].kind {
	case dPtr, dFunc, dChan, dMap:
		return true
	}
	return false
}

// dynType resolves an interface's type word (or itab word) to a dtype.
func (r *tyRun) dynType(w uint64, itab bool) int32 {
	t := r.t
	if w == 0 {
		return 0
	}
	if itab {
		if name, ok := t.itabs[w]; ok {
			key := w | 1<<63
			if d, ok := r.rtCache[key]; ok {
				return d
			}
			d := int32(0)
			if off, ok := t.byName[name]; ok {
				d = t.dtypeAt(off)
			}
			r.rtCache[key] = d
			return d
		}
		// A dynamic itab, made at run time: read its type.
		b := regionBytes(r.regs, w+t.itabType, 8)
		if b == nil && t.bias == 0 {
			b = t.roBytes(w+t.itabType, 8)
		}
		if b == nil {
			return 0
		}
		w = binary.LittleEndian.Uint64(b)
	}
	if d, ok := r.rtCache[w]; ok {
		return d
	}
	d := r.rtDtype(w)
	r.rtCache[w] = d
	return d
}

// rtDtype finds the DWARF type of the runtime type descriptor at addr.
func (r *tyRun) rtDtype(addr uint64) int32 {
	t := r.t
	if addr < t.types || addr >= t.etypes {
		return 0
	}
	if off, ok := t.byRT[addr-t.types]; ok {
		return t.dtypeAt(off)
	}
	name := t.rtName(addr)
	if name == "" {
		return 0
	}
	if off, ok := t.rtNameDIE(name); ok {
		return t.dtypeAt(off)
	}
	return 0
}

// rtName reads the name of the runtime type descriptor at addr, "" if it
// cannot.
func (t *typer) rtName(addr uint64) string {
	if addr < t.types || addr >= t.etypes {
		return ""
	}
	hdr := t.roBytes(addr, max(t.typStr+4, t.typTFlag+1))
	if hdr == nil {
		return ""
	}
	off := int32(binary.LittleEndian.Uint32(hdr[t.typStr:]))
	tflag := hdr[t.typTFlag]
	if off <= 0 {
		return ""
	}
	p := t.types + uint64(off)
	b := t.roBytes(p, 1)
	if b == nil {
		return ""
	}
	var n, k uint64
	for i := uint64(1); i <= 4; i++ {
		c := t.roBytes(p+i, 1)
		if c == nil {
			return ""
		}
		n |= uint64(c[0]&0x7f) << (7 * (i - 1))
		if c[0]&0x80 == 0 {
			k = i
			break
		}
	}
	if k == 0 || n > 1<<16 {
		return ""
	}
	s := t.roBytes(p+1+k, n)
	if s == nil {
		return ""
	}
	name := string(s)
	if tflag&tyTFlagExtraStar != 0 && strings.HasPrefix(name, "*") {
		name = name[1:]
	}
	return name
}

// rtNameDIE finds a DIE by the runtime's spelling of a type name, which
// uses package names where DWARF uses import paths ("http.Server" for
// "net/http.Server").
func (t *typer) rtNameDIE(name string) (dwarf.Offset, bool) {
	if o, ok := t.byName[name]; ok {
		return o, true
	}
	if o, ok := t.byName["noalg."+name]; ok {
		return o, true
	}
	if t.byRTName == nil {
		t.byRTName = make(map[string]dwarf.Offset, len(t.byRT))
		for rt, o := range t.byRT {
			n := t.rtName(t.types + rt)
			if n == "" {
				continue
			}
			if prev, dup := t.byRTName[n]; !dup || o < prev {
				t.byRTName[n] = o
			}
		}
	}
	o, ok := t.byRTName[name]
	return o, ok
}

// offer types object tgt as d (an array of d when arr), named after the
// dtype name, unless it is typed already or the typing does not fit.
func (r *tyRun) offer(tgt, d int32, arr bool, name int32) {
	if r.odt[tgt] > 0 || r.odt[tgt] <= -maxRefusals || d == 0 {
		return
	}
	hdr := r.hasHeader(tgt)
	if !r.fits(tgt, d, arr, hdr) {
		r.odt[tgt]--
		r.refused++
		return
	}
	r.set(tgt, d, arr, hdr)
	if r.g.Type[tgt] == NoType {
		r.g.Type[tgt] = r.tid(name, d, arr)
	}
}

// set records object j's typing and queues it.
func (r *tyRun) set(j, d int32, arr, hdr bool) {
	v := d << odtShift
	if arr {
		v |= odtArray
	}
	if hdr {
		v |= odtHeader
	}
	r.odt[j] = v
	if r.t.dts[d].ptrs && r.g.Out[j+1] > r.g.Out[j] {
		r.queue = append(r.queue, j)
	}
}

// fits says whether object j can be a d (an array of d): d is no larger
// than the object and every pointer of the object lies on a pointer of d.
func (r *tyRun) fits(j, d int32, arr, hdr bool) bool {
	g := r.g
	dt := &r.t.dts[d]
	size := g.Size[j]
	base := uint64(0)
	if hdr {
		base = 8
	}
	if size < base || dt.size == 0 || dt.size > size-base {
		return false
	}
	lo, hi := g.Out[j], g.Out[j+1]
	if lo == hi || dt.role == roleClosure {
		// A closure is known by its function; what it captured may be
		// missing from DWARF.
		return true
	}
	if !dt.ptrs {
		return false
	}
	for e := lo; e < hi; e++ {
		off := uint64(g.Off[e])
		if off < base {
			continue
		}
		rel := off - base
		if rel >= dt.size && !arr {
			return false
		}
		if _, _, ok := r.t.leafAt(d, rel%dt.size); !ok {
			return false
		}
	}
	return true
}

// tid returns the TypeID of objects typed as d (arrays of d when arr),
// named after the dtype name.
func (r *tyRun) tid(name, d int32, arr bool) TypeID {
	k := [2]int32{name, 0}
	if arr {
		k[1] = 1
	}
	if id, ok := r.tids[k]; ok {
		return id
	}
	nd := &r.t.dts[name]
	s := nd.name
	switch {
	case name != d:
		// named for what holds it: "string (bytes)", "chan T (buffer)"
	case nd.role == roleMapGroup || nd.role == roleMapDir:
		// a map's group array or directory: named as the map's storage
	case arr:
		s = "[]" + s + " (backing array)"
	}
	if s == "" {
		s = fmt.Sprintf("<DWARF type at %#x>", nd.off)
	}
	id, ok := r.byName[s]
	if !ok {
		id = TypeID(len(r.g.Types))
		r.g.Types = append(r.g.Types, Type{Name: s, DWARF: r.t.dts[d].off})
		r.byName[s] = id
	}
	r.tids[k] = id
	return id
}

// buildType finds the DWARF type of a type Build named from the runtime,
// and fills its DWARF offset.
func (r *tyRun) buildType(id TypeID) (d int32, arr bool) {
	if v, ok := r.buildDt[id]; ok {
		if v < 0 {
			return 0, false
		}
		return v >> 1, v&1 != 0
	}
	name := r.g.Types[id].Name
	if s, ok := strings.CutSuffix(name, " (backing array)"); ok {
		if s, ok = strings.CutPrefix(s, "[]"); ok {
			name, arr = s, true
		}
	}
	if off, ok := r.t.rtNameDIE(name); ok {
		d = r.t.dtypeAt(off)
	}
	if d == 0 {
		r.buildDt[id] = -1
		return 0, false
	}
	if r.g.Types[id].DWARF == 0 {
		r.g.Types[id].DWARF = r.t.dts[d].off
	}
	v := d << 1
	if arr {
		v |= 1
	}
	r.buildDt[id] = v
	return d, arr
}
