package report

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/leakhunt/leakhunt/profiler/analyze"
	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

// SourceLine returns the text of a source line, or "" when it cannot be read.
type SourceLine func(file string, line int) string

// HeapOptions tune the rendering of heap statistics.
type HeapOptions struct {
	// Width cuts lines to this many columns (0: no cut).
	Width int
	// Source, when set, is used to show each line's source text (--by line).
	Source SourceLine
}

// Title describes which snapshot a report is about: "api (pid 42) at 15:04:05".
func Title(s *snapshot.Snapshot) string {
	var parts []string
	prog := s.Target.Program
	if prog == "" {
		prog = s.Capture.Address
	}
	if prog != "" {
		parts = append(parts, prog)
	}
	if s.Target.PID != 0 {
		parts = append(parts, fmt.Sprintf("(pid %d)", s.Target.PID))
	}
	if !s.Capture.Time.IsZero() {
		parts = append(parts, "at "+s.Capture.Time.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	return strings.Join(parts, " ")
}

// siteLabel is the SITE column: function and short file:line, by key.
func siteLabel(s analyze.Site, by analyze.Key) string {
	switch by {
	case analyze.ByFile:
		return s.File
	case analyze.ByFunction:
		return fmt.Sprintf("%s (%s)", s.Function, ShortFile(s.File))
	case analyze.ByStack:
		if len(s.Stack) == 0 {
			return "(no stack)"
		}
		f := s.Stack[0] // the rest follows on its own lines
		return fmt.Sprintf("%s (%s:%d)", f.Function, ShortFile(f.File), f.Line)
	}
	return fmt.Sprintf("%s (%s:%d)", s.Function, ShortFile(s.File), s.Line)
}

// stackLines renders the callers of a stack's first frame below its row.
func stackLines(w io.Writer, st []snapshot.Frame) {
	for i, f := range st {
		if i == 0 {
			continue
		}
		fmt.Fprintf(w, "\t\t\t   < %s (%s:%d)\n", f.Function, ShortFile(f.File), f.Line)
	}
}

// Top renders heap statistics of one snapshot.
func Top(w io.Writer, s *snapshot.Snapshot, t *analyze.Top, opts HeapOptions) error {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%s by %s: %s\n", t.Sample, t.By, Title(s))
	kind := "in use"
	if strings.HasPrefix(t.Sample, "alloc") {
		kind = "allocated since start"
	}
	fmt.Fprintf(&buf, "Total %s: %s in %d objects; showing %d of %d %ss\n\n", kind, Bytes(t.TotalSize), t.TotalCount, len(t.Stats), t.Keys, t.By)
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "SIZE\tSHARE\tCOUNT\t SITE\n")
	for _, st := range t.Stats {
		fmt.Fprintf(tw, "%s\t%s\t%d\t %s\n", Bytes(st.Size), Percent(st.Share), st.Count, siteLabel(st.Site, t.By))
		if t.By == analyze.ByStack {
			stackLines(tw, st.Stack)
		}
		if t.By == analyze.ByLine && opts.Source != nil {
			if src := opts.Source(st.File, st.Line); src != "" {
				fmt.Fprintf(tw, "\t\t\t     %s\n", src)
			}
		}
	}
	tw.Flush()
	if len(t.Stats) == 0 {
		buf.WriteString("(no allocation matches)\n")
	}
	return WriteCut(w, opts.Width, buf.String())
}

// Diff renders the comparison of two snapshots.
func Diff(w io.Writer, old, new *snapshot.Snapshot, d *analyze.Diff, opts HeapOptions) error {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "diff %s\n  old: %s\n  new: %s", d.Sample, Title(old), Title(new))
	if d.Elapsed != 0 {
		fmt.Fprintf(&buf, " (%s later)", d.Elapsed.Round(time.Second))
	}
	buf.WriteString("\n\n")
	if old.HasHeap() {
		unit := "in use"
		if strings.HasPrefix(d.Sample, "alloc") {
			unit = "allocated"
		}
		fmt.Fprintf(&buf, "Heap %s: %s -> %s (%s, %s); objects %d -> %d (%s)\n", unit,
			Bytes(d.OldSize), Bytes(d.NewSize), SignedBytes(d.NewSize-d.OldSize), change(d.OldSize, d.NewSize),
			d.OldCount, d.NewCount, Signed(d.NewCount-d.OldCount))
		fmt.Fprintf(&buf, "Showing %d of %d %ss, largest change first\n\n", len(d.Stats), d.Keys, d.By)
		tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "SIZE\tCHANGE\tCOUNT\tCHANGE\t SITE\n")
		for _, st := range d.Stats {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t %s\n", Bytes(st.Size), SignedBytes(st.SizeDiff), st.Count, Signed(st.CountDiff), siteLabel(st.Site, d.By))
			if d.By == analyze.ByStack {
				fmt.Fprint(tw, "\t")
				stackLines(tw, st.Stack)
			}
			if d.By == analyze.ByLine && opts.Source != nil {
				if src := opts.Source(st.File, st.Line); src != "" {
					fmt.Fprintf(tw, "\t\t\t\t     %s\n", src)
				}
			}
		}
		tw.Flush()
		buf.WriteString("\n")
	}
	if g := d.Goroutines; g != nil {
		fmt.Fprintf(&buf, "Goroutines: %d -> %d (%s)\n", g.Old, g.New, Signed(int64(g.New-g.Old)))
		tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "OLD\tNEW\tCHANGE\t STATE\n")
		for _, sd := range g.ByState {
			fmt.Fprintf(tw, "%d\t%d\t%s\t %s\n", sd.Old, sd.New, Signed(int64(sd.New-sd.Old)), sd.State)
		}
		tw.Flush()
		buf.WriteString("\n")
	}
	if len(d.MemStats) > 0 {
		buf.WriteString("Runtime memory statistics:\n")
		tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "OLD\tNEW\tCHANGE\t NAME\n")
		for _, f := range d.MemStats {
			o, n := fieldValue(f.Name, f.Old), fieldValue(f.Name, f.New)
			ch := int64(f.New) - int64(f.Old)
			chs := Signed(ch)
			if isBytesField(f.Name) {
				chs = SignedBytes(ch)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t %s\n", o, n, chs, f.Name)
		}
		tw.Flush()
	}
	return WriteCut(w, opts.Width, buf.String())
}

func change(old, new int64) string {
	switch {
	case old == 0 && new == 0:
		return "no change"
	case old == 0:
		return "new"
	}
	return fmt.Sprintf("%+.1f%%", 100*float64(new-old)/float64(old))
}

func isBytesField(name string) bool {
	switch name {
	case "HeapObjects", "Mallocs", "Frees", "NumGC":
		return false
	}
	return true
}

func fieldValue(name string, v uint64) string {
	if isBytesField(name) {
		return UBytes(v)
	}
	return fmt.Sprintf("%d", v)
}
