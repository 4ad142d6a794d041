package heapgraph

import (
	"debug/dwarf"
	"strings"
)

// dkind says how a dtype holds pointers.
type dkind uint8

const (
	dNone     dkind = iota // no pointers the typer can follow
	dPtr                   // *T (elem T; 0 for unsafe.Pointer)
	dString                // string header: data pointer at 0
	dSlice                 // slice header: elem is the element type
	dEface                 // interface{}: type word, data word
	dIface                 // non-empty interface: itab word, data word
	dFunc                  // func value: pointer to a funcval
	dChan                  // chan: elem is the hchan struct
	dMap                   // map: elem is the map header struct
	dArray                 // [count]elem
	dStruct                // fields
	dMapDir                // a map header's dirPtr: a directory or, for small maps, a group
	dArrayPtr              // a pointer to the first of an array of elem (a map table's groups)
	dChanBuf               // an hchan's buf: elem is the channel's element type
)

// drole marks runtime structures whose pointers get special names.
type drole uint8

const (
	roleNone      drole = iota
	roleMap             // the map header (internal/runtime/maps.Map)
	roleMapDir          // an element of a map's directory (*table)
	roleMapTable        // a map table
	roleMapGroup        // a map group: ctrl word, slots of key and elem
	roleChan            // runtime.hchan
	roleClosure         // a closure object: F, then captured variables
	roleCleanup         // runtime.cleanupFn: a cleanup's function and argument
	roleFinalizer       // runtime.finalizer: a queued finalizer's function and object
)

// dtype is a DWARF type, decoded into what typing needs.
type dtype struct {
	name  string
	off   dwarf.Offset
	size  uint64
	count uint64 // dArray
	elem  int32  // dPtr, dSlice, dArray, dChan, dMap, dArrayPtr, dChanBuf; dMapDir: the directory entry
	aux   int32  // dMapDir: the group type
	rel   int32  // dMapDir: offset of dirLen from dirPtr
	kind  dkind
	role  drole
	ptrs  bool // holds pointers
	// fields of a dStruct, by offset
	fields []dfield
}

type dfield struct {
	name string
	off  uint64
	typ  int32
}

// dtypeAt returns the dtype of the DWARF type at off, decoding it (and the
// types it refers to) on first use. 0 means unknown.
func (t *typer) dtypeAt(off dwarf.Offset) int32 {
	if off == 0 {
		return 0
	}
	if i, ok := t.dtOf[off]; ok {
		return i
	}
	if u, ok := t.plainTypedef(off); ok {
		return u
	}
	i := t.newDtype()
	t.dtOf[off] = i
	d := t.decode(off, i)
	d.off = off
	d.name = goSymName(strings.TrimPrefix(d.name, "noalg."))
	t.dts[i] = d
	return i
}

func (t *typer) newDtype() int32 {
	t.dts = append(t.dts, dtype{})
	return int32(len(t.dts) - 1)
}

// entryAt reads the DIE at off and its children.
func (t *typer) entryAt(off dwarf.Offset) (*dwarf.Entry, []*dwarf.Entry) {
	r := t.dw.Reader()
	r.Seek(off)
	e, err := r.Next()
	if err != nil || e == nil {
		return nil, nil
	}
	var kids []*dwarf.Entry
	if e.Children {
		for {
			c, err := r.Next()
			if err != nil || c == nil || c.Tag == 0 {
				break
			}
			kids = append(kids, c)
			if c.Children {
				r.SkipChildren()
			}
		}
	}
	return e, kids
}

func attrInt(e *dwarf.Entry, a dwarf.Attr) (int64, bool) {
	switch v := e.Val(a).(type) {
	case int64:
		return v, true
	case uint64:
		return int64(v), true
	}
	return 0, false
}

