//go:build linux && amd64

package attach

import (
	"debug/dwarf"
	"debug/elf"
	"sort"
)

// inlineIndex answers "which inlined function is executing at this PC" from
// the DWARF inlined-subroutine entries, which delve keeps to itself. Heap
// profile stacks need it: the runtime records one PC per inlined call, and
// runtime/pprof names each with the innermost function at that PC.
type inlineIndex struct {
	ranges []inlineRange // sorted by lo, then by depth
}

type inlineRange struct {
	lo, hi uint64
	depth  int
	name   string
}

// newInlineIndex reads the inlined subroutines of the binary at path, loaded with bias.
func newInlineIndex(path string, bias uint64) (*inlineIndex, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d, err := f.DWARF()
	if err != nil {
		return nil, err
	}
	type pending struct {
		r      inlineRange
		origin dwarf.Offset
	}
	var ps []pending
	names := map[dwarf.Offset]string{}
	r := d.Reader()
	depth := 0
	for {
		e, err := r.Next()
		if err != nil {
			return nil, err
		}
		if e == nil {
			break
		}
		if e.Tag == 0 {
			depth--
			continue
		}
		switch e.Tag {
		case dwarf.TagCompileUnit:
			depth = 0
		case dwarf.TagSubprogram:
			if n, ok := e.Val(dwarf.AttrName).(string); ok {
				names[e.Offset] = n
			}
		case dwarf.TagInlinedSubroutine:
			origin, _ := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
			rs, err := d.Ranges(e)
			if err == nil {
				for _, rg := range rs {
					ps = append(ps, pending{inlineRange{lo: rg[0] + bias, hi: rg[1] + bias, depth: depth}, origin})
				}
			}
		case dwarf.TagVariable, dwarf.TagFormalParameter, dwarf.TagLexDwarfBlock:
		default:
			if e.Tag != dwarf.TagCompileUnit && e.Tag != dwarf.TagSubprogram {
				// Types and the rest: nothing inside is code.
				if e.Children {
					r.SkipChildren()
				}
				continue
			}
		}
		if e.Children {
			depth++
		}
	}
	idx := &inlineIndex{ranges: make([]inlineRange, 0, len(ps))}
	for _, p := range ps {
		p.r.name = names[p.origin]
		if p.r.name != "" {
			idx.ranges = append(idx.ranges, p.r)
		}
	}
	sort.Slice(idx.ranges, func(i, j int) bool { return idx.ranges[i].lo < idx.ranges[j].lo })
	return idx, nil
}

// innermost returns the name of the deepest inlined function covering pc, or
// "" when pc is in no inlined code. entry is the start of the function holding
// pc: no inlined range of it starts before.
func (x *inlineIndex) innermost(pc, entry uint64) string {
	if x == nil {
		return ""
	}
	i := sort.Search(len(x.ranges), func(i int) bool { return x.ranges[i].lo > pc })
	best, bestDepth := "", -1
	for j := i - 1; j >= 0 && x.ranges[j].lo >= entry; j-- {
		r := x.ranges[j]
		if pc >= r.lo && pc < r.hi && r.depth > bestDepth {
			best, bestDepth = r.name, r.depth
		}
	}
	return best
}
