package heapgraph

import (
	"context"
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
)

// TestTyperGlobals checks the typer's package variables against the
// executable's symbol table: same addresses, same sizes, every variable of
// the test program present with its Go name.
func TestTyperGlobals(t *testing.T) {
	for _, tc := range toolchains {
		t.Run(tc, func(t *testing.T) {
			t.Parallel()
			bin := buildProg(t, "typer", tc)
			ty, err := newTyper(&Input{Exe: bin})
			if err != nil {
				t.Fatal(err)
			}
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			syms, err := f.Symbols()
			if err != nil {
				t.Fatal(err)
			}
			bySym := map[string]elf.Symbol{}
			for _, s := range syms {
				if elf.ST_TYPE(s.Info) == elf.STT_OBJECT {
					bySym[s.Name] = s
				}
			}
			gs := ty.globals()
			if !sort.SliceIsSorted(gs, func(i, j int) bool { return gs[i].Addr < gs[j].Addr }) {
				t.Error("globals are not sorted by address")
			}
			byName := map[string]globalVar{}
			checked := 0
			for _, g := range gs {
				byName[g.Name] = g
				s, ok := bySym[g.Name]
				if !ok {
					continue
				}
				checked++
				if s.Value != g.Addr || (s.Size != 0 && s.Size != g.Size) {
					t.Errorf("%s: address %#x size %d, symbol table says %#x size %d", g.Name, g.Addr, g.Size, s.Value, s.Size)
				}
			}
			if checked < 100 {
				t.Errorf("only %d of %d globals found in the symbol table", checked, len(gs))
			}
			for name, size := range map[string]uint64{
				"main.sessions": 8, "main.slice": 24, "main.array": 32, "main.eface": 16, "main.iface": 16,
				"main.closure": 8, "main.ch": 8, "main.box": 8, "main.outer": 8, "main.names": 24,
				"runtime.allgs": 24, "net/http.DefaultServeMux": 0,
			} {
				g, ok := byName[name]
				if name == "net/http.DefaultServeMux" {
					continue // not linked into this program
				}
				if !ok {
					t.Errorf("global %s not found", name)
					continue
				}
				if g.Size != size || g.Type == 0 {
					t.Errorf("global %s: size %d, DWARF type %#x; want size %d and a type", name, g.Size, g.Type, size)
				}
			}
			// With a load bias, addresses move with it.
			ty2, err := newTyper(&Input{Exe: bin, Bias: 0x1000})
			if err != nil {
				t.Fatal(err)
			}
			if g2 := ty2.globals(); len(g2) != len(gs) || g2[0].Addr != gs[0].Addr+0x1000 {
				t.Errorf("biased globals: %d, first at %#x; want %d at %#x", len(g2), g2[0].Addr, len(gs), gs[0].Addr+0x1000)
			}
		})
	}
}

// typedGraph builds the graph of a core of bin and, unless Build ran the
// typer itself, runs it.
func typedGraph(t *testing.T, corePath, bin string, stack ...StackVar) *Graph {
	t.Helper()
	c, err := OpenCore(corePath)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bias, err := c.Bias(bin)
	if err != nil {
		t.Fatal(err)
	}
	in := &Input{Mem: c.Mem, Exe: bin, Bias: bias, GoVersion: runtime.Version(), Stack: stack}
	g, err := Build(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if g.labeler != nil {
		return g
	}
	ty, err := newTyper(in)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]globalVar{}
	for _, v := range ty.globals() {
		byName[v.Name] = v
	}
	for i := range g.Roots {
		r := &g.Roots[i]
		if v, ok := byName[r.Name]; ok && r.Kind == RootGlobal && r.Type == 0 && v.Addr == r.Addr {
			r.Type = v.Type
		}
	}
	ty.run(g, c.Mem)
	return g
}

// anyIndex matches the index in a label.
var anyIndex = regexp.MustCompile(`\[[0-9]+\]`)

// inEdge is a pointer into an object, with its label.
type inEdge struct {
	from  int
	root  bool
	label string
}

// inEdges returns, for each object in objs, the pointers to it.
func inEdges(g *Graph, objs []int) map[int][]inEdge {
	want := map[int32]bool{}
	for _, o := range objs {
		want[int32(o)] = true
	}
	out := map[int][]inEdge{}
	for i := range g.Roots {
		for e := g.RootOut[i]; e < g.RootOut[i+1]; e++ {
			if want[g.RootTo[e]] {
				out[int(g.RootTo[e])] = append(out[int(g.RootTo[e])], inEdge{i, true, g.Label(i, true, g.RootOff[e])})
			}
		}
	}
	for i := 0; i < len(g.Addr); i++ {
		for e := g.Out[i]; e < g.Out[i+1]; e++ {
			if want[g.To[e]] {
				out[int(g.To[e])] = append(out[int(g.To[e])], inEdge{i, false, g.Label(i, false, g.Off[e])})
			}
		}
	}
	return out
}

