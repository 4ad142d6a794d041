package report

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/leakhunt/leakhunt/profiler/goroutines"
	"github.com/leakhunt/leakhunt/profiler/snapshot"
	"github.com/leakhunt/leakhunt/profiler/srcfile"
)

// StacksOptions tune the rendering of goroutine groups. The zero value shows
// frames only, uncut.
type StacksOptions struct {
	// Width cuts lines to this many columns (0: no cut); frame lines lose the
	// start of their file path first, so the line number stays visible.
	Width int
	// Source, when set, shows the source lines around each frame of the
	// program's own code (py-list), read through this cache.
	Source *srcfile.Cache
	// Context is how many lines Source shows on each side; 0 means 2.
	Context int
	// Full shows each frame's arguments and locals (py-locals) when the
	// source gave them.
	Full bool
	// NoLocals is the one line shown once with Full when no frame has any
	// variables: why, and what would give them.
	NoLocals string
	// Goroutines is how many goroutines the snapshot holds, and Groups how
	// many groups there were before any cut: both for the header; 0 means
	// count what is rendered.
	Goroutines, Groups int
	// By is how the groups were formed.
	By goroutines.GroupBy
	// Filter is the --filter expression that selected the goroutines, if any.
	Filter string
}

// Stacks renders goroutine groups as goroutines.Groups returns them: per
// group its size, state, wait range, the go statement that created it and
// its frames, innermost first, with the program's own frames marked "*".
func Stacks(w io.Writer, s *snapshot.Snapshot, groups []goroutines.Group, opts StacksOptions) error {
	if opts.Context <= 0 {
		opts.Context = 2
	}
	shown := 0
	for _, g := range groups {
		shown += g.Count
	}
	total, ngroups := opts.Goroutines, opts.Groups
	if total == 0 {
		total = shown
	}
	if ngroups == 0 {
		ngroups = len(groups)
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "goroutines of %s: %d", Title(s), total)
	if opts.Filter != "" {
		fmt.Fprintf(&buf, ", %s matching /%s/", matched(groups, ngroups, shown), opts.Filter)
	}
	fmt.Fprintf(&buf, " in %d %s", ngroups, plural(ngroups, "group", "groups"))
	if opts.By == goroutines.BySite {
		buf.WriteString(" by creation site and blocking frame")
	} else {
		buf.WriteString(" of identical stacks")
	}
	if len(groups) < ngroups {
		fmt.Fprintf(&buf, "; the largest %d shown", len(groups))
	}
	buf.WriteString("\n* marks the program's own frames (not the Go runtime or standard library)\n")
	if opts.Full && opts.NoLocals != "" && !anyVars(groups) {
		fmt.Fprintf(&buf, "locals: %s\n", opts.NoLocals)
	}
	for i, g := range groups {
		buf.WriteByte('\n')
		stackGroup(&buf, i+1, &g, opts)
	}
	return WriteCut(w, opts.Width, buf.String())
}

// matched is how many goroutines the filter kept: exact when every group is
// shown, else at least what is shown.
func matched(groups []goroutines.Group, ngroups, shown int) string {
	if len(groups) < ngroups {
		return "at least " + strconv.Itoa(shown)
	}
	return strconv.Itoa(shown)
}

