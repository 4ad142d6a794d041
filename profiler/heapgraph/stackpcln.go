package heapgraph

import (
	"bytes"
	"debug/dwarf"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
)

// This file reads what the garbage collector reads to scan a goroutine
// stack frame precisely: the module's function table (moduledata.ftab and
// pclntable), the PCDATA_StackMapIndex table of a function (a pcvalue
// table in moduledata.pctab) and its FUNCDATA_LocalsPointerMaps,
// FUNCDATA_ArgsPointerMaps and FUNCDATA_StackObjects (reached through
// moduledata.gofunc). See runtime/symtab.go (pcvalue, funcdata),
// runtime/stkframe.go (getStackMap) and runtime/stack.go
// (stackObjectRecord). The _func layout is the same in Go 1.26 and 1.27;
// the offsets are read from the executable's DWARF all the same.

// The PCDATA and FUNCDATA indices (internal/abi/symtab.go).
const (
	pcdataStackMapIndex    = 1
	funcdataArgsPointerMap = 0
	funcdataLocalsPtrMap   = 1
	funcdataStackObjects   = 2
	// argsSizeUnknown is _func.args of a function whose argument size
	// is not known (some assembly).
	argsSizeUnknown = -0x80000000
)

// stackLayout is where the fields pclntab decoding needs are, from DWARF.
type stackLayout struct {
	mdPctab, mdPclntable, mdFtab, mdFuncnametab      int64
	mdMinpc, mdMaxpc, mdText, mdRodata, mdGofunc     int64
	mdNext                                           int64
	fnEntryOff, fnNameOff, fnArgs, fnNpcdata, fnSize int64
	fnFuncID, fnNfuncdata                            int64
	ftabSize                                         int64
	soOff, soSize, soPtrBytes, soGCDataOff, soRecord int64
	smN, smNbit, smData                              int64
	gGoid, gStackLo, gStackHi                        int64
	gDefer, gPanic, gCtxt, deferFn, deferLink        int64
}

// readStackLayout finds the runtime's pclntab types in d. It stops reading
// as soon as it has them all.
func readStackLayout(d *dwarf.Data) (*stackLayout, error) {
	want := map[string]bool{"runtime.moduledata": true, "runtime._func": true, "runtime.functab": true,
		"runtime.stackObjectRecord": true, "runtime.stackmap": true, "runtime.g": true, "runtime._defer": true}
	found := map[string]*dwarf.StructType{}
	r := d.Reader()
	for len(found) < len(want) {
		e, err := r.Next()
		if err != nil {
			return nil, fmt.Errorf("read DWARF: %w", err)
		}
		if e == nil {
			break
		}
		if e.Tag == dwarf.TagCompileUnit {
			continue
		}
		if e.Tag == dwarf.TagStructType {
			name, _ := e.Val(dwarf.AttrName).(string)
			if _, sized := e.Val(dwarf.AttrByteSize).(int64); sized && want[name] && found[name] == nil {
				t, err := d.Type(e.Offset)
				if err != nil {
					return nil, fmt.Errorf("read DWARF type %s: %w", name, err)
				}
				if st, ok := t.(*dwarf.StructType); ok {
					found[name] = st
				}
			}
		}
		if e.Children {
			r.SkipChildren()
		}
	}
	var missing []string
	f := func(typ, path string) int64 {
		st := found[typ]
		if st == nil {
			missing = append(missing, typ)
			return -1
		}
		off, _, ok := fieldOf(st, path)
		if !ok {
			missing = append(missing, typ+"."+path)
			return -1
		}
		return off
	}
	size := func(typ string) int64 {
		if st := found[typ]; st != nil {
			return st.ByteSize
		}
		missing = append(missing, typ)
		return -1
	}
	l := &stackLayout{
		mdPctab: f("runtime.moduledata", "pctab"), mdPclntable: f("runtime.moduledata", "pclntable"),
		mdFtab: f("runtime.moduledata", "ftab"), mdFuncnametab: f("runtime.moduledata", "funcnametab"),
		mdMinpc: f("runtime.moduledata", "minpc"), mdMaxpc: f("runtime.moduledata", "maxpc"),
		mdText: f("runtime.moduledata", "text"), mdRodata: f("runtime.moduledata", "rodata"),
		mdGofunc: f("runtime.moduledata", "gofunc"), mdNext: f("runtime.moduledata", "next"),
		fnEntryOff: f("runtime._func", "entryOff"), fnNameOff: f("runtime._func", "nameOff"),
		fnArgs: f("runtime._func", "args"), fnNpcdata: f("runtime._func", "npcdata"),
		fnFuncID: f("runtime._func", "funcID"), fnNfuncdata: f("runtime._func", "nfuncdata"),
		fnSize:   size("runtime._func"),
		ftabSize: size("runtime.functab"),
		soOff:    f("runtime.stackObjectRecord", "off"), soSize: f("runtime.stackObjectRecord", "size"),
		soPtrBytes: f("runtime.stackObjectRecord", "ptrBytes"), soGCDataOff: f("runtime.stackObjectRecord", "gcdataoff"),
		soRecord: size("runtime.stackObjectRecord"),
		smN:      f("runtime.stackmap", "n"), smNbit: f("runtime.stackmap", "nbit"), smData: f("runtime.stackmap", "bytedata"),
		gGoid: f("runtime.g", "goid"), gStackLo: f("runtime.g", "stack.lo"), gStackHi: f("runtime.g", "stack.hi"),
		gDefer: f("runtime.g", "_defer"), gPanic: f("runtime.g", "_panic"), gCtxt: f("runtime.g", "sched.ctxt"),
		deferFn: f("runtime._defer", "fn"), deferLink: f("runtime._defer", "link"),
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("runtime pclntab layout: %s not in the executable's DWARF", strings.Join(missing, ", "))
	}
	return l, nil
}