// TestTyperTypes types the typer program's heap from a core, built by both
// Go versions, and checks every leaf type's exact count and the label and
// type of what points to it.
func TestTyperTypes(t *testing.T) {
	type build struct {
		name, toolchain string
		flags           []string
	}
	builds := []build{{"pie", "local", []string{"-buildmode=pie"}}}
	for _, tc := range toolchains {
		builds = append(builds, build{tc, tc, nil})
	}
	for _, b := range builds {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			bin := buildProg(t, "typer", b.toolchain, b.flags...)
			cmd, lines := startProg(t, bin)
			var stackAddr uint64
			for _, l := range lines {
				fmt.Sscanf(l, "stack %v", &stackAddr)
			}
			if stackAddr == 0 {
				t.Fatalf("typer printed no stack address: %q", lines)
			}
			core := dumpCore(t, cmd.Process.Pid)
			g := typedGraph(t, core, bin, StackVar{Goroutine: 99, Func: "main.hold", Name: "p",
				Type: localType(t, bin, "main.hold", "p"), Addr: stackAddr, Size: 8})
			if b.name == "pie" && g.Stats.UnscannedObjects > 0 {
				// Build reads type descriptors of a PIE from the file,
				// whose pointers are not relocated.
				t.Skipf("Build could not read the pointer layout of %d objects of the PIE: %q", g.Stats.UnscannedObjects, g.Stats.Notes)
			}
			names := byName(g)
			tname := func(i int, root bool) string {
				if root {
					return "root " + g.Roots[i].Name
				}
				return g.Types[g.Type[i]].Name
			}
			for _, w := range []struct {
				typ   string
				count int
				// from is the type (or "root NAME") of what points to
				// each object, label the pointer's label; a label ending
				// in "[" matches any element, "[*]" any index.
				from, label string
			}{
				{"main.session", 1000, "map.group[string]*main.session|[]map.group[string]*main.session (backing array)", "map value"},
				{"main.smallVal", 5, "map.group[int]*main.smallVal", "map value"},
				{"main.structVal", 300, "map.group[int]main.entry|[]map.group[int]main.entry (backing array)", "map value.v"},
				{"main.keyObj", 7, "map.group[*main.keyObj]bool", "map key"},
				{"main.sliceElem", 40, "[]*main.sliceElem (backing array)", "["},
				{"main.arrayElem", 4, "root main.array", "["},
				{"main.efaceElem", 1, "root main.eface", "(*main.efaceElem)"},
				{"main.ifaceElem", 1, "root main.iface", "(*main.ifaceElem)"},
				{"main.boxedVal", 1, "root main.boxed", "(main.boxedVal)"},
				{"main.closureVar", 1, "main.main.func1 (closure)", "closure var cv"},
				{"main.methodRecv", 1, "main.(*methodRecv).Run-fm (closure)", "method value receiver"},
				{"main.chanElem", 3, "chan *main.chanElem (buffer)", "["},
				{"main.genericVal", 4, "main.Box[*main.genericVal]", ".v"},
				{"main.embedded", 1, "main.Outer", ".Inner.e"},
				{"main.nested", 1, "main.Outer", ".tail"},
				{"main.bigElem", 100, "[]*main.bigElem (backing array)", "["},
				{"main.stackElem", 1, "root goroutine 99 main.hold: p", ""},
				{"main.dynElem", 1, "root main.dyn", "(*main.dynElem)"},
				{"main.regElem", 2, "map.group[string]*main.regElem", "map value"},
				{"main.queueElem", 1, "main.Queue (buffer)", "[0]"},
				{"main.poolElem", 1, "[]sync.poolLocal (backing array)", "[*].poolLocalInternal.private.(*main.poolElem)"},
				{"main.atomicElem", 1, "root main.atomicP", ".v"},
				{"main.bigValue", 9, "map.group[int]main.bigValue", "map value"},
				{"main.bigValLeaf", 9, "main.bigValue", ".p"},
				{"main.pairB", 3, "root main.pairs", "[*].b"},
				{"main.anyElem", 3, "[]interface {} (backing array)", "[*].(*main.anyElem)"},
				// the containers
				{"map[string]*main.session", 1, "root main.sessions", ""},
				{"map.dir[string]*main.session", 1, "map[string]*main.session", "map directory"},
				{"map.table[string]*main.session", 2, "map.dir[string]*main.session", "map table"},
				{"[]map.group[string]*main.session (backing array)", 2, "map.table[string]*main.session", "map groups"},
				{"map.group[int]*main.smallVal", 1, "map[int]*main.smallVal", "map group"},
				{"chan *main.chanElem (buffer)", 1, "chan *main.chanElem", "chan buffer"},
				{"chan *main.chanElem", 1, "root main.ch", ""},
				{"main.main.func1 (closure)", 1, "root main.closure", ""},
				{"[]*main.sliceElem (backing array)", 1, "root main.slice", ""},
				{"main.Outer", 1, "root main.outer", ""},
				{"time.Ticker", 1, "root main.ticker", ""},
				{"main.syncElem", 20, "internal/sync.entry[interface {},interface {}]", ".value.(*main.syncElem)"},
			} {
				objs := names[w.typ]
				if len(objs) != w.count {
					t.Errorf("%s: %d objects, want %d", w.typ, len(objs), w.count)
				}
				in := inEdges(g, objs)
				bad := 0
				for _, o := range objs {
					ok := false
					var seen []string
					for _, e := range in[o] {
						seen = append(seen, tname(e.from, e.root)+" "+e.label)
						if slices.Contains(strings.Split(w.from, "|"), tname(e.from, e.root)) && (slices.Contains(strings.Split(w.label, "|"), e.label) || slices.Contains(strings.Split(w.label, "|"), anyIndex.ReplaceAllString(e.label, "[*]")) || strings.HasSuffix(w.label, "[") && strings.HasPrefix(e.label, w.label)) {
							ok = true
						}
					}
					if !ok {
						if bad++; bad <= 3 {
							t.Errorf("%s at %#x: pointed to by %q, want %s with label %q", w.typ, g.Addr[o], seen, w.from, w.label)
						}
					}
				}
			}
			// Every type of the program has its DWARF entry, Build's too.
			ty, err := newTyper(&Input{Exe: bin})
			if err != nil {
				t.Fatal(err)
			}
			for _, typ := range g.Types {
				if !strings.Contains(typ.Name, "main.") || strings.HasSuffix(typ.Name, "(closure)") {
					continue
				}
				if typ.DWARF == 0 {
					t.Errorf("type %s has no DWARF offset", typ.Name)
					continue
				}
				e, _ := ty.entryAt(typ.DWARF)
				name, _ := e.Val(dwarf.AttrName).(string)
				name = strings.TrimPrefix(name, "noalg.")
				want := strings.TrimSuffix(strings.TrimPrefix(typ.Name, "[]"), " (backing array)")
				special := strings.HasPrefix(typ.Name, "map") || strings.HasPrefix(name, "hchan<") || strings.HasSuffix(typ.Name, " (buffer)")
				if name != want && !special {
					t.Errorf("type %s: DWARF entry %#x is %s", typ.Name, typ.DWARF, name)
				}
			}
			// Labels are safe to ask for concurrently, and the same.
			want := make([]string, len(g.To))
			for i := range g.Addr {
				for e := g.Out[i]; e < g.Out[i+1]; e++ {
					want[e] = g.Label(i, false, g.Off[e])
				}
			}
			var wg sync.WaitGroup
			for w := 0; w < 4; w++ {
				wg.Go(func() {
					for i := range g.Addr {
						for e := g.Out[i]; e < g.Out[i+1]; e++ {
							if l := g.Label(i, false, g.Off[e]); l != want[e] {
								t.Errorf("label of pointer %d: %q, then %q", e, want[e], l)
								return
							}
						}
					}
				})
			}
			wg.Wait()
			if n := len(names["string (bytes)"]); n < 6 {
				t.Errorf("string (bytes): %d objects, want at least the 6 names", n)
			}
			t.Logf("stats: %+v; %d types", g.Stats, len(g.Types))
		})
	}
}

