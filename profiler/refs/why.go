package refs

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/leakhunt/leakhunt/profiler/heapgraph"
)

// ErrNoGraph is returned by queries that need the object graph from an
// Analysis loaded from a file, which keeps only its tables.
var ErrNoGraph = errors.New("a saved analysis holds no object graph: analyse a PID or core file")

// Find returns the object containing address addr, if one is reachable.
func (a *Analysis) Find(addr uint64) (int, error) {
	if a.g == nil {
		return 0, ErrNoGraph
	}
	g := a.g
	i := sort.Search(len(g.Addr), func(i int) bool { return g.Addr[i] > addr }) - 1
	if i < 0 || addr >= g.Addr[i]+g.Size[i] {
		return 0, fmt.Errorf("no heap object at %#x", addr)
	}
	if a.dom.num[a.v.node(i)] < 0 {
		return 0, fmt.Errorf("the object at %#x (%s, %d B) is garbage: no root reaches it", g.Addr[i], typeName(g, i), g.Size[i])
	}
	return i, nil
}

// ObjectsOfType returns the reachable objects whose type is name (a leading
// "*" is ignored), in address order.
func (a *Analysis) ObjectsOfType(name string) ([]int, error) {
	if a.g == nil {
		return nil, ErrNoGraph
	}
	ts, err := a.Type(name)
	if err != nil {
		return nil, err
	}
	var out []int
	for i := 0; i < a.v.N; i++ {
		if a.dom.num[a.v.node(i)] >= 0 && a.Types[a.typeRow(i)].Name == ts.Name {
			out = append(out, i)
		}
	}
	return out, nil
}

// Type returns the by-type row of the type called name (a leading "*" is
// ignored). The error for an unknown name suggests similar names.
func (a *Analysis) Type(name string) (*TypeStat, error) {
	want := strings.TrimPrefix(strings.TrimSpace(name), "*")
	for i := range a.Types {
		if a.Types[i].Name == want {
			return &a.Types[i], nil
		}
	}
	var near []string
	lw := strings.ToLower(want)
	for _, t := range a.Types {
		if strings.Contains(strings.ToLower(t.Name), lw) {
			near = append(near, t.Name)
		}
	}
	if len(near) == 0 {
		return nil, fmt.Errorf("no live objects of type %s", want)
	}
	if len(near) > 5 {
		near = append(near[:5], "…")
	}
	return nil, fmt.Errorf("no live objects of type %s; did you mean %s", want, strings.Join(near, ", "))
}

// Chain is one shortest chain of references from a root to objects: the
// objects reached by the same steps (indices dropped) are grouped.
type Chain struct {
	// Root is the root the chain starts at, as it was named in the graph
	// (the first of the group), and HeldBy who keeps the objects alive:
	// the root name that dominates them or "shared by ...".
	Root   string `json:"root"`
	HeldBy string `json:"held_by"`
	// Steps are the references from the root, the last one reaching the
	// object itself.
	Steps []Step `json:"steps"`
	// Count is how many target objects share this chain; Targets are some
	// of them.
	Count   int    `json:"count"`
	Targets []Addr `json:"targets"`

	key   string
	nodes []int32 // the first target's chain, for Dot: root node first
}

// Step is one reference: the field path in the object (or root) holding the
// pointer, and the object pointed at.
type Step struct {
	Label string `json:"label,omitempty"` // ".conns[3]", "map value"; empty if unknown
	Type  string `json:"type"`
	Addr  Addr   `json:"addr"`
	Size  uint64 `json:"size"`
	// Retained is what freeing this object would free.
	Retained uint64 `json:"retained"`
}

// Why returns the shortest chains from a root to each target object,
// grouped by their normalized steps, most common first; at most max groups
// (0: all), each with at most samples target addresses (0: 5).
func (a *Analysis) Why(targets []int, max, samples int) ([]Chain, error) {
	if a.g == nil {
		return nil, ErrNoGraph
	}
	if samples <= 0 {
		samples = 5
	}
	v, g := a.v, a.g
	retained := a.retainedOf()
	// Chains are interned step by step, each node's chain once: the
	// objects of a type mostly share their chains' upper steps.
	type step struct{ up, label, typ int32 }
	steps := make(map[step]int32)
	labels := make(map[string]int32)
	const unknown = math.MinInt32
	memo := make([]int32, v.nodes())
	for i := range memo {
		memo[i] = unknown
	}
	lc := newLabelCache()
	chainOf := func(x int32) int32 {
		var up []int32
		y := x
		var id int32
		for {
			if id = memo[y]; id != unknown {
				break
			}
			if v.isRoot(y) {
				id = -1 - v.keyOf[v.root(y)]
				break
			}
			up = append(up, y)
			y = a.bfsParent[y]
		}
		for i := len(up) - 1; i >= 0; i-- {
			z := up[i]
			p, o := a.bfsParent[z], v.object(z)
			var l int32
			if v.isObject(p) {
				po := v.object(p)
				l = lc.get(g.Type[po], g.Size[po], a.bfsOff[z], func() (int32, bool) {
					s := g.Label(po, false, a.bfsOff[z])
					return internLabel(labels, s), !strings.Contains(s, "(")
				})
			} else {
				l = internLabel(labels, g.Label(v.root(p), true, a.bfsOff[z]))
			}
			k := step{id, l, a.typeRow(o)}
			next, ok := steps[k]
			if !ok {
				next = int32(len(steps))
				steps[k] = next
			}
			id = next
			memo[z] = id
		}
		return id
	}
	type group struct {
		chain int32
		held  string
	}
	byGroup := make(map[group]int)
	var chains []Chain
	for _, o := range targets {
		x := v.node(o)
		if a.dom.num[x] < 0 {
			continue
		}
		gk := group{chainOf(x), a.heldBy(x)}
		i, ok := byGroup[gk]
		if !ok {
			i = len(chains)
			byGroup[gk] = i
			chains = append(chains, a.chain(x, gk.held, retained))
		}
		c := &chains[i]
		c.Count++
		if len(c.Targets) < samples {
			c.Targets = append(c.Targets, Addr(g.Addr[o]))
		}
	}
	sort.SliceStable(chains, func(i, j int) bool {
		if chains[i].Count != chains[j].Count {
			return chains[i].Count > chains[j].Count
		}
		return chains[i].key < chains[j].key
	})
	if max > 0 && len(chains) > max {
		chains = chains[:max]
	}
	return chains, nil
}