// pcModule is one module's function table, read out of memory (or the
// executable, for read-only data the image lacks).
type pcModule struct {
	minpc, maxpc, text, rodata, gofunc uint64
	pctab, pclntable, funcnametab      []byte
	ftab                               []byte // nftab+1 functab entries
	nftab                              int
}

// pcln finds functions and their stack maps.
type pcln struct {
	l     *stackLayout
	m     *mem
	mods  []*pcModule
	funcs map[funcKey]*funcInfo
}

// funcKey is a _func: its module and offset in the module's pclntable.
type funcKey struct {
	mod *pcModule
	off uint64
}

// funcInfo is one function's _func, decoded.
type funcInfo struct {
	mod       *pcModule
	raw       []byte // the _func and its pcdata and funcdata arrays
	entry     uint64
	name      string
	args      int32
	funcID    uint8
	npcdata   uint32
	nfuncdata uint8
}

// newPcln reads the module list starting at firstmoduledata.
func newPcln(m *mem, l *stackLayout, first uint64) (*pcln, error) {
	p := &pcln{l: l, m: m, funcs: map[funcKey]*funcInfo{}}
	seen := map[uint64]bool{}
	for md := first; md != 0 && !seen[md] && len(seen) < 1024; md = m.word(md + uint64(l.mdNext)) {
		seen[md] = true
		rd := func(off int64) uint64 { return m.word(md + uint64(off)) }
		slice := func(off int64) ([]byte, error) {
			ptr, n := rd(off), rd(off+8)
			if n == 0 {
				return nil, nil
			}
			if n > 1<<32 {
				return nil, fmt.Errorf("runtime.moduledata slice at %#x has length %d", md+uint64(off), n)
			}
			b := m.bytes(ptr, n)
			if b == nil {
				return nil, fmt.Errorf("the module's function table at %#x (%d bytes) is neither in the memory image nor in the executable", ptr, n)
			}
			return b, nil
		}
		mod := &pcModule{minpc: rd(l.mdMinpc), maxpc: rd(l.mdMaxpc), text: rd(l.mdText), rodata: rd(l.mdRodata), gofunc: rd(l.mdGofunc)}
		var err error
		if mod.pctab, err = slice(l.mdPctab); err != nil {
			return nil, err
		}
		if mod.pclntable, err = slice(l.mdPclntable); err != nil {
			return nil, err
		}
		if mod.funcnametab, err = slice(l.mdFuncnametab); err != nil {
			return nil, err
		}
		ptr, n := rd(l.mdFtab), rd(l.mdFtab+8)
		if n == 0 || n > 1<<26 {
			return nil, fmt.Errorf("runtime.moduledata.ftab has %d entries", n)
		}
		if mod.ftab = m.bytes(ptr, n*uint64(l.ftabSize)); mod.ftab == nil {
			return nil, fmt.Errorf("the module's ftab at %#x is neither in the memory image nor in the executable", ptr)
		}
		mod.nftab = int(n) - 1
		p.mods = append(p.mods, mod)
	}
	if len(p.mods) == 0 {
		return nil, fmt.Errorf("no module at runtime.firstmoduledata %#x", first)
	}
	return p, nil
}

// find returns the function holding pc, nil if none does.
func (p *pcln) find(pc uint64) *funcInfo {
	var mod *pcModule
	for _, md := range p.mods {
		if pc >= md.minpc && pc < md.maxpc {
			mod = md
			break
		}
	}
	if mod == nil || pc < mod.text {
		return nil
	}
	fs := uint64(p.l.ftabSize)
	entryOff := func(i int) uint64 { return uint64(binary.LittleEndian.Uint32(mod.ftab[uint64(i)*fs:])) }
	off := pc - mod.text
	i := sort.Search(mod.nftab, func(i int) bool { return entryOff(i) > off }) - 1
	if i < 0 {
		return nil
	}
	funcoff := uint64(binary.LittleEndian.Uint32(mod.ftab[uint64(i)*fs+4:]))
	if f := p.funcs[funcKey{mod, funcoff}]; f != nil {
		return f
	}
	l := p.l
	if funcoff+uint64(l.fnSize) > uint64(len(mod.pclntable)) {
		return nil
	}
	raw := mod.pclntable[funcoff:]
	f := &funcInfo{
		mod:       mod,
		raw:       raw,
		entry:     mod.text + uint64(binary.LittleEndian.Uint32(raw[l.fnEntryOff:])),
		args:      int32(binary.LittleEndian.Uint32(raw[l.fnArgs:])),
		npcdata:   binary.LittleEndian.Uint32(raw[l.fnNpcdata:]),
		funcID:    raw[l.fnFuncID],
		nfuncdata: raw[l.fnNfuncdata],
	}
	if uint64(l.fnSize)+uint64(f.npcdata)*4+uint64(f.nfuncdata)*4 > uint64(len(raw)) {
		return nil
	}
	if no := binary.LittleEndian.Uint32(raw[l.fnNameOff:]); uint64(no) < uint64(len(mod.funcnametab)) {
		nt := mod.funcnametab[no:]
		if k := bytes.IndexByte(nt, 0); k >= 0 {
			f.name = string(nt[:k])
		}
	}
	p.funcs[funcKey{mod, funcoff}] = f
	return f
}

