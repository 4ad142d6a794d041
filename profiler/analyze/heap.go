// Package analyze computes what leakhunt reports from snapshots: statistics of
// the heap profile grouped by line, function, file or stack (tracemalloc's
// Snapshot.statistics), the comparison of two snapshots (compare_to), and a
// summary of memory and goroutines. It works on snapshots only and never
// knows where they came from.
package analyze

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/google/pprof/profile"

	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

// Key is what heap statistics are grouped by.
type Key string

// The keys statistics can be grouped by, as tracemalloc's key_type.
const (
	ByLine     Key = "line"
	ByFunction Key = "function"
	ByFile     Key = "file"
	ByStack    Key = "stack"
)

// ParseKey checks a --by value.
func ParseKey(s string) (Key, error) {
	switch k := Key(s); k {
	case ByLine, ByFunction, ByFile, ByStack:
		return k, nil
	case "":
		return ByLine, nil
	case "traceback", "filename", "lineno":
		return map[string]Key{"traceback": ByStack, "filename": ByFile, "lineno": ByLine}[s], nil
	}
	return "", fmt.Errorf("unknown grouping %q: use line, function, file or stack", s)
}

// Samples lists the heap profile's sample types a statistic can be ranked by.
var Samples = []string{"inuse_space", "inuse_objects", "alloc_space", "alloc_objects"}

// HeapOptions select and filter the heap samples a statistic counts.
// The zero value groups by line and ranks by inuse_space.
type HeapOptions struct {
	By     Key
	Sample string
	// Focus keeps only samples with a frame whose function or file:line matches.
	Focus *regexp.Regexp
	// Ignore drops samples with a frame whose function or file:line matches.
	Ignore *regexp.Regexp
}

func (o *HeapOptions) setDefaults() error {
	if o.By == "" {
		o.By = ByLine
	}
	if o.Sample == "" {
		o.Sample = "inuse_space"
	}
	for _, s := range Samples {
		if s == o.Sample {
			return nil
		}
	}
	return fmt.Errorf("unknown sample %q: use %s", o.Sample, strings.Join(Samples, ", "))
}

// bySize reports whether the chosen sample ranks by bytes (else by objects).
func (o *HeapOptions) bySize() bool { return strings.HasSuffix(o.Sample, "_space") }

// Site identifies what a statistic is grouped by: a line, a function, a file
// or a whole stack. Unused fields are empty.
type Site struct {
	Function string `json:"function,omitempty"`
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
	// Stack is the whole allocation stack (innermost first) for --by stack.
	Stack []snapshot.Frame `json:"stack,omitempty"`
}

// String is the site as one line: "main.go:22 main.leak" style, by key.
func (s Site) String() string {
	switch {
	case len(s.Stack) > 0:
		parts := make([]string, len(s.Stack))
		for i, f := range s.Stack {
			parts[i] = f.Function
		}
		return strings.Join(parts, " < ")
	case s.Line > 0:
		return fmt.Sprintf("%s:%d %s", s.File, s.Line, s.Function)
	case s.Function != "":
		return s.Function
	}
	return s.File
}

// agg accumulates one key's values.
type agg struct {
	key         string
	first       *profile.Sample // a sample with this key, to describe the site
	size, count int64
}

// locInfo is what grouping needs of one location, worked out once.
type locInfo struct {
	key     string
	site    Site
	frames  []snapshot.Frame
	focus   bool
	ignored bool
}

// heapTable is a heap profile grouped by a key.
type heapTable struct {
	opts     HeapOptions
	rows     map[string]*agg
	total    agg // every sample, before filters
	sizeIdx  int
	countIdx int
	infos    map[*profile.Location]*locInfo
}