// decode decodes the DIE at off; self is the dtype index reserved for it,
// so that recursive types refer back to it.
func (t *typer) decode(off dwarf.Offset, self int32) dtype {
	e, kids := t.entryAt(off)
	if e == nil {
		return dtype{}
	}
	name, _ := e.Val(dwarf.AttrName).(string)
	under, _ := e.Val(dwarf.AttrType).(dwarf.Offset)
	size, hasSize := attrInt(e, dwarf.AttrByteSize)
	gokind, _ := attrInt(e, attrGoKind)
	d := dtype{name: name, size: uint64(size)}
	switch e.Tag {
	case dwarf.TagBaseType, dwarf.TagUnspecifiedType:
		return d
	case dwarf.TagPointerType:
		d.size, d.kind, d.ptrs = 8, dPtr, true
		// Recursive types reach this pointer again before it is done:
		// they must see that it holds a pointer.
		t.dts[self] = d
		if under != 0 {
			d.elem = t.dtypeAt(under)
		}
		return d
	case dwarf.TagSubroutineType:
		d.size, d.kind, d.ptrs = 8, dFunc, true
		return d
	case dwarf.TagArrayType:
		d.kind = dArray
		d.elem = t.dtypeAt(under)
		for _, k := range kids {
			if k.Tag == dwarf.TagSubrangeType {
				if n, ok := attrInt(k, dwarf.AttrCount); ok && n >= 0 {
					d.count = uint64(n)
				}
			}
		}
		el := &t.dts[d.elem]
		if !hasSize {
			d.size = d.count * el.size
		}
		d.ptrs = el.ptrs && d.count > 0
		return d
	case dwarf.TagTypedef:
		switch gokind {
		case goKindInterface:
			d.size, d.ptrs, d.kind = 16, true, dEface
			if t.underName(under) == "runtime.iface" {
				d.kind = dIface
			}
			return d
		case goKindChan:
			elem, _ := e.Val(attrGoElem).(dwarf.Offset)
			d.size, d.ptrs, d.kind = 8, true, dChan
			t.dts[self] = d
			d.elem = t.chanStruct(under, elem, name)
			return d
		case goKindMap:
			d.size, d.ptrs, d.kind = 8, true, dMap
			t.dts[self] = d
			d.elem = t.mapStruct(under)
			return d
		}
		// plainTypedef handles the rest.
		return d
	case dwarf.TagStructType:
		switch gokind {
		case goKindString:
			d.kind, d.ptrs = dString, true
			return d
		case goKindSlice:
			elem, _ := e.Val(attrGoElem).(dwarf.Offset)
			d.kind, d.ptrs = dSlice, true
			t.dts[self] = d
			d.elem = t.dtypeAt(elem)
			return d
		}
		d.kind = dStruct
		for _, k := range kids {
			if k.Tag != dwarf.TagMember {
				continue
			}
			fname, _ := k.Val(dwarf.AttrName).(string)
			foff, _ := attrInt(k, dwarf.AttrDataMemberLoc)
			ftyp, _ := k.Val(dwarf.AttrType).(dwarf.Offset)
			fi := t.dtypeAt(ftyp)
			d.fields = append(d.fields, dfield{name: fname, off: uint64(foff), typ: fi})
			if t.dts[fi].ptrs {
				d.ptrs = true
			}
		}
		t.specialStruct(&d)
		return d
	}
	return d
}

// plainTypedef resolves a typedef with no Go kind of its own (a named
// type): the same dtype as its underlying type when it has the same name
// (Go's named structs), else a renamed copy. ok is false for other DIEs.
func (t *typer) plainTypedef(off dwarf.Offset) (int32, bool) {
	e, _ := t.entryAt(off)
	if e == nil || e.Tag != dwarf.TagTypedef {
		return 0, false
	}
	if k, _ := attrInt(e, attrGoKind); k == goKindInterface || k == goKindChan || k == goKindMap {
		return 0, false
	}
	under, _ := e.Val(dwarf.AttrType).(dwarf.Offset)
	name, _ := e.Val(dwarf.AttrName).(string)
	u := t.dtypeAt(under)
	if i, ok := t.dtOf[off]; ok { // reached through a cycle
		return i, true
	}
	ud := t.dts[u]
	name = goSymName(strings.TrimPrefix(name, "noalg."))
	if u == 0 || name == "" || name == ud.name || (ud.kind == dNone && ud.size == 0 && ud.name == "") {
		t.dtOf[off] = u
		return u, true
	}
	i := t.newDtype()
	ud.name, ud.off = name, off
	t.dts[i] = ud
	t.dtOf[off] = i
	return i, true
}

