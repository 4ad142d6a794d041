package goroutines

import (
	"cmp"
	"fmt"
	"hash/maphash"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

// GroupBy says which goroutines Groups folds together.
type GroupBy int

const (
	// ByStack folds goroutines with the same state, the same frames
	// (function, file and line of each) and the same creating go statement.
	// Argument values are not compared: Go prints many of them as unreliable
	// ("0x1?") and they differ between otherwise identical goroutines, so
	// comparing them would leave most groups with one goroutine each.
	ByStack GroupBy = iota
	// BySite folds goroutines started by the same go statement and blocked
	// at the same place (Blocking): the "goroutine group" that leak verdicts
	// count, whatever the frames in between or the state.
	BySite
)

// String returns "stack" or "site".
func (b GroupBy) String() string {
	if b == BySite {
		return "site"
	}
	return "stack"
}

// MarshalText writes the name String returns, so JSON says "stack" or "site".
func (b GroupBy) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText reads "stack" or "site".
func (b *GroupBy) UnmarshalText(text []byte) error {
	switch string(text) {
	case "stack":
		*b = ByStack
	case "site":
		*b = BySite
	default:
		return fmt.Errorf("unknown grouping %q: want stack or site", text)
	}
	return nil
}

// GroupOptions tune Groups. The zero value groups by stack, keeps every
// goroutine and lists up to 10 IDs per group.
type GroupOptions struct {
	By GroupBy
	// Filter, when set, keeps only goroutines of which it matches a frame's
	// function or "file:line", the state, or the creator's function or
	// "file:line".
	Filter *regexp.Regexp
	// IDs is how many goroutine IDs a group lists (the lowest); 0 means 10,
	// negative means none.
	IDs int
}

// Group is goroutines folded together, with what they have in common.
type Group struct {
	// Count is how many goroutines the group holds.
	Count int `json:"count"`
	// State is the state shared by the group's goroutines, or the most
	// common one when they differ (BySite); States has them all.
	State string `json:"state,omitempty"`
	// States counts the goroutines in each state, most first.
	States []StateCount `json:"states,omitempty"`
	// MinWait and MaxWait span how long the goroutines have waited; both zero
	// when the source did not say (a debug=2 dump omits waits under a minute).
	MinWait time.Duration `json:"wait_min_ns"`
	MaxWait time.Duration `json:"wait_max_ns"`
	// Leaked counts goroutines the runtime's leak detector marked.
	Leaked int `json:"leaked,omitempty"`
	// CreatedBy is the go statement that started the goroutines; nil for the
	// main goroutine and when the source does not say.
	CreatedBy *snapshot.Frame `json:"created_by,omitempty"`
	// Blocking is the frame the goroutines wait in: see Blocking.
	Blocking snapshot.Frame `json:"blocking"`
	// Frames is the stack, innermost first, of the goroutine named by
	// Sample: with ByStack every goroutine in the group has these functions,
	// files and lines; argument values and Vars are that goroutine's own.
	Frames []snapshot.Frame `json:"frames"`
	// Sample is the ID of the goroutine whose frames are shown: the lowest
	// ID in the group. It is 0 when the source gives no IDs (goroutine
	// profiles); the frames are then those of the group's first goroutine in gs.
	Sample int64 `json:"sample_id,omitempty"`
	// IDs are the lowest goroutine IDs of the group, ascending, at most
	// GroupOptions.IDs of them; empty when the source gives no IDs.
	IDs []int64 `json:"ids,omitempty"`

	first *snapshot.Goroutine // a member: what the group is compared and sorted by
}

// StateCount is how many goroutines of a group are in one state.
type StateCount struct {
	State string `json:"state"`
	Count int    `json:"count"`
}

// Groups folds gs into groups (see GroupBy), largest first; groups of equal
// size are ordered by state, then frames, then lowest ID, so the result does
// not depend on the order of gs. It takes time linear in the total number of
// frames: each goroutine is hashed once and compared with the one group its
// hash points to.
func Groups(gs []snapshot.Goroutine, opts GroupOptions) []Group {
	maxIDs := opts.IDs
	if maxIDs == 0 {
		maxIDs = 10
	}
	seed := maphash.MakeSeed()
	var h maphash.Hash
	byHash := make(map[uint64][]int) // hash → indexes into groups
	var groups []Group
	var states []map[string]int
	for i := range gs {
		g := &gs[i]
		if opts.Filter != nil && !Matches(g, opts.Filter) {
			continue
		}
		var block snapshot.Frame
		if opts.By == BySite {
			block = Blocking(g.Frames)
		}
		h.SetSeed(seed)
		hashKey(&h, g, &block, opts.By)
		sum := h.Sum64()
		gi := -1
		for _, j := range byHash[sum] {
			if sameKey(&groups[j], g, &block, opts.By) {
				gi = j
				break
			}
		}
		if gi < 0 {
			if opts.By == ByStack {
				block = Blocking(g.Frames)
			}
			gi = len(groups)
			byHash[sum] = append(byHash[sum], gi)
			groups = append(groups, Group{
				MinWait:   g.Wait,
				MaxWait:   g.Wait,
				CreatedBy: g.CreatedBy,
				Blocking:  block,
				Frames:    g.Frames,
				Sample:    g.ID,
				first:     g,
			})
			states = append(states, make(map[string]int, 1))
		}
		gr := &groups[gi]
		gr.Count++
		states[gi][g.State]++
		if g.Leaked {
			gr.Leaked++
		}
		gr.MinWait = min(gr.MinWait, g.Wait)
		gr.MaxWait = max(gr.MaxWait, g.Wait)
		if g.ID != 0 && (gr.Sample == 0 || g.ID < gr.Sample) {
			gr.Sample, gr.Frames, gr.CreatedBy = g.ID, g.Frames, g.CreatedBy
			if opts.By == BySite {
				gr.Blocking = block
			} else {
				gr.Blocking = Blocking(g.Frames)
			}
		}
		if maxIDs > 0 && g.ID != 0 {
			gr.IDs = insertID(gr.IDs, g.ID, maxIDs)
		}
	}
	for i := range groups {
		gr := &groups[i]
		for st, n := range states[i] {
			gr.States = append(gr.States, StateCount{State: st, Count: n})
		}
		slices.SortFunc(gr.States, func(a, b StateCount) int {
			return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.State, b.State))
		})
		gr.State = gr.States[0].State
	}
	slices.SortFunc(groups, func(a, b Group) int {
		return cmp.Or(
			cmp.Compare(b.Count, a.Count),
			cmp.Compare(a.State, b.State),
			compareKey(a.first, b.first, opts.By),
			cmp.Compare(a.Sample, b.Sample))
	})
	for i := range groups {
		groups[i].first = nil
	}
	return groups
}

