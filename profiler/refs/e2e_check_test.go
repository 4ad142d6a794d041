//go:build linux && amd64

package refs_test

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/leakhunt/leakhunt/profiler/heapgraph"
	"github.com/leakhunt/leakhunt/profiler/refs"
	"github.com/leakhunt/leakhunt/profiler/refs/testdata/progs/expect"
)

// The checks of a captured graph against what a program announced.

// checkTypes compares the by-type table with the program's counts.
func checkTypes(t *testing.T, e *expect.Expect, a *refs.Analysis) {
	t.Helper()
	rows := map[string]refs.TypeStat{}
	for _, ts := range a.Types {
		rows[ts.Name] = ts
	}
	for _, name := range stableTypes(e) {
		want := e.Types[name]
		got, ok := rows[name]
		if (!ok && want.Objects != 0) || got.Objects != int64(want.Objects) || (want.Bytes != 0 && got.Bytes != want.Bytes) {
			t.Errorf("%s (%s): type %s: %d objects, %d bytes; want %d objects, %d bytes%s",
				e.Program, e.Go, name, got.Objects, got.Bytes, want.Objects, want.Bytes, near(a, name, want))
		}
	}
	for elem, want := range e.Arrays {
		var got refs.TypeStat
		var names []string
		for _, ts := range a.Types {
			if isArrayOf(ts.Name, elem) {
				got.Objects += ts.Objects
				got.Bytes += ts.Bytes
				names = append(names, ts.Name)
			}
		}
		if got.Objects != int64(want.Objects) || (want.Bytes != 0 && got.Bytes != want.Bytes) {
			t.Errorf("%s (%s): backing arrays of %s: %d objects, %d bytes (types %q); want %d objects, %d bytes%s",
				e.Program, e.Go, elem, got.Objects, got.Bytes, names, want.Objects, want.Bytes, near(a, elem, expect.Count{}))
		}
	}
}

