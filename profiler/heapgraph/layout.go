package heapgraph

import (
	"debug/dwarf"
	"fmt"
	"strings"
)

// layout is what Build must know about the target's runtime: struct field
// offsets and sizes, read from the executable's DWARF so that they follow
// the target's Go version.
type layout struct {
	// runtime.mheap
	mheapAllspans, mheapSweepgen int64
	// runtime.mspan
	spanStart, spanNpages, spanFreeindex, spanNelems, spanAllocBits int64
	spanClass, spanState, spanElemsize, spanSpecials, spanLargeType int64
	spanUserArena, spanSweepgen                                     int64
	spanFreeindexSize, spanNelemsSize                               int64
	// runtime.moduledata
	mdData, mdEdata, mdBss, mdEbss, mdGCData, mdGCBss, mdTypes, mdEtypes, mdNext int64
	// runtime.bitvector
	bvN, bvBytes int64
	// internal/abi.Type
	typSize, typPtrBytes, typTFlag, typKind, typGCData, typStr int64
	// internal/abi.ArrayType and StructType
	arrElem, arrLen, structFields, fieldSize, fieldTyp, fieldOffset int64
	// runtime.special and its kinds
	specialNext, specialOffset, specialKind, specialOffsetSize int64
	finFn, finOt, cleanupFn, cleanupFnSize, weakHandle         int64
	// finalizer and cleanup queues; negative when absent
	finBlockAlllink, finBlockCnt, finBlockFin, finalizerSize int64
	cleanupAll, cbAlllink, cbN, cbCleanups                   int64
	// inlineMarkBits is the size of Green Tea's inline mark bits at the
	// end of small-object spans (0 without Green Tea).
	inlineMarkBits int64
}

// wantedStructs are the runtime types layout reads.
var wantedStructs = []string{
	"runtime.mheap", "runtime.mspan", "runtime.moduledata", "runtime.bitvector",
	"internal/abi.Type", "internal/abi.ArrayType", "internal/abi.StructType", "internal/abi.StructField",
	"runtime.special", "runtime.specialfinalizer", "runtime.specialCleanup", "runtime.specialWeakHandle",
	"runtime.finBlock", "runtime.finalizer", "runtime.cleanupBlock", "runtime.cleanupQueue",
	"runtime.spanInlineMarkBits",
}