// hashKey writes what g is grouped by into h; block is g's blocking frame
// when grouping by site.
func hashKey(h *maphash.Hash, g *snapshot.Goroutine, block *snapshot.Frame, by GroupBy) {
	frame := func(f *snapshot.Frame) {
		h.WriteString(f.Function)
		h.WriteByte(0)
		h.WriteString(f.File)
		var n [8]byte
		for i := range n {
			n[i] = byte(f.Line >> (8 * i))
		}
		h.Write(n[:])
	}
	if by == BySite {
		frame(block)
	} else {
		h.WriteString(g.State)
		h.WriteByte(0)
		for i := range g.Frames {
			frame(&g.Frames[i])
		}
	}
	if g.CreatedBy != nil {
		h.WriteByte(1)
		frame(g.CreatedBy)
	}
}

// sameKey reports whether g belongs to gr; block is g's blocking frame when
// grouping by site.
func sameKey(gr *Group, g *snapshot.Goroutine, block *snapshot.Frame, by GroupBy) bool {
	if by == BySite {
		if compareFrame(gr.Blocking, *block) != 0 {
			return false
		}
		return compareCreator(gr.first.CreatedBy, g.CreatedBy) == 0
	}
	return compareKey(gr.first, g, by) == 0
}

// compareKey orders goroutines by what they are grouped by: 0 means they
// belong to one group.
func compareKey(a, b *snapshot.Goroutine, by GroupBy) int {
	if by == BySite {
		if c := compareFrame(Blocking(a.Frames), Blocking(b.Frames)); c != 0 {
			return c
		}
	} else {
		if c := cmp.Compare(a.State, b.State); c != 0 {
			return c
		}
		if c := slices.CompareFunc(a.Frames, b.Frames, compareFrame); c != 0 {
			return c
		}
	}
	return compareCreator(a.CreatedBy, b.CreatedBy)
}

