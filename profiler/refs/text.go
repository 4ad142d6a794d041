package refs

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/leakhunt/leakhunt/profiler/report"
	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

// TextOptions tune the text tables.
type TextOptions struct {
	// N is how many rows a table shows; zero means all.
	N int
	// Width cuts lines to this many columns (0: no cut).
	Width int
}

func (o TextOptions) cut(n int) int {
	if o.N > 0 && n > o.N {
		return o.N
	}
	return n
}

// Title says what an analysis is of: "api (pid 42) at 2026-11-26 01:02:03 UTC".
func (a *Analysis) Title() string { return title(a.Target, a.Capture.Address, a.Time) }

func title(t snapshot.Target, addr string, at time.Time) string {
	var parts []string
	prog := t.Program
	if prog == "" {
		prog = addr
	}
	if prog != "" {
		parts = append(parts, prog)
	}
	if t.PID != 0 {
		parts = append(parts, fmt.Sprintf("(pid %d)", t.PID))
	}
	if !at.IsZero() {
		parts = append(parts, "at "+at.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	return strings.Join(parts, " ")
}

func (a *Analysis) header(buf *bytes.Buffer) {
	if t := a.Title(); t != "" {
		fmt.Fprintf(buf, "live objects of %s\n", t)
	}
	tt := a.Totals
	fmt.Fprintf(buf, "Reachable: %s in %d objects of %d types, from %d roots", report.UBytes(tt.Bytes), tt.Objects, tt.Types, tt.Roots)
	if tt.AllocatedBytes > tt.Bytes {
		fmt.Fprintf(buf, "; %s in %d unreachable objects awaits the next GC", report.UBytes(tt.AllocatedBytes-tt.Bytes), tt.Allocated-tt.Objects)
	}
	buf.WriteString("\n")
	if tt.SharedBytes > 0 {
		fmt.Fprintf(buf, "Shared by several roots (no single root keeps it alive): %s in %d objects\n", report.UBytes(tt.SharedBytes), tt.SharedObjects)
	}
}

// WriteTypes writes the by-type table, largest first (objgraph's
// show_most_common_types).
func (a *Analysis) WriteTypes(w io.Writer, opts TextOptions) error {
	var buf bytes.Buffer
	a.header(&buf)
	n := opts.cut(len(a.Types))
	fmt.Fprintf(&buf, "Showing %d of %d types, most bytes first; RETAINED is what freeing all objects of the type would free\n\n", n, len(a.Types))
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "BYTES\tOBJECTS\tRETAINED\t  TYPE\n")
	for _, t := range a.Types[:n] {
		fmt.Fprintf(tw, "%s\t%d\t%s\t  %s\n", report.UBytes(t.Bytes), t.Objects, report.UBytes(t.Retained), t.Name)
	}
	tw.Flush()
	return report.WriteCut(w, opts.Width, buf.String())
}

// WriteRoots writes the roots and the root paths, largest retained size
// first.
func (a *Analysis) WriteRoots(w io.Writer, opts TextOptions) error {
	var buf bytes.Buffer
	a.header(&buf)
	n := opts.cut(len(a.Roots))
	fmt.Fprintf(&buf, "Showing %d of %d roots; RETAINED is what would be freed if the root let go, REACHABLE adds what it shares with other roots\n\n", n, len(a.Roots))
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "RETAINED\tOBJECTS\tREACHABLE\t  ROOT\n")
	for _, r := range a.Roots[:n] {
		name := r.Name
		if r.Count > 1 {
			name = fmt.Sprintf("%s (%d roots)", name, r.Count)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t  %s\n", report.UBytes(r.Retained), r.RetainedObjects, report.UBytes(r.Reachable), name)
	}
	tw.Flush()
	buf.WriteString("\n")
	writePaths(&buf, a.Paths, opts, "root paths")
	return report.WriteCut(w, opts.Width, buf.String())
}

func writePaths(buf *bytes.Buffer, paths []PathStat, opts TextOptions, what string) {
	n := opts.cut(len(paths))
	fmt.Fprintf(buf, "Showing %d of %d %s; OBJECTS and BYTES are the objects at the path, RETAINED what freeing them would free\n\n", n, len(paths), what)
	tw := tabwriter.NewWriter(buf, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "RETAINED\tOBJECTS\tBYTES\t  PATH\n")
	for _, p := range paths[:n] {
		fmt.Fprintf(tw, "%s\t%d\t%s\t  %s\n", report.UBytes(p.Retained), p.Objects, report.UBytes(p.Bytes), p.Key())
	}
	tw.Flush()
}

// TypeReport is what `objects --type T` shows: the type's row and the root
// paths holding its objects.
type TypeReport struct {
	TypeStat
	Paths []PathStat `json:"paths"`
}

// TypeReport returns the by-type row of name and the paths holding its
// objects (objgraph's by_type).
func (a *Analysis) TypeReport(name string) (*TypeReport, error) {
	t, err := a.Type(name)
	if err != nil {
		return nil, err
	}
	r := &TypeReport{TypeStat: *t}
	for _, p := range a.Paths {
		if p.Type == t.Name {
			r.Paths = append(r.Paths, p)
		}
	}
	return r, nil
}

// WriteTypeReport writes r as text.
func (a *Analysis) WriteTypeReport(w io.Writer, r *TypeReport, opts TextOptions) error {
	var buf bytes.Buffer
	if t := a.Title(); t != "" {
		fmt.Fprintf(&buf, "live objects of %s\n", t)
	}
	fmt.Fprintf(&buf, "type %s: %d objects, %s; retains %s in %d objects\n", r.Name, r.Objects, report.UBytes(r.Bytes), report.UBytes(r.Retained), r.RetainedObjects)
	if len(r.Samples) > 0 {
		addrs := make([]string, len(r.Samples))
		for i, s := range r.Samples {
			addrs[i] = fmt.Sprintf("%#x", uint64(s))
		}
		fmt.Fprintf(&buf, "sample addresses: %s\n", strings.Join(addrs, " "))
	}
	buf.WriteString("\n")
	writePaths(&buf, r.Paths, opts, "root paths holding it")
	return report.WriteCut(w, opts.Width, buf.String())
}

// WriteChains writes why-chains as text: one block per group of objects
// reached the same way, root first.
func WriteChains(w io.Writer, what string, targets int, chains []Chain, opts TextOptions) error {
	var buf bytes.Buffer
	objs := 0
	for _, c := range chains {
		objs += c.Count
	}
	fmt.Fprintf(&buf, "%s: %d live objects; shortest chains from a root", what, targets)
	if len(chains) > 0 {
		fmt.Fprintf(&buf, ", %d chains shown for %d objects", len(chains), objs)
	}
	buf.WriteString("\n")
	for i, c := range chains {
		addrs := make([]string, len(c.Targets))
		for j, t := range c.Targets {
			addrs[j] = fmt.Sprintf("%#x", uint64(t))
		}
		more := ""
		if c.Count > len(c.Targets) {
			more = " …"
		}
		held := "kept alive by " + c.HeldBy
		if strings.HasPrefix(c.HeldBy, "shared by ") {
			held = c.HeldBy + " (no single root keeps it alive)"
		}
		fmt.Fprintf(&buf, "\n#%d  %s (%s%s), %s\n", i+1, plural(c.Count, "object"), strings.Join(addrs, " "), more, held)
		fmt.Fprintf(&buf, "    %s\n", c.Root)
		tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
		for _, s := range c.Steps {
			step := "→ "
			if s.Label != "" {
				step += s.Label + "  "
			}
			step += ptrName(s.Type)
			fmt.Fprintf(tw, "    %s\t%#x\t%s\tretains %s\n", step, uint64(s.Addr), report.UBytes(s.Size), report.UBytes(s.Retained))
		}
		tw.Flush()
	}
	return report.WriteCut(w, opts.Width, buf.String())
}

// WriteDiff writes what grew between two analyses.
func WriteDiff(w io.Writer, c *Change, opts TextOptions) error {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "growth of live objects\n  old: %s\n  new: %s", title(c.Old.Target, "", c.Old.Time), title(c.New.Target, "", c.New.Time))
	if !c.Old.Time.IsZero() && !c.New.Time.IsZero() {
		fmt.Fprintf(&buf, " (%s later)", c.New.Time.Sub(c.Old.Time).Round(time.Second))
	}
	fmt.Fprintf(&buf, "\nReachable: %s -> %s (%s); objects %d -> %d (%s)\n", report.UBytes(c.Old.Bytes), report.UBytes(c.New.Bytes),
		report.SignedBytes(c.Bytes), c.Old.Objects, c.New.Objects, report.Signed(c.Objects))
	section := func(title, col string, rows []Growth) {
		n := opts.cut(len(rows))
		fmt.Fprintf(&buf, "\n%s: %d grew, showing %d\n", title, len(rows), n)
		if n == 0 {
			return
		}
		tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "BYTES\tCHANGE\tOBJECTS\tCHANGE\tRETAINED\tCHANGE\t  %s\n", col)
		for _, g := range rows[:n] {
			name := g.Name
			if g.New {
				name += "  (new)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t  %s\n", report.UBytes(g.Bytes), report.SignedBytes(g.BytesChange), g.Objects, report.Signed(g.ObjectsChange),
				report.UBytes(g.Retained), report.SignedBytes(g.RetainedChange), name)
		}
		tw.Flush()
	}
	section("Types", "TYPE", c.Types)
	section("Roots", "ROOT", c.Roots)
	section("Root paths", "PATH", c.Paths)
	return report.WriteCut(w, opts.Width, buf.String())
}

// plural spells "1 object", "3 objects".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