// underName is the name of the struct a typedef chain ends in.
func (t *typer) underName(off dwarf.Offset) string {
	for i := 0; i < 8 && off != 0; i++ {
		e, _ := t.entryAt(off)
		if e == nil {
			return ""
		}
		if e.Tag != dwarf.TagTypedef {
			name, _ := e.Val(dwarf.AttrName).(string)
			return name
		}
		off, _ = e.Val(dwarf.AttrType).(dwarf.Offset)
	}
	return ""
}

// specialStruct marks the runtime structures of maps (Go 1.24+ swiss
// tables) whose pointers the typer follows with more than their DWARF
// type says.
func (t *typer) specialStruct(d *dtype) {
	t.specialRecord(d)
	switch {
	case strings.HasPrefix(d.name, "groupReference<"):
		// data points at an array of groups, not one.
		for i, f := range d.fields {
			if f.name == "data" && t.dts[f.typ].kind == dPtr {
				d.fields[i].typ = t.madeType("groups "+d.name, func(self int32) dtype {
					return dtype{name: d.name + ".data", off: t.dts[f.typ].off, size: 8, kind: dArrayPtr, ptrs: true, elem: t.dts[f.typ].elem}
				})
			}
		}
	case strings.HasPrefix(d.name, "noalg.map.group[") || strings.HasPrefix(d.name, "map.group["):
		d.role = roleMapGroup
	case strings.HasPrefix(d.name, "sync/atomic.Pointer[") || strings.HasPrefix(d.name, "internal/runtime/atomic.Pointer["):
		t.atomicPointer(d)
	case d.name == "sync.Pool":
		// local and victim point at arrays of poolLocal, one per P.
		pl := t.dtypeAt(t.byName["sync.poolLocal"])
		if pl == 0 {
			return
		}
		arr := t.madeType("sync.Pool.local", func(int32) dtype {
			return dtype{name: "[]sync.poolLocal", off: t.dts[pl].off, size: 8, kind: dArrayPtr, ptrs: true, elem: pl}
		})
		for i, f := range d.fields {
			if (f.name == "local" || f.name == "victim") && t.dts[f.typ].kind == dPtr && t.dts[f.typ].elem == 0 {
				d.fields[i].typ = arr
			}
		}
	}
}

// atomicPointer types the unsafe.Pointer inside an atomic.Pointer[T] as a
// *T: sync/atomic's v (T is also in its [0]*T field), the runtime's u.value.
func (t *typer) atomicPointer(d *dtype) {
	var p int32
	for _, f := range d.fields {
		if ft := &t.dts[f.typ]; ft.kind == dArray && ft.count == 0 && t.dts[ft.elem].kind == dPtr {
			p = ft.elem
		}
	}
	if i, j := strings.IndexByte(d.name, '['), strings.LastIndexByte(d.name, ']'); p == 0 && i > 0 && j > i {
		p = t.dtypeAt(t.byName["*"+d.name[i+1:j]])
	}
	if p == 0 || t.dts[p].kind != dPtr {
		return
	}
	untyped := func(i int32) bool { return t.dts[i].kind == dPtr && t.dts[i].elem == 0 }
	for i, f := range d.fields {
		switch {
		case f.name == "v" && untyped(f.typ):
			d.fields[i].typ = p
		case f.name == "u" && t.dts[f.typ].kind == dStruct:
			u := t.dts[f.typ]
			for k, uf := range u.fields {
				if uf.name == "value" && untyped(uf.typ) {
					name := d.name
					d.fields[i].typ = t.madeType("u of "+name, func(int32) dtype {
						u.fields = append([]dfield(nil), u.fields...)
						u.fields[k].typ = p
						return u
					})
				}
			}
		}
	}
}

// madeType returns the typer-made dtype called key, making it with mk on
// first use.
func (t *typer) madeType(key string, mk func(self int32) dtype) int32 {
	if i, ok := t.made[key]; ok {
		return i
	}
	i := t.newDtype()
	t.made[key] = i
	d := mk(i)
	t.dts[i] = d
	return i
}

