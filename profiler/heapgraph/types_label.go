package heapgraph

import (
	"sort"
	"strconv"
	"strings"
)

// tyLabeler names pointers from a run's typings. It reads no memory: what
// labels need beyond the types (interfaces' dynamic types) was recorded
// while typing, so it is safe for concurrent use and keeps neither the
// image nor the DWARF alive: its typer holds the decoded types only.
type tyLabeler struct {
	t      *typer
	g      *Graph
	odt    []int32
	rootD  []int32 // each root's dtype
	ifaces []tyIface
	// rootPrefix starts the labels of roots that are static objects: the
	// path from their variable to them (nil, or one per root).
	rootPrefix []string
}

// label names the pointer at off in object (or root) from by its field
// path in from's DWARF type.
func (l *tyLabeler) label(from int, root bool, off uint32) string {
	if root && from >= 0 && from < len(l.rootPrefix) && l.rootPrefix[from] != "" {
		return l.rootPrefix[from] + l.label1(from, root, off)
	}
	return l.label1(from, root, off)
}

// label1 is label without a root's prefix.
func (l *tyLabeler) label1(from int, root bool, off uint32) string {
	t := l.t
	var d int32
	base := uint64(0)
	arr := false
	if root {
		if from < 0 || from >= len(l.rootD) || l.rootD[from] == 0 {
			return ""
		}
		d = l.rootD[from]
	} else {
		if from < 0 || from >= len(l.odt) || l.odt[from] <= 0 {
			return ""
		}
		v := l.odt[from]
		d = v >> odtShift
		arr = v&odtArray != 0
		if v&odtHeader != 0 {
			base = 8
		}
	}
	o := uint64(off)
	if o < base {
		return "malloc header"
	}
	o -= base
	dt := &t.dts[d]
	if dt.size == 0 {
		return ""
	}
	if root && l.g != nil && from < len(l.g.Roots) && l.g.Roots[from].Kind != RootStack && l.g.Roots[from].Size >= 2*dt.size {
		arr = true // a root that is an array of its type
	}
	var b strings.Builder
	k := o / dt.size
	o -= k * dt.size
	if k > 0 && !arr && dt.role == roleClosure {
		return "closure var"
	}
	switch {
	case dt.role == roleMapDir:
		return "map table"
	case dt.role == roleMapGroup:
		// the group array of a map: the slot says key or value
	case arr || k > 0:
		b.WriteByte('[')
		b.WriteString(strconv.FormatUint(k, 10))
		b.WriteByte(']')
	}
	l.path(&b, d, o, from, root, off)
	return b.String()
}

// path writes the field path to byte o of dtype d; from, root and off
// identify the pointer word for lookups.
func (l *tyLabeler) path(b *strings.Builder, d int32, o uint64, from int, root bool, off uint32) {
	t := l.t
	for n := 0; n < 64; n++ {
		dt := &t.dts[d]
		switch dt.kind {
		case dStruct:
			fi := t.fieldAt(dt, o)
			if fi < 0 {
				if dt.role == roleClosure && o > 0 {
					b.WriteString("closure var")
				}
				return
			}
			f := &dt.fields[fi]
			switch dt.role {
			case roleMapGroup:
				if f.name == "slots" {
					// slots[i].key / .elem
					st := &t.dts[f.typ]
					es := t.dts[st.elem].size
					if st.kind == dArray && es > 0 {
						in := (o - f.off) % es
						sl := &t.dts[st.elem]
						if si := t.fieldAt(sl, in); si >= 0 {
							sf := &sl.fields[si]
							if sf.name == "key" {
								b.WriteString("map key")
							} else {
								b.WriteString("map value")
							}
							d, o = sf.typ, in-sf.off
							continue
						}
					}
					return
				}
			case roleMap:
				if f.name == "dirPtr" {
					if l.targetRole(from, root, off) == roleMapGroup {
						b.WriteString("map group")
					} else {
						b.WriteString("map directory")
					}
					return
				}
			case roleMapTable:
				if f.name == "groups" {
					b.WriteString("map groups")
					return
				}
			case roleChan:
				if f.name == "buf" {
					b.WriteString("chan buffer")
					return
				}
			case roleClosure:
				if f.name == "receiver" {
					b.WriteString("method value receiver")
				} else {
					b.WriteString("closure var ")
					b.WriteString(f.name)
				}
				d, o = f.typ, o-f.off
				continue
			}
			b.WriteByte('.')
			b.WriteString(f.name)
			d, o = f.typ, o-f.off
		case dArray:
			es := t.dts[dt.elem].size
			if es == 0 {
				return
			}
			k := o / es
			b.WriteByte('[')
			b.WriteString(strconv.FormatUint(k, 10))
			b.WriteByte(']')
			d, o = dt.elem, o-k*es
		case dEface, dIface:
			if o != 8 {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString("(type)")
				return
			}
			if dyn := l.dynamic(from, root, off); dyn != 0 {
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteByte('(')
				b.WriteString(t.dts[dyn].name)
				b.WriteByte(')')
			}
			return
		default:
			return
		}
	}
}

// dynamic is the dynamic type recorded for the interface data word at off
// in from.
func (l *tyLabeler) dynamic(from int, root bool, off uint32) int32 {
	xs := l.ifaces
	i := sort.Search(len(xs), func(i int) bool {
		x := xs[i]
		if x.root != root {
			return x.root
		}
		if x.from != int32(from) {
			return x.from > int32(from)
		}
		return x.off >= off
	})
	if i < len(xs) && xs[i].root == root && xs[i].from == int32(from) && xs[i].off == off {
		return xs[i].typ
	}
	return 0
}

// targetRole is the role of the typing of the object the pointer at off in
// from points to.
func (l *tyLabeler) targetRole(from int, root bool, off uint32) drole {
	g := l.g
	var lo, hi int64
	var offs []uint32
	var to []int32
	if root {
		if from+1 >= len(g.RootOut) {
			return roleNone
		}
		lo, hi, offs, to = g.RootOut[from], g.RootOut[from+1], g.RootOff, g.RootTo
	} else {
		if from+1 >= len(g.Out) {
			return roleNone
		}
		lo, hi, offs, to = g.Out[from], g.Out[from+1], g.Off, g.To
	}
	for e := lo; e < hi; e++ {
		if offs[e] == off {
			k := to[e]
			if k >= 0 && int(k) < len(l.odt) && l.odt[k] > 0 {
				return l.t.dts[l.odt[k]>>odtShift].role
			}
			return roleNone
		}
	}
	return roleNone
}
