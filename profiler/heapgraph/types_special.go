package heapgraph

import (
	"debug/dwarf"
	"encoding/binary"
	"strings"
)

// Finalizers and cleanups: their roots get DWARF types so that what only
// they keep alive is typed too. A finalizer's function is a func value
// (its closure typed from the function's DWARF as any closure is); the
// finalized object's pointers are typed from the finalizer's ot, the
// runtime type of a pointer to it; a cleanup's argument, a copy AddCleanup
// boxed on the heap, is typed from the cleanup function's parameter.

// funcValueType returns the DWARF type of a func value, 0 if none.
func (t *typer) funcValueType() dwarf.Offset {
	return t.byName["func()"]
}

// runtimeType returns the DWARF type called name ("runtime.cleanupFn"),
// 0 if none.
func (t *typer) runtimeType(name string) dwarf.Offset {
	return t.byName[name]
}

// fieldType returns the DWARF type of field name of the struct called
// typ ("runtime.specialWeakHandle", "handle"), 0 if not known.
func (t *typer) fieldType(typ, name string) dwarf.Offset {
	d := t.dtypeAt(t.byName[typ])
	if d == 0 {
		return 0
	}
	f, ok := t.fieldOf(d, name)
	if !ok {
		return 0
	}
	return t.dts[f.typ].off
}

// elemOfPtrType returns the DWARF type T of the runtime type descriptor at
// addr, that of a *T (a finalizer's ot), 0 if it is not known.
func (t *typer) elemOfPtrType(addr uint64) dwarf.Offset {
	if addr < t.types || addr >= t.etypes {
		return 0
	}
	off, ok := t.byRT[addr-t.types]
	if !ok {
		return 0
	}
	d := t.dtypeAt(off)
	if d == 0 || t.dts[d].kind != dPtr || t.dts[d].elem == 0 {
		return 0
	}
	return t.dts[t.dts[d].elem].off
}

// specialRecord marks the runtime's records of cleanups and queued
// finalizers: their func fields are typed as func values.
func (t *typer) specialRecord(d *dtype) {
	switch d.name {
	case "runtime.cleanupFn":
		d.role = roleCleanup
	case "runtime.finalizer":
		d.role = roleFinalizer
	default:
		return
	}
	fn := t.madeType("func value", func(int32) dtype {
		return dtype{name: "func", size: 8, kind: dFunc, ptrs: true}
	})
	for i, f := range d.fields {
		if f.name == "fn" || f.name == "call" {
			d.fields[i].typ = fn
		}
	}
}

// specialRoot types what a cleanup's or queued finalizer's record (root
// ri of dtype d, its memory src; several records when the root is an
// array of them) points to beyond its fields' types: a cleanup's boxed
// argument, from the cleanup function's first parameter; a queued
// finalizer's object, from its ot.
func (r *tyRun) specialRoot(ri int, d int32, src []byte) {
	t, g := r.t, r.g
	dt := t.dts[d]
	es := dt.size
	if es == 0 || src == nil {
		return
	}
	off := func(name string) (uint64, bool) {
		f, ok := t.fieldOf(d, name)
		return f.off, ok
	}
	argOff, ok := off("arg")
	if !ok {
		return
	}
	word := func(o uint64) uint64 {
		if o+8 > uint64(len(src)) {
			return 0
		}
		return binary.LittleEndian.Uint64(src[o:])
	}
	for base := uint64(0); base+es <= uint64(len(src)); base += es {
		var typ int32
		switch dt.role {
		case roleCleanup:
			fo, ok := off("fn")
			if !ok {
				return
			}
			pc, ok := r.word(word(base + fo))
			if !ok {
				continue
			}
			if c, ok := r.paramCache[pc]; ok {
				typ = c
				break
			}
			name := ""
			if f := t.funcAt(pc); f != nil {
				name = f.name
			} else {
				name = t.symAt(pc)
			}
			if name != "" {
				typ = t.dtypeAt(t.firstParam(name))
			}
			if r.paramCache == nil {
				r.paramCache = map[uint64]int32{}
			}
			r.paramCache[pc] = typ
		case roleFinalizer:
			oo, ok := off("ot")
			if !ok {
				return
			}
			typ = t.dtypeAt(t.elemOfPtrType(word(base + oo)))
		}
		if typ == 0 {
			continue
		}
		p := word(base + argOff)
		for e := g.RootOut[ri]; e < g.RootOut[ri+1]; e++ {
			if uint64(g.RootOff[e]) != base+argOff {
				continue
			}
			tgt := g.RootTo[e]
			toff := p - g.Addr[tgt]
			if r.hasHeader(tgt) {
				toff -= 8
			}
			if toff == 0 {
				r.offer(tgt, typ, false, typ)
			}
		}
	}
}

// timerType returns, for time.Timer and time.Ticker, the dtype of what
// the runtime allocates for them (runtime.timeTimer: the channel, then the
// runtime's timer, whose pointers reach the P whose heap holds it), named
// as the time type; 0 for other types.
func (t *typer) timerType(d int32) int32 {
	name := t.dts[d].name
	if name != "time.Timer" && name != "time.Ticker" {
		return 0
	}
	off, ok := t.byName["runtime.timeTimer"]
	if !ok {
		return 0
	}
	tt := t.dtypeAt(off)
	if tt == 0 {
		return 0
	}
	return t.madeType("runtime timer "+name, func(int32) dtype {
		td := t.dts[tt]
		td.name = name
		return td
	})
}

// trieNode returns, for a pointer to an internal/sync.node[K,V] (the
// header of the nodes of sync.Map's and unique's hash-trie maps), the
// dtype of the node object tgt really is: an entry[K,V] (key and value)
// or an indirect[K,V] (children), as its isEntry byte says; 0 for other
// types or when the node's types are not in the DWARF.
func (r *tyRun) trieNode(d, tgt int32) int32 {
	t := r.t
	name := t.dts[d].name
	args, ok := strings.CutPrefix(name, "internal/sync.node")
	if !ok || !strings.HasPrefix(args, "[") {
		return 0
	}
	addr := r.g.Addr[tgt]
	if r.hasHeader(tgt) {
		addr += 8
	}
	b := r.bytes(addr, 1)
	if b == nil || b[0] > 1 {
		return 0
	}
	kind := "indirect"
	if b[0] == 1 {
		kind = "entry"
	}
	want := "internal/sync." + kind + args
	return t.madeType("trie "+want, func(int32) dtype {
		off, ok := t.byName[want]
		if !ok {
			// Only the shape instantiation may be in the DWARF: its
			// layout is the same.
			off, ok = t.byName["internal/sync."+kind+shapeArgs(args)]
		}
		if !ok {
			return dtype{}
		}
		nd := t.dts[t.dtypeAt(off)]
		nd.name = want
		return nd
	})
}

// shapeArgs spells type arguments "[K,V]" as their shapes as the compiler
// names them where it can: pointers share the shape *uint8, other types
// are "go.shape." and their spelling (exact for interfaces and basic
// types).
func shapeArgs(args string) string {
	inner := strings.TrimSuffix(strings.TrimPrefix(args, "["), "]")
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(inner); i++ {
		switch inner[i] {
		case '[', '(', '{':
			depth++
		case ']', ')', '}':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, inner[start:i])
				start = i + 1
			}
		}
	}
	parts = append(parts, inner[start:])
	for i, p := range parts {
		if strings.HasPrefix(p, "*") {
			parts[i] = "go.shape.*uint8"
		} else {
			parts[i] = "go.shape." + p
		}
	}
	return "[" + strings.Join(parts, ",") + "]"
}