// derefStruct follows pointers and typedefs from the dtype i to a struct.
func (t *typer) derefStruct(i int32) int32 {
	for n := 0; n < 8 && i != 0; n++ {
		switch t.dts[i].kind {
		case dPtr:
			i = t.dts[i].elem
		case dStruct:
			return i
		default:
			return 0
		}
	}
	return 0
}

func (t *typer) fieldOf(i int32, name string) (dfield, bool) {
	for _, f := range t.dts[i].fields {
		if f.name == name {
			return f, true
		}
	}
	return dfield{}, false
}

// mapStruct makes the dtype of a map's header from its pointer type under:
// named "map[K]V", its dirPtr a dMapDir.
func (t *typer) mapStruct(under dwarf.Offset) int32 {
	hdr := t.derefStruct(t.dtypeAt(under))
	if hdr == 0 {
		return 0
	}
	return t.madeType("map "+t.dts[hdr].name, func(self int32) dtype {
		d := t.dts[hdr]
		d.fields = append([]dfield(nil), d.fields...)
		d.role = roleMap
		dir, ok1 := t.fieldOf(hdr, "dirPtr")
		dlen, ok2 := t.fieldOf(hdr, "dirLen")
		if !ok1 || !ok2 {
			return d
		}
		// dirPtr is **table: the directory's entries point at tables,
		// whose groups point at the group array.
		tabPtr := t.dts[dir.typ].elem
		tab := t.derefStruct(tabPtr)
		group := int32(0)
		if tab != 0 {
			if gr, ok := t.fieldOf(tab, "groups"); ok {
				if data, ok := t.fieldOf(gr.typ, "data"); ok {
					group = t.dts[data.typ].elem
				}
			}
		}
		if group == 0 || tabPtr == 0 {
			return d
		}
		suffix := strings.TrimPrefix(t.dts[group].name, "map.group")
		d.name = "map" + suffix
		tabMade := t.madeType("map.table"+suffix, func(int32) dtype {
			td := t.dts[tab]
			td.name, td.role = "map.table"+suffix, roleMapTable
			return td
		})
		ent := t.madeType("map.dir"+suffix, func(int32) dtype {
			return dtype{name: "map.dir" + suffix, off: t.dts[tabPtr].off, size: 8, kind: dPtr, ptrs: true, elem: tabMade, role: roleMapDir}
		})
		dp := t.madeType("map.dirPtr"+suffix, func(int32) dtype {
			return dtype{name: "map.dirPtr" + suffix, off: t.dts[dir.typ].off, size: 8, kind: dMapDir, ptrs: true, elem: ent, aux: group,
				rel: int32(dlen.off) - int32(dir.off)}
		})
		for i := range d.fields {
			if d.fields[i].name == "dirPtr" {
				d.fields[i].typ = dp
			}
		}
		return d
	})
}

// chanStruct makes the dtype of a channel's hchan from its pointer type
// under and element type elem: named "chan E", its buf a dChanBuf.
func (t *typer) chanStruct(under, elem dwarf.Offset, name string) int32 {
	hc := t.derefStruct(t.dtypeAt(under))
	if hc == 0 {
		return 0
	}
	return t.madeType("chan "+t.dts[hc].name, func(self int32) dtype {
		d := t.dts[hc]
		d.fields = append([]dfield(nil), d.fields...)
		d.role = roleChan
		if name != "" {
			d.name = goSymName(name)
		}
		e := t.dtypeAt(elem)
		if e == 0 {
			return d
		}
		buf := t.madeType("chan.buf "+d.name, func(int32) dtype {
			return dtype{name: d.name + " (buffer)", off: t.dts[e].off, size: 8, kind: dChanBuf, ptrs: true, elem: e}
		})
		for i := range d.fields {
			if d.fields[i].name == "buf" {
				d.fields[i].typ = buf
			}
		}
		return d
	})
}

