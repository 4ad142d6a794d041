package heapgraph

import (
	"encoding/binary"
	"sort"
	"strconv"
	"strings"
)

// maxStatic bounds a static object's size: a larger one is taken for a
// damaged pointer.
const maxStatic = 1 << 24

// statics finds the static objects package variables point to: a package
// variable initialised with a composite literal (var sessions =
// &registry{...}, var handlers = []*handler{{...}}) points to an object the
// linker laid out in data or bss, in no variable of its own. Each is
// returned named after the variable that points to it, with the path from
// the variable to it as its Prefix and its DWARF type (its element type
// when it is an array of several), so that the heap objects it holds are
// reached through the variable. Static objects such an object points to
// are found too. read reads memory, inData says whether an address is in
// a data or bss section; vars are the variables known, sorted or not.
func (t *typer) statics(read func(addr, n uint64) []byte, inData func(uint64) bool, vars []namedVar) []namedVar {
	named := make([]namedVar, 0, len(vars))
	for _, v := range vars {
		if !strings.Contains(v.Name, "..stmp_") {
			named = append(named, v)
		}
	}
	sort.Slice(named, func(i, j int) bool { return named[i].Addr < named[j].Addr })
	inVar := func(a uint64) bool {
		i := sort.Search(len(named), func(i int) bool { return named[i].Addr+named[i].Size > a })
		return i < len(named) && named[i].Addr <= a
	}
	type item struct {
		owner, prefix string
		addr, count   uint64
		d             int32
	}
	var queue []item
	for _, v := range named {
		if v.Type != 0 {
			queue = append(queue, item{owner: v.Name, addr: v.Addr, count: 1, d: t.dtypeAt(v.Type)})
		}
	}
	lb := &tyLabeler{t: t, g: &Graph{}}
	seen := map[uint64]bool{}
	var out []namedVar
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		dt := &t.dts[it.d]
		size := dt.size
		if it.d == 0 || !dt.ptrs || size == 0 || it.count == 0 || size > maxStatic || it.count > maxStatic/size {
			continue
		}
		total := size * it.count
		data := read(it.addr, total)
		if data == nil {
			continue
		}
		for o := uint64(0); o+8 <= total; o += 8 {
			v := binary.LittleEndian.Uint64(data[o:])
			if v == 0 || !inData(v) || inVar(v) || seen[v] {
				continue
			}
			k := o / size
			leaf, base, ok := t.leafAt(it.d, o-k*size)
			if !ok || base != o-k*size {
				continue
			}
			ld := &t.dts[leaf]
			elem, count := ld.elem, uint64(1)
			switch ld.kind {
			case dPtr:
			case dSlice:
				if o+24 > total {
					continue
				}
				count = binary.LittleEndian.Uint64(data[o+16:])
			default:
				continue
			}
			es := t.dts[elem].size
			if elem == 0 || es == 0 || count == 0 || es > maxStatic || count > maxStatic/es || !inData(v+es*count-1) {
				continue
			}
			seen[v] = true
			var path strings.Builder
			path.WriteString(it.prefix)
			if it.count > 1 {
				path.WriteString("[" + strconv.FormatUint(k, 10) + "]")
			}
			lb.path(&path, it.d, o-k*size, 0, true, 0)
			out = append(out, namedVar{Name: it.owner, Addr: v, Size: es * count, Type: t.dts[elem].off, Prefix: path.String(), Static: true})
			queue = append(queue, item{owner: it.owner, prefix: path.String(), addr: v, count: count, d: elem})
		}
	}
	return out
}