// stableTypes lists the types whose counts are checked, sorted.
func stableTypes(e *expect.Expect) []string {
	names := e.Stable
	if len(names) == 0 {
		for n := range e.Types {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// isArrayOf reports whether a type name is a backing array of elem:
// "[30]main.gridCell" or "[]main.gridCell (backing array)".
func isArrayOf(name, elem string) bool {
	if name == "[]"+elem+" (backing array)" {
		return true
	}
	m := arrayRE.FindStringSubmatch(name)
	return m != nil && m[1] == elem
}

var arrayRE = regexp.MustCompile(`^\[[0-9]+\](.+)$`)

// near lists the rows a missing or miscounted type may have gone to: types
// whose names contain its name, and objects of unknown type of its size.
func near(a *refs.Analysis, name string, want expect.Count) string {
	short := strings.TrimPrefix(name, "main.")
	var out []string
	for _, ts := range a.Types {
		if ts.Name != name && strings.Contains(ts.Name, short) {
			out = append(out, fmt.Sprintf("%s: %d", ts.Name, ts.Objects))
		}
		if want.Objects > 0 && ts.Name == fmt.Sprintf("<unknown, %d B>", want.Bytes/uint64(want.Objects)) {
			out = append(out, fmt.Sprintf("%s: %d", ts.Name, ts.Objects))
		}
	}
	if len(out) == 0 {
		return ""
	}
	if len(out) > 8 {
		out = append(out[:8], "…")
	}
	return "; related rows: " + strings.Join(out, ", ")
}

// rootsFor finds the graph roots a Retained or Why entry names.
func rootsFor(e *expect.Expect, g *heapgraph.Graph, root, gor, fn, v string) []int {
	var out []int
	for i, r := range g.Roots {
		if gor != "" {
			if r.Kind == heapgraph.RootStack && r.Goroutine == e.Goroutines[gor] && strings.HasSuffix(r.Name, " "+fn+": "+v) {
				out = append(out, i)
			}
			continue
		}
		for _, alt := range strings.Split(root, "|") {
			if r.Name == alt {
				out = append(out, i)
			}
		}
	}
	return out
}

// stackKey is a goroutine variable's root name in the analysis tables (the
// goroutine ID dropped).
func stackKey(fn, v string) string { return "goroutine * " + fn + ": " + v }

// sharedRootName turns a Shared entry's root ("main.x" or "goroutine NAME
// FUNC VAR") into its name in the analysis tables.
func sharedRootName(r string) string {
	if f := strings.Fields(r); len(f) == 4 && f[0] == "goroutine" {
		return stackKey(f[2], f[3])
	}
	return r
}

// checkRoots checks what each root retains and which objects are shared,
// in the analysis's root paths and in the oracle.
func checkRoots(t *testing.T, e *expect.Expect, g *heapgraph.Graph, a *refs.Analysis, o *oracle) {
	t.Helper()
	// Objects per (holder, type) from the root paths: each reachable object
	// is in exactly one path, under the root dominating it or "shared by".
	held := map[[2]string]int64{}
	for _, p := range a.Paths {
		held[[2]string{p.Root, p.Type}] += p.Objects
	}
	for _, r := range e.Retained {
		name := r.Root
		if r.Goroutine != "" {
			name = stackKey(r.Func, r.Var)
		}
		var rs refs.RootStat
		for _, x := range a.Roots {
			if x.Name == name {
				rs = x
			}
		}
		if r.Roots != 0 {
			if rs.Count != r.Roots {
				t.Errorf("%s (%s): root name %s: %d roots, want %d", e.Program, e.Go, name, rs.Count, r.Roots)
			}
		} else if roots := rootsFor(e, g, r.Root, r.Goroutine, r.Func, r.Var); len(roots) != 1 {
			t.Errorf("%s (%s): root %s: %d roots in the graph, want 1 (roots named like it: %q)", e.Program, e.Go, name, len(roots), rootNamesLike(g, r.Var, r.Root))
			continue
		}
		if r.Total != nil {
			if rs.RetainedObjects != int64(r.Total.Objects) || rs.Retained != r.Total.Bytes {
				t.Errorf("%s (%s): root %s retains %d objects, %d bytes; want %d objects, %d bytes", e.Program, e.Go, name, rs.RetainedObjects, rs.Retained, r.Total.Objects, r.Total.Bytes)
			}
		}
		byType := o.retainedByType(name)
		for typ, want := range r.Objects {
			if got := held[[2]string{name, typ}]; got != int64(want) {
				t.Errorf("%s (%s): %s holds %d %s on its own in the root paths, want %d (%s)", e.Program, e.Go, name, got, typ, want, pathsOf(a, typ))
			}
			if got := byType[typ]; got != want {
				t.Errorf("%s (%s): in the graph, %d %s are reachable from %s alone, want %d", e.Program, e.Go, got, typ, name, want)
			}
		}
	}
	for _, s := range e.Shared {
		var got int64
		for _, p := range a.Paths {
			if !p.Shared || p.Type != s.Type {
				continue
			}
			all := true
			for _, r := range s.Roots {
				all = all && strings.Contains(p.Root, sharedRootName(r))
			}
			if all {
				got += p.Objects
			}
		}
		if got != int64(s.Objects) {
			t.Errorf("%s (%s): %d %s shared by %s in the root paths, want %d (%s)", e.Program, e.Go, got, s.Type, strings.Join(s.Roots, " and "), s.Objects, pathsOf(a, s.Type))
		}
		// In the graph: the roots reaching each shared object of the type.
		var want []string
		for _, r := range s.Roots {
			want = append(want, sharedRootName(r))
		}
		sort.Strings(want)
		sets := map[string]int{}
		for i, ow := range o.owner {
			if ow == shared && typeOf(g, i) == s.Type {
				sets[strings.Join(o.rootsReaching(i), ", ")]++
			}
		}
		if w := strings.Join(want, ", "); sets[w] != s.Objects || len(sets) != 1 {
			t.Errorf("%s (%s): in the graph, %s objects reachable from several roots, by the roots reaching them: %v; want %d reachable from %s", e.Program, e.Go, s.Type, sets, s.Objects, w)
		}
	}
}

// checkPaths checks that each collection's objects are in one root path.
func checkPaths(t *testing.T, e *expect.Expect, a *refs.Analysis) {
	t.Helper()
	for _, want := range e.Paths {
		var rows []refs.PathStat
		for _, p := range a.Paths {
			if p.Root == want.Root && p.Type == want.Type {
				rows = append(rows, p)
			}
		}
		var keys []string
		for _, r := range rows {
			keys = append(keys, fmt.Sprintf("%s: %d", r.Key(), r.Objects))
		}
		switch {
		case len(rows) != 1:
			t.Errorf("%s (%s): %d root paths below %s hold %s, want one with %d objects: %q", e.Program, e.Go, len(rows), want.Root, want.Type, want.Objects, keys)
		case rows[0].Objects != int64(want.Objects):
			t.Errorf("%s (%s): %s: %d objects, want %d", e.Program, e.Go, keys[0], rows[0].Objects, want.Objects)
		case !inOrder(rows[0].Path, want.Has):
			t.Errorf("%s (%s): root path %s does not mention %q in order", e.Program, e.Go, rows[0].Key(), want.Has)
		}
	}
}

// inOrder reports whether each of subs appears in elems, in order (several
// may appear in one element).
func inOrder(elems, subs []string) bool {
	s := strings.Join(elems, "\x00")
	at := 0
	for _, sub := range subs {
		i := strings.Index(s[at:], sub)
		if i < 0 {
			return false
		}
		at += i + len(sub)
	}
	return true
}

// rootNamesLike lists the graph's roots whose names contain one of subs,
// for messages.
func rootNamesLike(g *heapgraph.Graph, subs ...string) []string {
	var out []string
	for _, r := range g.Roots {
		for _, s := range subs {
			if s != "" && strings.Contains(r.Name, s) {
				out = append(out, r.Name)
				break
			}
		}
	}
	if len(out) > 10 {
		out = append(out[:10], "…")
	}
	return out
}

// pathsOf describes the root paths holding objects of typ.
func pathsOf(a *refs.Analysis, typ string) string {
	var out []string
	for _, p := range a.Paths {
		if p.Type == typ {
			out = append(out, fmt.Sprintf("%s: %d", p.Key(), p.Objects))
		}
	}
	if len(out) == 0 {
		return "no root path holds any"
	}
	if len(out) > 6 {
		out = append(out[:6], "…")
	}
	return strings.Join(out, "; ")
}

// checkWhy checks the shortest chain to one object of each case.
func checkWhy(t *testing.T, e *expect.Expect, g *heapgraph.Graph, a *refs.Analysis) {
	t.Helper()
	for _, w := range e.Why {
		if !stable(e, w.Type) {
			continue
		}
		obj, err := a.Find(w.Addr)
		if err != nil {
			t.Errorf("%s (%s) why %s: %v", e.Program, e.Go, w.Case, err)
			continue
		}
		chains, err := a.Why([]int{obj}, 0, 1)
		if err != nil || len(chains) != 1 {
			t.Errorf("%s (%s) why %s: %d chains, %v", e.Program, e.Go, w.Case, len(chains), err)
			continue
		}
		c := chains[0]
		desc := describeChain(c)
		var bad []string
		if w.RootKind != "" {
			if !rootOfKind(g, c.Root, w.RootKind) {
				bad = append(bad, fmt.Sprintf("root %q is not a %s root", c.Root, w.RootKind))
			}
		} else if w.Goroutine != "" {
			if roots := rootsFor(e, g, "", w.Goroutine, w.Func, w.Var); len(roots) != 1 || g.Roots[roots[0]].Name != c.Root {
				bad = append(bad, fmt.Sprintf("root %q, want goroutine %d's %s: %s", c.Root, e.Goroutines[w.Goroutine], w.Func, w.Var))
			}
		} else if !oneOf(c.Root, w.Root) {
			bad = append(bad, fmt.Sprintf("root %q, want %s", c.Root, w.Root))
		}
		switch {
		case w.RootKind != "":
		case w.Goroutine != "":
			if c.HeldBy != stackKey(w.Func, w.Var) {
				bad = append(bad, fmt.Sprintf("held by %q, want %q", c.HeldBy, stackKey(w.Func, w.Var)))
			}
		case strings.Contains(w.Root, "|"):
			if want := "shared by " + strings.Join(strings.Split(w.Root, "|"), ", "); c.HeldBy != want {
				bad = append(bad, fmt.Sprintf("held by %q, want %q", c.HeldBy, want))
			}
		case c.HeldBy != w.Root:
			bad = append(bad, fmt.Sprintf("held by %q, want %q", c.HeldBy, w.Root))
		}
		if w.Hops != 0 && len(c.Steps) != w.Hops {
			bad = append(bad, fmt.Sprintf("%d references, want %d", len(c.Steps), w.Hops))
		}
		if n := len(c.Steps); n == 0 {
			bad = append(bad, "no steps")
		} else if last := c.Steps[n-1]; uint64(last.Addr) != g.Addr[obj] || last.Type != w.Type {
			bad = append(bad, fmt.Sprintf("ends at a %s at %#x, want the %s at %#x", last.Type, uint64(last.Addr), w.Type, w.Addr))
		}
		// The object found starts at the address, or at the malloc header
		// before it (a graph's objects are slots, headers included).
		if d := w.Addr - g.Addr[obj]; d != 0 && d != 8 {
			bad = append(bad, fmt.Sprintf("the object found starts at %#x, %d bytes before %#x", g.Addr[obj], d, w.Addr))
		}
		if missing := missingFields(c, w.Fields); missing != "" {
			bad = append(bad, "no field "+missing+" where expected in the labels")
		}
		if len(bad) > 0 {
			t.Errorf("%s (%s) why %s: %s; chain: %s", e.Program, e.Go, w.Case, strings.Join(bad, "; "), desc)
		}
	}
}

// rootOfKind reports whether the graph's roots called name are of kind
// ("global", "stack", "finalizer").
func rootOfKind(g *heapgraph.Graph, name, kind string) bool {
	kinds := map[heapgraph.RootKind]string{heapgraph.RootGlobal: "global", heapgraph.RootStack: "stack", heapgraph.RootFinalizer: "finalizer", heapgraph.RootOther: "other"}
	found := false
	for _, r := range g.Roots {
		if r.Name == name {
			if kinds[r.Kind] != kind {
				return false
			}
			found = true
		}
	}
	return found
}

func oneOf(s, alts string) bool {
	for _, a := range strings.Split(alts, "|") {
		if s == a {
			return true
		}
	}
	return false
}

func stable(e *expect.Expect, typ string) bool {
	if len(e.Stable) == 0 {
		return true
	}
	for _, s := range e.Stable {
		if s == typ {
			return true
		}
	}
	return false
}

// missingFields returns the first of fields that does not appear, in
// order, in the chain's labels ("" when all do).
func missingFields(c refs.Chain, fields []string) string {
	var labels []string
	for _, s := range c.Steps {
		labels = append(labels, s.Label)
	}
	for i := len(fields); i > 0; i-- {
		if inOrder(labels, fields[:i]) {
			if i == len(fields) {
				return ""
			}
			return strconv.Quote(fields[i])
		}
	}
	if len(fields) > 0 {
		return strconv.Quote(fields[0])
	}
	return ""
}

func describeChain(c refs.Chain) string {
	var b strings.Builder
	b.WriteString(c.Root)
	for _, s := range c.Steps {
		fmt.Fprintf(&b, " →%s %s", labelOrDash(s.Label), s.Type)
	}
	fmt.Fprintf(&b, " (held by %s)", c.HeldBy)
	return b.String()
}

func labelOrDash(s string) string {
	if s == "" {
		return " (no label)"
	}
	return " " + s
}

// checkGarbage checks that the garbage the program left was in the heap and
// that no walk counted it.
func checkGarbage(t *testing.T, e *expect.Expect, g *heapgraph.Graph, a *refs.Analysis) {
	t.Helper()
	total := 0
	for _, n := range e.Garbage {
		total += n
	}
	if total > 0 && g.Stats.Allocated-g.Stats.Reachable < total {
		t.Errorf("%s (%s): %d allocated objects, %d reachable: the %d garbage objects the program left are not all counted as allocated", e.Program, e.Go, g.Stats.Allocated, g.Stats.Reachable, total)
	}
	for _, addr := range e.GarbageAddrs {
		if obj, err := a.Find(addr); err == nil {
			chain := "no chain"
			if cs, err := a.Why([]int{obj}, 1, 1); err == nil && len(cs) == 1 {
				chain = describeChain(cs[0])
			}
			t.Errorf("%s (%s): the garbage object at %#x counts as reachable (%s, %d B): %s", e.Program, e.Go, addr, typeOf(g, obj), g.Size[obj], chain)
		}
	}
}

func typeOf(g *heapgraph.Graph, i int) string {
	if t := g.Type[i]; t != heapgraph.NoType && g.Types[t].Name != "" {
		return g.Types[t].Name
	}
	return fmt.Sprintf("<unknown, %d B>", g.Size[i])
}