// closureType returns the dtype of the closure object of the function
// whose entry is pc: F, then the variables it captured, named after the
// function. 0 if no function starts at pc.
func (t *typer) closureType(pc uint64) int32 {
	f := t.funcAt(pc)
	var name string
	var caps []tyCaptured
	if f != nil {
		if f.closure != 0 {
			return f.closure
		}
		name, caps = f.name, f.captured
	} else if name = t.symAt(pc); name == "" {
		return 0
	}
	c := t.madeType("closure "+name, func(int32) dtype {
		d := dtype{name: goSymName(name) + " (closure)", size: 8, kind: dStruct, role: roleClosure}
		d.fields = append(d.fields, dfield{name: ".F", off: 0})
		for _, c := range caps {
			ci := t.dtypeAt(c.typ)
			d.fields = append(d.fields, dfield{name: strings.TrimPrefix(c.name, "&"), off: c.off, typ: ci})
			if end := c.off + t.dts[ci].size; end > d.size {
				d.size = end
			}
			if t.dts[ci].ptrs {
				d.ptrs = true
			}
		}
		if recv, ok := strings.CutSuffix(name, "-fm"); ok && len(caps) == 0 {
			// A method value: the receiver follows F.
			typ := t.firstParam(recv)
			if typ == 0 {
				typ = t.byName[receiverType(recv)]
			}
			if typ != 0 {
				ri := t.dtypeAt(typ)
				d.fields = append(d.fields, dfield{name: "receiver", off: 8, typ: ri})
				d.size = 8 + t.dts[ri].size
				d.ptrs = t.dts[ri].ptrs
			}
		}
		sortFields(d.fields)
		return d
	})
	if f != nil {
		f.closure = c
	}
	return c
}

// firstParam returns the DWARF type of the first parameter of the function
// called name.
func (t *typer) firstParam(name string) dwarf.Offset {
	for i := range t.funcs {
		if t.funcs[i].name != name {
			continue
		}
		_, kids := t.entryAt(t.funcs[i].off)
		for _, k := range kids {
			if k.Tag == dwarf.TagFormalParameter {
				if typ, _ := k.Val(dwarf.AttrType).(dwarf.Offset); typ != 0 {
					return typ
				}
				break
			}
		}
	}
	return 0
}

// receiverType spells the receiver type of a method's full name:
// "*main.T" for "main.(*T).M", "main.T" for "main.T.M".
func receiverType(method string) string {
	if i := strings.Index(method, ".(*"); i >= 0 {
		if j := strings.Index(method[i:], ")."); j >= 0 {
			return "*" + method[:i+1] + method[i+3:i+j]
		}
	}
	depth := 0
	for i := len(method) - 1; i >= 0; i-- {
		switch method[i] {
		case ']', ')':
			depth++
		case '[', '(':
			depth--
		case '.':
			if depth == 0 {
				return method[:i]
			}
		}
	}
	return ""
}

func sortFields(fs []dfield) {
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && fs[j].off < fs[j-1].off; j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
}

// leafAt finds the pointer-holding leaf of the dtype d covering byte off:
// the leaf's dtype and its offset in d. ok is false when d has no pointer
// there.
func (t *typer) leafAt(d int32, off uint64) (leaf int32, base uint64, ok bool) {
	for n := 0; n < 64; n++ {
		dt := &t.dts[d]
		if !dt.ptrs {
			return 0, 0, false
		}
		switch dt.kind {
		case dStruct:
			f := t.fieldAt(dt, off)
			if f < 0 {
				return 0, 0, false
			}
			fo := dt.fields[f].off
			d = dt.fields[f].typ
			off -= fo
			base += fo
		case dArray:
			es := t.dts[dt.elem].size
			if es == 0 || off >= dt.size {
				return 0, 0, false
			}
			k := off / es
			d = dt.elem
			off -= k * es
			base += k * es
		case dEface, dIface:
			if off != 0 && off != 8 {
				return 0, 0, false
			}
			return d, base, true
		default:
			if off != 0 {
				return 0, 0, false
			}
			return d, base, true
		}
	}
	return 0, 0, false
}

// fieldAt is the index of the field of dt with pointers covering off, -1
// if none.
func (t *typer) fieldAt(dt *dtype, off uint64) int {
	fs := dt.fields
	lo, hi := 0, len(fs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if fs[m].off <= off {
			lo = m + 1
		} else {
			hi = m
		}
	}
	for i := lo - 1; i >= 0; i-- {
		f := &fs[i]
		ft := &t.dts[f.typ]
		if off < f.off+ft.size {
			if ft.ptrs {
				return i
			}
			return -1
		}
		if ft.size > 0 {
			return -1
		}
	}
	return -1
}