// readLayout finds the runtime's types in d.
func readLayout(d *dwarf.Data) (*layout, error) {
	want := map[string]bool{}
	for _, n := range wantedStructs {
		want[n] = true
	}
	found := map[string]*dwarf.StructType{}
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil {
			return nil, fmt.Errorf("read DWARF: %w", err)
		}
		if e == nil {
			break
		}
		switch e.Tag {
		case dwarf.TagCompileUnit:
			continue
		case dwarf.TagStructType:
			name, _ := e.Val(dwarf.AttrName).(string)
			// Skip declarations: the type's definition has its size.
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
	field := func(typ, path string) (off, size int64) {
		st := found[typ]
		if st == nil {
			missing = append(missing, typ)
			return -1, 0
		}
		off, size, ok := fieldOf(st, path)
		if !ok {
			missing = append(missing, typ+"."+path)
			return -1, 0
		}
		return off, size
	}
	optional := func(typ, path string) int64 {
		st := found[typ]
		if st == nil {
			return -1
		}
		off, _, ok := fieldOf(st, path)
		if !ok {
			return -1
		}
		return off
	}
	l := &layout{}
	f := func(typ, path string) int64 { off, _ := field(typ, path); return off }
	l.mheapAllspans = f("runtime.mheap", "allspans")
	l.mheapSweepgen = optional("runtime.mheap", "sweepgen")
	l.spanStart = f("runtime.mspan", "startAddr")
	l.spanNpages = f("runtime.mspan", "npages")
	l.spanFreeindex, l.spanFreeindexSize = field("runtime.mspan", "freeindex")
	l.spanNelems, l.spanNelemsSize = field("runtime.mspan", "nelems")
	l.spanAllocBits = f("runtime.mspan", "allocBits")
	l.spanClass = f("runtime.mspan", "spanclass")
	l.spanState = f("runtime.mspan", "state")
	l.spanElemsize = f("runtime.mspan", "elemsize")
	l.spanSpecials = f("runtime.mspan", "specials")
	l.spanLargeType = f("runtime.mspan", "largeType")
	l.spanUserArena = optional("runtime.mspan", "isUserArenaChunk")
	l.spanSweepgen = optional("runtime.mspan", "sweepgen")
	l.mdData = f("runtime.moduledata", "data")
	l.mdEdata = f("runtime.moduledata", "edata")
	l.mdBss = f("runtime.moduledata", "bss")
	l.mdEbss = f("runtime.moduledata", "ebss")
	l.mdGCData = f("runtime.moduledata", "gcdatamask")
	l.mdGCBss = f("runtime.moduledata", "gcbssmask")
	l.mdTypes = f("runtime.moduledata", "types")
	l.mdEtypes = f("runtime.moduledata", "etypes")
	l.mdNext = f("runtime.moduledata", "next")
	l.bvN = f("runtime.bitvector", "n")
	l.bvBytes = f("runtime.bitvector", "bytedata")
	l.typSize = f("internal/abi.Type", "Size_")
	l.typPtrBytes = f("internal/abi.Type", "PtrBytes")
	l.typTFlag = f("internal/abi.Type", "TFlag")
	l.typKind = f("internal/abi.Type", "Kind_")
	l.typGCData = f("internal/abi.Type", "GCData")
	l.typStr = f("internal/abi.Type", "Str")
	l.arrElem = f("internal/abi.ArrayType", "Elem")
	l.arrLen = f("internal/abi.ArrayType", "Len")
	l.structFields = f("internal/abi.StructType", "Fields")
	l.fieldTyp = f("internal/abi.StructField", "Typ")
	l.fieldOffset = f("internal/abi.StructField", "Offset")
	if st := found["internal/abi.StructField"]; st != nil {
		l.fieldSize = st.ByteSize
	}
	l.specialNext = f("runtime.special", "next")
	l.specialOffset, l.specialOffsetSize = field("runtime.special", "offset")
	l.specialKind = f("runtime.special", "kind")
	l.finFn = f("runtime.specialfinalizer", "fn")
	l.finOt = f("runtime.specialfinalizer", "ot")
	l.cleanupFn, l.cleanupFnSize = field("runtime.specialCleanup", "cleanup")
	l.weakHandle = f("runtime.specialWeakHandle", "handle")
	l.finBlockAlllink = optional("runtime.finBlock", "alllink")
	l.finBlockCnt = optional("runtime.finBlock", "cnt")
	l.finBlockFin = optional("runtime.finBlock", "fin")
	l.finalizerSize = -1
	if st := found["runtime.finalizer"]; st != nil {
		l.finalizerSize = st.ByteSize
	}
	l.cleanupAll = optional("runtime.cleanupQueue", "all")
	l.cbAlllink = optional("runtime.cleanupBlock", "cleanupBlockHeader.alllink")
	l.cbN = optional("runtime.cleanupBlock", "cleanupBlockHeader.n")
	l.cbCleanups = optional("runtime.cleanupBlock", "cleanups")
	// Green Tea's inline mark bits: the type is defined in DWARF when the
	// runtime was built with them (the default since Go 1.26), absent with
	// GOEXPERIMENT=nogreenteagc.
	if st := found["runtime.spanInlineMarkBits"]; st != nil {
		l.inlineMarkBits = st.ByteSize
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("runtime layout: %s not in the executable's DWARF (a Go version this build does not know?)", strings.Join(missing, ", "))
	}
	return l, nil
}

// fieldOf finds the field at a dotted path in st, through embedded and
// nested structs, and returns its offset and size.
func fieldOf(st *dwarf.StructType, path string) (off, size int64, ok bool) {
	name, rest, nested := strings.Cut(path, ".")
	for _, f := range st.Field {
		if f.Name != name {
			continue
		}
		if !nested {
			return f.ByteOffset, f.Type.Size(), true
		}
		inner, isStruct := underlying(f.Type).(*dwarf.StructType)
		if !isStruct {
			return 0, 0, false
		}
		o, s, ok := fieldOf(inner, rest)
		return f.ByteOffset + o, s, ok
	}
	return 0, 0, false
}

// underlying strips typedefs.
func underlying(t dwarf.Type) dwarf.Type {
	for {
		td, ok := t.(*dwarf.TypedefType)
		if !ok {
			return t
		}
		t = td.Type
	}
}