// internLabel numbers a label after normLabel.
func internLabel(labels map[string]int32, s string) int32 {
	s = normLabel(s)
	id, ok := labels[s]
	if !ok {
		id = int32(len(labels))
		labels[s] = id
	}
	return id
}

// chain spells the shortest chain from a root to node x.
func (a *Analysis) chain(x int32, held string, retained []uint64) Chain {
	v, g := a.v, a.g
	var nodes []int32 // the root's node first
	for y := x; !v.isKey(y); y = a.bfsParent[y] {
		nodes = append(nodes, y)
	}
	for i, j := 0, len(nodes)-1; i < j; i, j = i+1, j-1 {
		nodes[i], nodes[j] = nodes[j], nodes[i]
	}
	root := g.Roots[v.root(nodes[0])]
	c := Chain{Root: rootName(root), HeldBy: held, nodes: nodes}
	var key strings.Builder
	key.WriteString(rootKey(root))
	for _, y := range nodes[1:] {
		obj := v.object(y)
		st := Step{
			Label: a.label(a.bfsParent[y], a.bfsOff[y]), Type: typeName(g, obj),
			Addr: Addr(g.Addr[obj]), Size: g.Size[obj], Retained: retained[a.dom.num[y]],
		}
		c.Steps = append(c.Steps, st)
		fmt.Fprintf(&key, " → %s %s", normLabel(st.Label), st.Type)
	}
	key.WriteString(" | " + held)
	c.key = key.String()
	return c
}

// label names the pointer at off in node p.
func (a *Analysis) label(p int32, off uint32) string {
	if !a.v.isObject(p) {
		return a.g.Label(a.v.root(p), true, off)
	}
	return a.g.Label(a.v.object(p), false, off)
}

// heldBy says who keeps node x alive: its dominating root's name, or the
// roots sharing it.
func (a *Analysis) heldBy(x int32) string {
	d := a.dom.num[x]
	t := a.dom.order[a.top[d]]
	if !a.v.isObject(t) {
		return a.v.keys[t-1]
	}
	return a.Paths[a.rowOf[a.v.object(t)]].Root
}

// retainedOf returns retained sizes by preorder number.
func (a *Analysis) retainedOf() []uint64 { return a.retained }

// DotOptions bound a Dot graph.
type DotOptions struct {
	// MaxNodes caps the objects drawn; zero means 200.
	MaxNodes int
}

// Dot writes the chains as a Graphviz graph of back-references (objgraph's
// show_backrefs): roots as boxes, objects as ellipses labelled with type,
// size and retained size, edges labelled with the field path. Chains are
// drawn whole, most common first, until MaxNodes objects are drawn.
func (a *Analysis) Dot(w io.Writer, chains []Chain, opts DotOptions) error {
	if a.g == nil {
		return ErrNoGraph
	}
	if opts.MaxNodes <= 0 {
		opts.MaxNodes = 200
	}
	retained := a.retainedOf()
	var b strings.Builder
	b.WriteString("digraph backrefs {\n\trankdir=LR;\n\tnode [fontname=\"Helvetica\", fontsize=10];\n\tedge [fontname=\"Helvetica\", fontsize=9];\n")
	drawn := make(map[int32]bool)
	edges := make(map[[2]int32]bool)
	objects := 0
	for _, c := range chains {
		n := 0
		for _, x := range c.nodes {
			if !drawn[x] && a.v.isObject(x) {
				n++
			}
		}
		if objects > 0 && objects+n > opts.MaxNodes {
			break
		}
		objects += n
		for i, x := range c.nodes {
			if !drawn[x] {
				drawn[x] = true
				if !a.v.isObject(x) {
					fmt.Fprintf(&b, "\tn%d [shape=box, style=filled, fillcolor=\"#e8e8ff\", label=%s];\n", x, dotQuote(rootName(a.g.Roots[a.v.root(x)])))
				} else {
					o := a.v.object(x)
					lbl := fmt.Sprintf("%s\n%#x\n%d B, retains %d B", typeName(a.g, o), a.g.Addr[o], a.g.Size[o], retained[a.dom.num[x]])
					attrs := ""
					if i == len(c.nodes)-1 {
						lbl += fmt.Sprintf("\n(%d like it)", c.Count)
						attrs = ", style=filled, fillcolor=\"#ffe8e8\""
					}
					fmt.Fprintf(&b, "\tn%d [label=%s%s];\n", x, dotQuote(lbl), attrs)
				}
			}
			if i > 0 {
				e := [2]int32{c.nodes[i-1], x}
				if !edges[e] {
					edges[e] = true
					fmt.Fprintf(&b, "\tn%d -> n%d [label=%s];\n", e[0], e[1], dotQuote(a.label(e[0], a.bfsOff[x])))
				}
			}
		}
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func dotQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

// rootName is a root's own name (goroutine ID included).
func rootName(r heapgraph.Root) string {
	if r.Name == "" {
		return rootKey(r)
	}
	return r.Name
}
