package heapgraph

import (
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
)

// Go's own DWARF attributes (cmd/internal/dwarf).
const (
	attrGoKind          dwarf.Attr = 0x2900
	attrGoKey           dwarf.Attr = 0x2901
	attrGoElem          dwarf.Attr = 0x2902
	attrGoEmbedded      dwarf.Attr = 0x2903
	attrGoRuntimeType   dwarf.Attr = 0x2904
	attrGoClosureOffset dwarf.Attr = 0x2907
)

// Go kinds as DW_AT_go_kind spells them (internal/abi.Kind).
const (
	goKindChan      = 18
	goKindFunc      = 19
	goKindInterface = 20
	goKindMap       = 21
	goKindSlice     = 23
	goKindString    = 24
)

// typer is the DWARF side of the graph: it names package variables, pushes
// DWARF types from the roots through typed pointers into heap objects and
// names the pointers between them. Everything it needs from the executable
// is read once by newTyper; the file is closed when it returns. A typer
// runs once (run is not safe to call again while a graph it typed is in
// use).
//
// The types it names objects with, beyond DWARF's own names (with Go's
// escapes undone and "noalg." dropped):
//
//	[]T (backing array)      a slice's array, as Build names arrays
//	string (bytes)           a string's bytes
//	map[K]V                  a map's header (internal/runtime/maps.Map)
//	map.dir[K]V              its directory of tables
//	map.table[K]V            one table
//	map.group[K]V            a small map's only group; a table's groups
//	                         are "[]map.group[K]V (backing array)"
//	chan T, chan T (buffer)  a channel (runtime.hchan) and its buffer
//	F (closure)              a func value's closure, F its function
//
// The labels it gives pointers (Graph.Label), joined into paths:
//
//	.field, [i]              a struct field, an array or slice element
//	map key, map value       a map slot's key or value
//	map directory, map group from a map's header
//	map table, map groups    from its directory, from a table
//	chan buffer              from a channel to its buffer
//	closure var NAME         a captured variable ("closure var" if unnamed)
//	method value receiver    the receiver a method value holds
//	(T), .field.(T)          an interface's data word, holding a T
//	(type), malloc header    an interface's type word, a header word
type typer struct {
	dw   *dwarf.Data
	bias uint64

	vars []globalVar
	// byName finds a type's DIE by its DWARF name ("main.session",
	// "*net/http.Server", "noalg.map.group[string]*main.session").
	byName map[string]dwarf.Offset
	// byRT finds a type's DIE by its runtime type descriptor's offset in
	// the module's type section (DW_AT_go_runtime_type).
	byRT map[uint64]dwarf.Offset
	// byRTName finds a type's DIE by the runtime's spelling of its name
	// ("http.Server"), built on first use.
	byRTName map[string]dwarf.Offset
	funcs    []tyFunc          // DWARF subprograms by entry PC
	syms     []tySym           // ELF function symbols by address
	itabs    map[uint64]string // static itab address → its dynamic type's name
	// types..etypes is the module's type section, at run-time addresses.
	types, etypes uint64
	ro            []Region // the executable's loadable contents, at run-time addresses
	// offsets in internal/abi.Type and internal/abi.ITab
	typTFlag, typStr, itabType uint64

	dts  []dtype
	dtOf map[dwarf.Offset]int32
	// special types made by the typer, by name: closures, map internals
	made map[string]int32
}

// globalVar is one package variable: its Go name, its run-time address and
// size, and its DWARF type.
type globalVar struct {
	Name       string
	Addr, Size uint64
	Type       dwarf.Offset
}

// tyFunc is a function with DWARF: its entry PC, name and, for closures,
// the variables it captured (their offsets in its closure object).
type tyFunc struct {
	entry    uint64 // 0 for an abstract DIE
	name     string
	off      dwarf.Offset
	origin   dwarf.Offset // the abstract DIE of an out-of-line copy
	captured []tyCaptured
	closure  int32 // dtype of its closure object, 0 until made
}

type tyCaptured struct {
	name string
	off  uint64
	typ  dwarf.Offset
}

// tySym is an ELF function symbol.
type tySym struct {
	addr uint64
	name string
}

// newTyper reads the executable's DWARF, symbols and read-only data.
func newTyper(in *Input) (*typer, error) {
	f, err := elf.Open(in.Exe)
	if err != nil {
		return nil, fmt.Errorf("open executable: %w", err)
	}
	defer f.Close()
	dw, err := f.DWARF()
	if err != nil {
		return nil, fmt.Errorf("read DWARF of %s (built with -ldflags=-w?): %w", in.Exe, err)
	}
	t := &typer{
		dw:       dw,
		bias:     in.Bias,
		byName:   make(map[string]dwarf.Offset, 1<<12),
		byRT:     make(map[uint64]dwarf.Offset, 1<<12),
		itabs:    map[uint64]string{},
		dtOf:     map[dwarf.Offset]int32{},
		made:     map[string]int32{},
		typTFlag: 20, typStr: 40, itabType: 8,
		// dts[0] is "no type".
		dts: []dtype{{}},
	}
	if err := t.readSymbols(f); err != nil {
		return nil, err
	}
	t.readSections(f)
	if err := t.index(f); err != nil {
		return nil, err
	}
	t.readABI()
	return t, nil
}

