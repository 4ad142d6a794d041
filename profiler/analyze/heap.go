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

	"github.com/leakhunt/leakhunt/profiler/heapproto"
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
	key string
	// stack describes the site: of the stacks with this key, the one whose
	// first counted sample came first, as a sample-by-sample pass would see it.
	stack       int
	first       int32
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
	hp       *heapproto.Profile
	rows     map[string]*agg
	total    agg // every sample, before filters
	sizeIdx  int
	countIdx int
	infos    []*locInfo // by location index
}

// reducedHeap returns a snapshot's heap profile reduced for grouping: from Heap
// when it is decoded, else straight from the encoded HeapData (the fast
// path). heapproto.Decode accepts only what profile.Parse accepts; when it
// refuses, profile.Parse gets the last word, so errors read the same on both
// paths.
func reducedHeap(s *snapshot.Snapshot) (*heapproto.Profile, error) {
	if s.Heap == nil && len(s.HeapData) > 0 {
		if hp, err := heapproto.Decode(s.HeapData); err == nil {
			return hp, nil
		}
	}
	p, err := s.HeapProfile()
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, ErrNoHeap
	}
	return heapproto.FromProfile(p)
}

// group aggregates a heap profile by opts.By. The profile's samples are
// merged by stack already, and per-location work is done once, so the cost
// is one map lookup per distinct stack.
func group(hp *heapproto.Profile, opts HeapOptions) (*heapTable, error) {
	kind := strings.SplitN(opts.Sample, "_", 2)[0] // inuse or alloc
	t := &heapTable{opts: opts, hp: hp, rows: make(map[string]*agg), sizeIdx: -1, countIdx: -1,
		infos: make([]*locInfo, len(hp.Location))}
	for i, st := range hp.SampleType {
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
	t.total.size, t.total.count = hp.Total[t.sizeIdx], hp.Total[t.countIdx]
	filtered := opts.Focus != nil || opts.Ignore != nil
	var sb strings.Builder
	for i := range hp.Stack {
		st := &hp.Stack[i]
		// Samples with neither value are not counted, as if skipped one by one.
		first := st.First[t.sizeIdx]
		if c := st.First[t.countIdx]; first < 0 || (c >= 0 && c < first) {
			first = c
		}
		if first < 0 {
			continue
		}
		if filtered {
			keep, drop := opts.Focus == nil, false
			for _, l := range st.Loc {
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
		case len(st.Loc) == 0:
			key = "?"
		case opts.By == ByStack:
			sb.Reset()
			for _, l := range st.Loc {
				sb.WriteString(t.info(l).key)
				sb.WriteByte('\n')
			}
			key = sb.String()
		default:
			key = t.info(st.Loc[0]).key
		}
		a, ok := t.rows[key]
		if !ok {
			a = &agg{key: key, stack: i, first: first}
			t.rows[key] = a
		} else if first < a.first {
			a.stack, a.first = i, first
		}
		a.size += st.Value[t.sizeIdx]
		a.count += st.Value[t.countIdx]
	}
	return t, nil
}

// info works out, once per location, its key and whether filters match it.
func (t *heapTable) info(l int32) *locInfo {
	if li := t.infos[l]; li != nil {
		return li
	}
	li := &locInfo{frames: framesOf(&t.hp.Location[l])}
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
	st := &t.hp.Stack[a.stack]
	switch {
	case len(st.Loc) == 0:
		return Site{Function: "(unknown)"}
	case t.opts.By == ByStack:
		var s Site
		for _, l := range st.Loc {
			s.Stack = append(s.Stack, t.info(l).frames...)
		}
		return s
	}
	return t.info(st.Loc[0]).site
}

// value is what rows are ranked by: bytes or objects.
func (t *heapTable) value(a *agg) int64 {
	if t.opts.bySize() {
		return a.size
	}
	return a.count
}

// framesOf lists the frames of one location, innermost inlined call first.
func framesOf(l *heapproto.Location) []snapshot.Frame {
	if len(l.Line) == 0 {
		return []snapshot.Frame{{Function: fmt.Sprintf("%#x", l.Address)}}
	}
	frames := make([]snapshot.Frame, len(l.Line))
	for i, ln := range l.Line {
		frames[i] = snapshot.Frame{Function: ln.Function, File: ln.File, Line: int(ln.Line), Inlined: i < len(l.Line)-1}
	}
	return frames
}