// group aggregates p's samples by opts.By. It does the per-location work once,
// so the cost is one map lookup per sample for line, function and file keys.
func group(p *profile.Profile, opts HeapOptions) (*heapTable, error) {
	kind := strings.SplitN(opts.Sample, "_", 2)[0] // inuse or alloc
	t := &heapTable{opts: opts, rows: make(map[string]*agg), sizeIdx: -1, countIdx: -1,
		infos: make(map[*profile.Location]*locInfo, len(p.Location))}
	for i, st := range p.SampleType {
		switch st.Type {
		case kind + "_space":
			t.sizeIdx = i
		case kind + "_objects":
			t.countIdx = i
		}
	}
	if t.sizeIdx < 0 || t.countIdx < 0 {
		return nil, fmt.Errorf("the profile has no %s_space and %s_objects values: not a heap profile", kind, kind)
	}
	filtered := opts.Focus != nil || opts.Ignore != nil
	var sb strings.Builder
	for _, s := range p.Sample {
		if len(s.Value) <= t.sizeIdx || len(s.Value) <= t.countIdx {
			return nil, fmt.Errorf("damaged heap profile: a sample has %d values of %d", len(s.Value), len(p.SampleType))
		}
		size, count := s.Value[t.sizeIdx], s.Value[t.countIdx]
		t.total.size += size
		t.total.count += count
		if size == 0 && count == 0 {
			continue
		}
		if filtered {
			keep, drop := opts.Focus == nil, false
			for _, l := range s.Location {
				li := t.info(l)
				keep = keep || li.focus
				drop = drop || li.ignored
			}
			if !keep || drop {
				continue
			}
		}
		var key string
		switch {
		case len(s.Location) == 0:
			key = "?"
		case opts.By == ByStack:
			sb.Reset()
			for _, l := range s.Location {
				sb.WriteString(t.info(l).key)
				sb.WriteByte('\n')
			}
			key = sb.String()
		default:
			key = t.info(s.Location[0]).key
		}
		a, ok := t.rows[key]
		if !ok {
			a = &agg{key: key, first: s}
			t.rows[key] = a
		}
		a.size += size
		a.count += count
	}
	return t, nil
}

// info works out, once per location, its key and whether filters match it.
func (t *heapTable) info(l *profile.Location) *locInfo {
	if li, ok := t.infos[l]; ok {
		return li
	}
	li := &locInfo{frames: framesOf(l)}
	top := li.frames[0]
	switch t.opts.By {
	case ByLine, ByStack:
		li.site = Site{Function: top.Function, File: top.File, Line: top.Line}
		li.key = top.Function + "\x00" + top.File + "\x00" + strconv.Itoa(top.Line)
	case ByFunction:
		li.site = Site{Function: top.Function, File: top.File}
		li.key = top.Function + "\x00" + top.File
	case ByFile:
		li.site = Site{File: top.File}
		li.key = top.File
	}
	if t.opts.Focus != nil || t.opts.Ignore != nil {
		for _, f := range li.frames {
			desc := f.Function + " " + f.File + ":" + strconv.Itoa(f.Line)
			li.focus = li.focus || (t.opts.Focus != nil && t.opts.Focus.MatchString(desc))
			li.ignored = li.ignored || (t.opts.Ignore != nil && t.opts.Ignore.MatchString(desc))
		}
	}
	t.infos[l] = li
	return li
}

// site describes the key of a row.
func (t *heapTable) site(a *agg) Site {
	s := a.first
	switch {
	case len(s.Location) == 0:
		return Site{Function: "(unknown)"}
	case t.opts.By == ByStack:
		var st Site
		for _, l := range s.Location {
			st.Stack = append(st.Stack, t.info(l).frames...)
		}
		return st
	}
	return t.info(s.Location[0]).site
}

// value is what rows are ranked by: bytes or objects.
func (t *heapTable) value(a *agg) int64 {
	if t.opts.bySize() {
		return a.size
	}
	return a.count
}

// framesOf lists the frames of one location, innermost inlined call first.
func framesOf(l *profile.Location) []snapshot.Frame {
	if len(l.Line) == 0 {
		return []snapshot.Frame{{Function: fmt.Sprintf("%#x", l.Address)}}
	}
	frames := make([]snapshot.Frame, len(l.Line))
	for i, ln := range l.Line {
		f := snapshot.Frame{Line: int(ln.Line), Inlined: i < len(l.Line)-1}
		if ln.Function != nil {
			f.Function, f.File = ln.Function.Name, ln.Function.Filename
		}
		frames[i] = f
	}
	return frames
}