// readSymbols collects function symbols, static itabs and the type section.
func (t *typer) readSymbols(f *elf.File) error {
	syms, err := f.Symbols()
	if err != nil {
		return fmt.Errorf("read symbols of executable: %w", err)
	}
	for _, s := range syms {
		switch {
		case elf.ST_TYPE(s.Info) == elf.STT_FUNC:
			t.syms = append(t.syms, tySym{s.Value + t.bias, s.Name})
		case strings.HasPrefix(s.Name, "go:itab."):
			if typ := itabDynamic(s.Name[len("go:itab."):]); typ != "" {
				t.itabs[s.Value+t.bias] = typ
			}
		case s.Name == "runtime.types":
			t.types = s.Value + t.bias
		case s.Name == "runtime.etypes":
			t.etypes = s.Value + t.bias
		}
	}
	sort.Slice(t.syms, func(i, j int) bool { return t.syms[i].addr < t.syms[j].addr })
	return nil
}

// itabDynamic returns the dynamic type of an itab symbol's "T,I" name.
func itabDynamic(s string) string {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		case ',':
			if depth == 0 {
				return s[:i]
			}
		}
	}
	return ""
}

// readSections keeps the executable's allocated, non-executable contents:
// type descriptors, names and itabs, for images that lack them.
func (t *typer) readSections(f *elf.File) {
	for _, s := range f.Sections {
		if s.Type != elf.SHT_PROGBITS || s.Flags&elf.SHF_ALLOC == 0 || s.Flags&elf.SHF_EXECINSTR != 0 {
			continue
		}
		if s.Name == ".gopclntab" || s.Name == ".go.buildinfo" {
			continue
		}
		b, err := s.Data()
		if err != nil || len(b) == 0 {
			continue
		}
		t.ro = append(t.ro, Region{Addr: s.Addr + t.bias, Data: b})
	}
	sort.Slice(t.ro, func(i, j int) bool { return t.ro[i].Addr < t.ro[j].Addr })
}

// index walks the DWARF once: package variables, named types, runtime type
// references and functions with their captured variables.
func (t *typer) index(f *elf.File) error {
	var data []*elf.Section
	for _, name := range []string{".data", ".bss"} {
		if s := f.Section(name); s != nil {
			data = append(data, s)
		}
	}
	inData := func(addr uint64) bool {
		for _, s := range data {
			if addr >= s.Addr && addr < s.Addr+s.Size {
				return true
			}
		}
		return false
	}
	r := t.dw.Reader()
	depth := 0
	fn := -1 // index in t.funcs of the enclosing subprogram
	fnDepth := 0
	for {
		e, err := r.Next()
		if err != nil {
			return fmt.Errorf("read DWARF: %w", err)
		}
		if e == nil {
			break
		}
		if e.Tag == 0 {
			depth--
			if fn >= 0 && depth < fnDepth {
				fn = -1
			}
			continue
		}
		switch e.Tag {
		case dwarf.TagVariable:
			if depth == 1 {
				name, _ := e.Val(dwarf.AttrName).(string)
				loc, _ := e.Val(dwarf.AttrLocation).([]byte)
				typ, _ := e.Val(dwarf.AttrType).(dwarf.Offset)
				if len(loc) == 9 && loc[0] == 0x03 && name != "" {
					addr := binary.LittleEndian.Uint64(loc[1:])
					if inData(addr) {
						t.vars = append(t.vars, globalVar{Name: goSymName(name), Addr: addr + t.bias, Type: typ})
					}
				}
			} else if fn >= 0 {
				if off, ok := attrInt(e, attrGoClosureOffset); ok {
					name, _ := e.Val(dwarf.AttrName).(string)
					typ, _ := e.Val(dwarf.AttrType).(dwarf.Offset)
					if name != "" && typ != 0 {
						t.funcs[fn].captured = append(t.funcs[fn].captured, tyCaptured{name, uint64(off), typ})
					}
				}
			}
		case dwarf.TagSubprogram:
			// Functions that can be inlined have an abstract DIE (name,
			// variables) and an out-of-line copy pointing at it.
			name, _ := e.Val(dwarf.AttrName).(string)
			origin, _ := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
			lo, ok := e.Val(dwarf.AttrLowpc).(uint64)
			if ok {
				lo += t.bias
			}
			if name != "" || origin != 0 {
				t.funcs = append(t.funcs, tyFunc{entry: lo, name: name, off: e.Offset, origin: origin})
				fn, fnDepth = len(t.funcs)-1, depth+1
			}
		case dwarf.TagBaseType, dwarf.TagPointerType, dwarf.TagStructType, dwarf.TagArrayType,
			dwarf.TagTypedef, dwarf.TagSubroutineType, dwarf.TagUnspecifiedType:
			if depth == 1 {
				if name, _ := e.Val(dwarf.AttrName).(string); name != "" {
					if _, dup := t.byName[name]; !dup {
						t.byName[name] = e.Offset
					}
				}
				if rt, ok := e.Val(attrGoRuntimeType).(uint64); ok && rt != 0 {
					if _, dup := t.byRT[rt]; !dup {
						t.byRT[rt] = e.Offset
					}
				}
			}
		}
		if e.Children {
			depth++
		}
	}
	abstract := map[dwarf.Offset]int{}
	for i, f := range t.funcs {
		if f.name != "" {
			abstract[f.off] = i
		}
	}
	for i := range t.funcs {
		f := &t.funcs[i]
		if a, ok := abstract[f.origin]; ok && f.origin != 0 {
			if f.name == "" {
				f.name = t.funcs[a].name
			}
			if len(f.captured) == 0 {
				f.captured = t.funcs[a].captured
			}
		}
	}
	sort.Slice(t.funcs, func(i, j int) bool { return t.funcs[i].entry < t.funcs[j].entry })
	sort.Slice(t.vars, func(i, j int) bool { return t.vars[i].Addr < t.vars[j].Addr })
	for i := range t.vars {
		t.vars[i].Size = t.sizeOf(t.vars[i].Type, 0)
	}
	return nil
}