func TestReceiverType(t *testing.T) {
	for in, want := range map[string]string{
		"main.(*methodRecv).Run":           "*main.methodRecv",
		"main.T.M":                         "main.T",
		"github.com/a/b.(*Box[int]).Get":   "*github.com/a/b.Box[int]",
		"github.com/a/b.Pair[a.b,c.d].Get": "github.com/a/b.Pair[a.b,c.d]",
	} {
		if got := receiverType(in); got != want {
			t.Errorf("receiverType(%q) = %q, want %q", in, got, want)
		}
	}
}

// localType returns the DWARF type of variable name of function fn in bin.
func localType(t *testing.T, bin, fn, name string) dwarf.Offset {
	t.Helper()
	ty, err := newTyper(&Input{Exe: bin})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range ty.funcs {
		if f.name != fn {
			continue
		}
		_, kids := ty.entryAt(f.off)
		for _, k := range kids {
			if n, _ := k.Val(dwarf.AttrName).(string); n == name && k.Tag == dwarf.TagVariable {
				typ, _ := k.Val(dwarf.AttrType).(dwarf.Offset)
				return typ
			}
		}
	}
	t.Fatalf("no variable %s in %s", name, fn)
	return 0
}

// TestTyperCorruptMemory types a real graph again over damaged copies of
// its memory: words overwritten with random values and with addresses of
// other objects, regions missing, no memory at all. The typer must neither
// crash nor type an object beyond what its pointer layout allows.
func TestTyperCorruptMemory(t *testing.T) {
	t.Parallel()
	bin := buildProg(t, "typer", "local")
	cmd, _ := startProg(t, bin)
	core := dumpCore(t, cmd.Process.Pid)
	c, err := OpenCore(core)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bias, err := c.Bias(bin)
	if err != nil {
		t.Fatal(err)
	}
	in := &Input{Mem: c.Mem, Exe: bin, Bias: bias, GoVersion: runtime.Version()}
	g, err := Build(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	damaged := func(keep func(i int) bool, overwrite func(b []byte)) *Image {
		var rs []Region
		for i, r := range c.Mem.Regions() {
			if !keep(i) {
				continue
			}
			d := append([]byte(nil), r.Data...)
			overwrite(d)
			rs = append(rs, Region{Addr: r.Addr, Data: d})
		}
		return NewImage(rs)
	}
	images := map[string]*Image{
		"intact copy": damaged(func(int) bool { return true }, func([]byte) {}),
		"random words": damaged(func(int) bool { return true }, func(b []byte) {
			for o := 0; o+8 <= len(b); o += 8 * (1 + rng.IntN(16)) {
				binary.LittleEndian.PutUint64(b[o:], rng.Uint64())
			}
		}),
		"object addresses": damaged(func(int) bool { return true }, func(b []byte) {
			for o := 0; o+8 <= len(b); o += 8 * (1 + rng.IntN(8)) {
				binary.LittleEndian.PutUint64(b[o:], g.Addr[rng.IntN(len(g.Addr))]+uint64(rng.IntN(3))*8)
			}
		}),
		"every other region": damaged(func(i int) bool { return i%2 == 0 }, func([]byte) {}),
		"no memory":          NewImage(nil),
	}
	for name, img := range images {
		ty, err := newTyper(in)
		if err != nil {
			t.Fatal(err)
		}
		// A copy of the graph as Build left it before typing.
		g2 := *g
		g2.Type = make([]TypeID, len(g.Type))
		g2.Types = append([]Type(nil), g.Types...)
		g2.labeler = nil
		ty.run(&g2, img)
		labels := 0
		for i := range g2.Addr {
			for e := g2.Out[i]; e < g2.Out[i+1]; e++ {
				if g2.Label(i, false, g2.Off[e]) != "" {
					labels++
				}
			}
			if tid := g2.Type[i]; tid != NoType {
				if d := ty.dtOfName(g2.Types[tid].Name); d > 0 && ty.dts[d].size > g2.Size[i] {
					t.Errorf("%s: object at %#x of %d bytes typed %s of %d bytes", name, g2.Addr[i], g2.Size[i], g2.Types[tid].Name, ty.dts[d].size)
				}
			}
		}
		for i := range g2.Roots {
			for e := g2.RootOut[i]; e < g2.RootOut[i+1]; e++ {
				g2.Label(i, true, g2.RootOff[e])
			}
		}
		typed := 0
		for _, tid := range g2.Type {
			if tid != NoType {
				typed++
			}
		}
		t.Logf("%s: %d of %d objects typed, %d labelled pointers", name, typed, len(g2.Addr), labels)
		if name == "intact copy" && typed < len(g2.Addr)*95/100 {
			t.Errorf("intact copy: only %d of %d objects typed", typed, len(g2.Addr))
		}
	}
}

// dtOfName finds the dtype the typer made or decoded with this name.
func (t *typer) dtOfName(name string) int32 {
	for i := range t.dts {
		if t.dts[i].name == name {
			return int32(i)
		}
	}
	return 0
}
