package heapgraph

import (
	"debug/dwarf"
	"debug/elf"
	"sort"
)

// symbolGlobals lists the package variables from the executable's symbol
// table: names and extents, without DWARF types. It is the fallback when
// the DWARF typer is not available.
func symbolGlobals(x *exe) []namedVar {
	syms, err := x.file.Symbols()
	if err != nil {
		return nil
	}
	var out []namedVar
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) != elf.STT_OBJECT || s.Size == 0 || s.Section >= elf.SHN_LORESERVE {
			continue
		}
		if int(s.Section) >= len(x.file.Sections) {
			continue
		}
		if sec := x.file.Sections[s.Section]; sec.Flags&elf.SHF_WRITE == 0 {
			continue
		}
		out = append(out, namedVar{Name: s.Name, Addr: s.Value + x.bias, Size: s.Size})
	}
	return out
}

// namedVar is a package variable as dataRoots cuts data and bss: from the
// typer's globals or, failing that, from the symbol table.
type namedVar struct {
	Name       string
	Addr, Size uint64
	Type       dwarf.Offset
	// Prefix, for a static object a variable points to (a composite
	// literal the linker laid out in data or bss), is the path from the
	// variable Name to it: "", ".next", "[1]"; Static marks one.
	Prefix string
	Static bool
}

// withStatics adds the static objects to vars, dropping the variables
// they overlap (symbols of the linker's own for them, "..stmp_N").
func withStatics(vars, statics []namedVar) []namedVar {
	if len(statics) == 0 {
		return vars
	}
	sort.Slice(statics, func(i, j int) bool { return statics[i].Addr < statics[j].Addr })
	out := make([]namedVar, 0, len(vars)+len(statics))
	for _, v := range vars {
		i := sort.Search(len(statics), func(i int) bool { return statics[i].Addr+statics[i].Size > v.Addr })
		if i < len(statics) && statics[i].Addr < v.Addr+v.Size {
			continue
		}
		out = append(out, v)
	}
	// Statics that overlap one another: the first (lowest) keeps its words.
	for i, s := range statics {
		if i > 0 && s.Addr < statics[i-1].Addr+statics[i-1].Size {
			continue
		}
		out = append(out, s)
	}
	return out
}

// mergeVars adds to vars the symbols that overlap none of them: variables
// the DWARF does not describe keep their names.
func mergeVars(vars, syms []namedVar) []namedVar {
	sort.Slice(vars, func(i, j int) bool { return vars[i].Addr < vars[j].Addr })
	out := vars
	for _, s := range syms {
		i := sort.Search(len(vars), func(i int) bool { return vars[i].Addr+vars[i].Size > s.Addr })
		if i < len(vars) && vars[i].Addr < s.Addr+s.Size {
			continue
		}
		out = append(out, s)
	}
	return out
}