// compareCreator orders creating go statements, none first.
func compareCreator(a, b *snapshot.Frame) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	return compareFrame(*a, *b)
}

// compareFrame orders frames by function, file and line: not by argument
// values or locals.
func compareFrame(a, b snapshot.Frame) int {
	return cmp.Or(cmp.Compare(a.Function, b.Function), cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line))
}

// insertID adds id to the ascending list ids, keeping the lowest max.
func insertID(ids []int64, id int64, max int) []int64 {
	if len(ids) == max && id >= ids[len(ids)-1] {
		return ids
	}
	i, found := slices.BinarySearch(ids, id)
	if found {
		return ids
	}
	if len(ids) == max {
		ids = ids[:len(ids)-1]
	}
	return slices.Insert(ids, i, id)
}

// Matches reports whether re matches one of g's frames (its function, or
// "file:line"), its state, or its creator (function or "file:line"): the
// test GroupOptions.Filter applies.
func Matches(g *snapshot.Goroutine, re *regexp.Regexp) bool {
	if re.MatchString(g.State) {
		return true
	}
	var buf []byte
	match := func(f *snapshot.Frame) bool {
		if re.MatchString(f.Function) {
			return true
		}
		buf = strconv.AppendInt(append(append(buf[:0], f.File...), ':'), int64(f.Line), 10)
		return re.Match(buf)
	}
	for i := range g.Frames {
		if match(&g.Frames[i]) {
			return true
		}
	}
	return g.CreatedBy != nil && match(g.CreatedBy)
}

// Blocking returns the frame a goroutine waits in, as a reader names it: the
// innermost frame of the program's own code (see IsUser); failing that the
// innermost frame outside package runtime; failing that the outermost frame
// (the goroutine's entry function). It returns the zero Frame for no frames.
func Blocking(frames []snapshot.Frame) snapshot.Frame {
	for _, f := range frames {
		if IsUser(f) {
			return f
		}
	}
	for _, f := range frames {
		if Package(f.Function) != "runtime" {
			return f
		}
	}
	if len(frames) > 0 {
		return frames[len(frames)-1]
	}
	return snapshot.Frame{}
}

// IsUser reports whether f is in the program's own code (or a dependency)
// rather than in the Go standard library or runtime. A standard package has
// no dot in its first path element ("runtime", "net/http", "internal/poll",
// "vendor/golang.org/x/net/..."); a module may lack one too ("module myapp"),
// so when the file is known it must also lie in GOROOT's layout: under a
// src/ directory named after the package, or under src/runtime for the
// functions other packages borrow from the runtime (internal/sync's
// runtime_SemacquireMutex lives in runtime/sema.go); -trimpath builds drop
// the src/ prefix. Package main is always the user's.
func IsUser(f snapshot.Frame) bool {
	pkg := Package(f.Function)
	if pkg == "" || pkg == "main" {
		return true
	}
	first, _, _ := strings.Cut(pkg, "/")
	if strings.Contains(first, ".") {
		return true
	}
	if f.File == "" {
		return false
	}
	file := f.File
	if strings.IndexByte(file, '\\') >= 0 {
		file = strings.ReplaceAll(file, "\\", "/")
	}
	if inDir(file, pkg) || inDir(file, "runtime") {
		return false
	}
	for rest := file; ; {
		i := strings.Index(rest, "/src/")
		if i < 0 {
			return true
		}
		rest = rest[i+len("/src/"):]
		if inDir(rest, pkg) || inDir(rest, "runtime") {
			return false
		}
	}
}

// inDir reports whether the slash-separated path starts with directory dir.
func inDir(path, dir string) bool {
	return len(path) > len(dir) && path[len(dir)] == '/' && path[:len(dir)] == dir
}

// Package returns the import path of a function's package as Go prints it in
// stacks: "net/http" for "net/http.(*conn).serve", "main" for
// "main.main.func1", "example.com/a.b/c" for "example.com/a.b/c.F[...]".
func Package(function string) string {
	slash := strings.LastIndexByte(function, '/')
	// Type parameters may hold slashes and dots of their own.
	if br := strings.IndexByte(function, '['); br >= 0 {
		slash = strings.LastIndexByte(function[:br], '/')
	}
	dot := strings.IndexByte(function[slash+1:], '.')
	if dot < 0 {
		return ""
	}
	return function[:slash+1+dot]
}