// readABI reads the offsets of the runtime's type descriptor and itab
// fields the typer uses, keeping Go 1.26's where DWARF lacks them.
func (t *typer) readABI() {
	field := func(typ, name string, def uint64) uint64 {
		off, ok := t.byName[typ]
		if !ok {
			return def
		}
		st, err := t.dw.Type(off)
		if err != nil {
			return def
		}
		for {
			td, ok := st.(*dwarf.TypedefType)
			if !ok {
				break
			}
			st = td.Type
		}
		s, ok := st.(*dwarf.StructType)
		if !ok {
			return def
		}
		for _, f := range s.Field {
			if f.Name == name {
				return uint64(f.ByteOffset)
			}
		}
		return def
	}
	t.typTFlag = field("internal/abi.Type", "TFlag", t.typTFlag)
	t.typStr = field("internal/abi.Type", "Str", t.typStr)
	t.itabType = field("internal/abi.ITab", "Type", t.itabType)
}

// sizeOf returns the size of the DWARF type at off, without decoding it.
func (t *typer) sizeOf(off dwarf.Offset, depth int) uint64 {
	if off == 0 || depth > 32 {
		return 0
	}
	r := t.dw.Reader()
	r.Seek(off)
	e, err := r.Next()
	if err != nil || e == nil {
		return 0
	}
	if n, ok := e.Val(dwarf.AttrByteSize).(int64); ok {
		return uint64(n)
	}
	switch e.Tag {
	case dwarf.TagPointerType, dwarf.TagSubroutineType:
		return 8
	case dwarf.TagTypedef:
		u, _ := e.Val(dwarf.AttrType).(dwarf.Offset)
		return t.sizeOf(u, depth+1)
	}
	return 0
}

// globals returns the package variables in data and bss, by address.
func (t *typer) globals() []globalVar { return t.vars }

// goSymName spells a linker symbol name as Go does: package paths escape
// some bytes ("gopkg.in/yaml%2ev3.Node").
func goSymName(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, ok := unhex2(s[i+1], s[i+2]); ok {
				b.WriteByte(v)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func unhex2(a, b byte) (byte, bool) {
	h := func(c byte) (byte, bool) {
		switch {
		case c >= '0' && c <= '9':
			return c - '0', true
		case c >= 'a' && c <= 'f':
			return c - 'a' + 10, true
		case c >= 'A' && c <= 'F':
			return c - 'A' + 10, true
		}
		return 0, false
	}
	x, ok1 := h(a)
	y, ok2 := h(b)
	return x<<4 | y, ok1 && ok2
}

// roBytes reads n bytes at addr from the executable's contents.
func (t *typer) roBytes(addr, n uint64) []byte {
	return regionBytes(t.ro, addr, n)
}

// regionBytes reads n bytes at addr from sorted regions, nil unless they
// lie wholly inside one. It keeps no cache, so it is safe for concurrent use.
func regionBytes(rs []Region, addr, n uint64) []byte {
	i := sort.Search(len(rs), func(i int) bool { return rs[i].Addr+uint64(len(rs[i].Data)) > addr })
	if i == len(rs) || addr < rs[i].Addr || addr-rs[i].Addr+n > uint64(len(rs[i].Data)) {
		return nil
	}
	return rs[i].Data[addr-rs[i].Addr : addr-rs[i].Addr+n]
}

// funcAt returns the DWARF function whose entry is pc, or nil.
func (t *typer) funcAt(pc uint64) *tyFunc {
	if pc == 0 {
		return nil
	}
	i := sort.Search(len(t.funcs), func(i int) bool { return t.funcs[i].entry >= pc })
	if i < len(t.funcs) && t.funcs[i].entry == pc {
		return &t.funcs[i]
	}
	return nil
}

// symAt names the function that starts at pc from the ELF symbols, ""
// if none does.
func (t *typer) symAt(pc uint64) string {
	i := sort.Search(len(t.syms), func(i int) bool { return t.syms[i].addr >= pc })
	if i == len(t.syms) || t.syms[i].addr != pc {
		return ""
	}
	return t.syms[i].name
}