func anyVars(groups []goroutines.Group) bool {
	for _, g := range groups {
		for _, f := range g.Frames {
			if len(f.Vars) > 0 {
				return true
			}
		}
	}
	return false
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// stackGroup renders one group.
func stackGroup(buf *bytes.Buffer, rank int, g *goroutines.Group, opts StacksOptions) {
	head := []string{fmt.Sprintf("#%d", rank), fmt.Sprintf("%d %s", g.Count, plural(g.Count, "goroutine", "goroutines"))}
	if len(g.States) > 1 {
		var parts []string
		for _, st := range g.States {
			parts = append(parts, fmt.Sprintf("%s ×%d", stateName(st.State), st.Count))
		}
		head = append(head, strings.Join(parts, ", "))
	} else {
		head = append(head, stateName(g.State))
	}
	if g.MaxWait > 0 {
		head = append(head, "waiting "+waitRange(g.MinWait, g.MaxWait))
	}
	if g.Leaked > 0 {
		head = append(head, fmt.Sprintf("%d leaked (runtime leak detector)", g.Leaked))
	}
	buf.WriteString(strings.Join(head, " · "))
	buf.WriteByte('\n')
	const indent = "   "
	if c := g.CreatedBy; c != nil {
		prefix := fmt.Sprintf("%screated by %s at ", indent, c.Function)
		fmt.Fprintf(buf, "%s%s\n", prefix, fitLeft(frameWhere(c.File, c.Line), opts.Width-utf8.RuneCountInString(prefix)))
	}
	if len(g.IDs) > 0 {
		fmt.Fprintf(buf, "%s%s %s", indent, plural(g.Count, "goroutine", "goroutines"), joinIDs(g.IDs))
		if more := g.Count - len(g.IDs); more > 0 {
			fmt.Fprintf(buf, " … and %d more", more)
		}
		buf.WriteByte('\n')
	}
	if opts.By == goroutines.BySite {
		fmt.Fprintf(buf, "%sblocked in %s at %s\n", indent, g.Blocking.Function, frameWhere(g.Blocking.File, g.Blocking.Line))
		if g.Sample != 0 {
			fmt.Fprintf(buf, "%sthe stack of goroutine %d:\n", indent, g.Sample)
		}
	}
	fnWidth := 0
	for _, f := range g.Frames {
		fnWidth = max(fnWidth, utf8.RuneCountInString(f.Function))
	}
	fnWidth = min(fnWidth, 64)
	if len(g.Frames) == 0 {
		fmt.Fprintf(buf, "%s  (no frames)\n", indent)
	}
	for _, f := range g.Frames {
		user := goroutines.IsUser(f)
		mark := "  "
		if user {
			mark = "* "
		}
		prefix := indent + mark + f.Function
		if pad := fnWidth - utf8.RuneCountInString(f.Function); pad > 0 {
			prefix += strings.Repeat(" ", pad)
		}
		prefix += "  "
		where := frameWhere(f.File, f.Line)
		if f.Inlined {
			where += " (inlined)"
		}
		buf.WriteString(prefix + fitLeft(where, opts.Width-utf8.RuneCountInString(prefix)) + "\n")
		if opts.Source != nil && user && f.File != "" {
			sourceLines(buf, opts.Source, f.File, f.Line, opts.Context)
		}
		if opts.Full {
			for _, v := range f.Vars {
				kind := "var"
				if v.Arg {
					kind = "arg"
				}
				typ := ""
				if v.Type != "" {
					typ = " " + v.Type
				}
				fmt.Fprintf(buf, "%s       %s %s%s = %s\n", indent, kind, v.Name, typ, oneLine(v.Value, 200))
			}
		}
	}
}

// stateName names an unknown state, as a goroutine profile leaves it.
func stateName(s string) string {
	if s == "" {
		return "state unknown"
	}
	return s
}

// waitRange formats "3m", or "3m–1h5m" when the waits differ.
func waitRange(lo, hi time.Duration) string {
	if lo == hi {
		return shortDuration(hi)
	}
	return shortDuration(lo) + "–" + shortDuration(hi)
}

// shortDuration formats d without trailing zero units: "5m", "1h5m", "1.5s".
func shortDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d%time.Minute == 0:
		s := d.String() // "5m0s", "1h5m0s"
		s = strings.TrimSuffix(s, "0s")
		return strings.TrimSuffix(s, "0m")
	}
	return d.Round(time.Second).String()
}

func joinIDs(ids []int64) string {
	var sb strings.Builder
	for i, id := range ids {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(strconv.FormatInt(id, 10))
	}
	return sb.String()
}

// fitLeft cuts s to width runes by dropping its start ("…/runtime/proc.go:435"),
// so a path keeps its file name and line; width <= 0 means no cut.
func fitLeft(s string, width int) string {
	n := utf8.RuneCountInString(s)
	if width <= 0 || n <= width {
		return s
	}
	if width == 1 {
		return "…"
	}
	r := []rune(s)
	return "…" + string(r[n-width+1:])
}

// oneLine keeps a value on one line and at most max runes.
func oneLine(s string, max int) string {
	s = strings.ReplaceAll(s, "\n", `\n`)
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max-1]) + "…"
	}
	return s
}

// sourceLines renders the lines around line of file, the line itself marked.
func sourceLines(buf *bytes.Buffer, src *srcfile.Cache, file string, line, context int) {
	lines := src.Around(file, line, context)
	width := 0
	if len(lines) > 0 {
		width = len(strconv.Itoa(lines[len(lines)-1].N))
	}
	for _, l := range lines {
		mark := " "
		if l.N == line {
			mark = ">"
		}
		text := strings.ReplaceAll(l.Text, "\t", "    ")
		fmt.Fprintf(buf, "         %s %*d  %s\n", mark, width, l.N, text)
	}
}

// frameWhere formats "file:line", or the file alone when the line is unknown.
func frameWhere(file string, line int) string {
	if line <= 0 {
		return file
	}
	return file + ":" + strconv.Itoa(line)
}