// pcdata returns the value of PCDATA table at targetpc, -1 if none.
func (p *pcln) pcdata(f *funcInfo, table uint32, targetpc uint64) int32 {
	if table >= f.npcdata {
		return -1
	}
	off := binary.LittleEndian.Uint32(f.raw[uint64(p.l.fnSize)+uint64(table)*4:])
	if off == 0 || uint64(off) >= uint64(len(f.mod.pctab)) {
		return -1
	}
	tab := f.mod.pctab[off:]
	pc, val := f.entry, int32(-1)
	for first := true; ; first = false {
		uv, n := binary.Uvarint(tab)
		if n <= 0 || uv == 0 && !first {
			return -1
		}
		tab = tab[n:]
		u := uint32(uv)
		val += int32(-(u & 1) ^ (u >> 1))
		pcd, n := binary.Uvarint(tab)
		if n <= 0 {
			return -1
		}
		tab = tab[n:]
		pc += pcd // PCQuantum is 1 on amd64
		if targetpc < pc {
			return val
		}
	}
}

// funcdata returns the run-time address of the function's funcdata i, 0
// if it has none.
func (p *pcln) funcdata(f *funcInfo, i uint8) uint64 {
	if i >= f.nfuncdata {
		return 0
	}
	off := binary.LittleEndian.Uint32(f.raw[uint64(p.l.fnSize)+uint64(f.npcdata)*4+uint64(i)*4:])
	if off == ^uint32(0) {
		return 0
	}
	return f.mod.gofunc + uint64(off)
}

// stackMap returns bitmap k of the stackmap at addr: nbit bits, one per
// word. ok is false when the map is unreadable or k is out of range;
// a map with nbit 0 returns ok and no bits.
func (p *pcln) stackMap(addr uint64, k int32) (bv []byte, nbit int32, ok bool) {
	if addr == 0 {
		return nil, 0, false
	}
	l := p.l
	hdr := p.m.bytes(addr, uint64(l.smData))
	if hdr == nil {
		return nil, 0, false
	}
	n := int32(binary.LittleEndian.Uint32(hdr[l.smN:]))
	nbit = int32(binary.LittleEndian.Uint32(hdr[l.smNbit:]))
	if n <= 0 || nbit < 0 || nbit > 1<<24 {
		return nil, 0, false
	}
	if nbit == 0 {
		return nil, 0, true
	}
	if k < 0 || k >= n {
		return nil, 0, false
	}
	nb := uint64(nbit+7) / 8
	bv = p.m.bytes(addr+uint64(l.smData)+uint64(k)*nb, nb)
	return bv, nbit, bv != nil
}

// stackObjectRecord is one stack object of a frame (runtime/stack.go).
type stackObjectRecord struct {
	off, size, ptrBytes int32
	mask                []byte // one bit per word of the first ptrBytes bytes
}

// stackObjects returns the function's stack object records.
func (p *pcln) stackObjects(f *funcInfo) ([]stackObjectRecord, bool) {
	addr := p.funcdata(f, funcdataStackObjects)
	if addr == 0 {
		return nil, true
	}
	n, ok := p.m.u64(addr)
	if !ok || n > 1<<16 {
		return nil, false
	}
	l := p.l
	recs := p.m.bytes(addr+8, n*uint64(l.soRecord))
	if recs == nil {
		return nil, false
	}
	out := make([]stackObjectRecord, 0, n)
	for i := uint64(0); i < n; i++ {
		r := recs[i*uint64(l.soRecord):]
		rec := stackObjectRecord{
			off:      int32(binary.LittleEndian.Uint32(r[l.soOff:])),
			size:     int32(binary.LittleEndian.Uint32(r[l.soSize:])),
			ptrBytes: int32(binary.LittleEndian.Uint32(r[l.soPtrBytes:])),
		}
		if rec.ptrBytes < 0 || rec.size < 0 || rec.ptrBytes > rec.size {
			return nil, false
		}
		gcdata := f.mod.rodata + uint64(binary.LittleEndian.Uint32(r[l.soGCDataOff:]))
		if rec.mask = p.m.bytes(gcdata, (uint64(rec.ptrBytes)/8+7)/8); rec.mask == nil && rec.ptrBytes > 0 {
			return nil, false
		}
		out = append(out, rec)
	}
	return out, true
}
