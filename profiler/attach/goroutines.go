//go:build linux && amd64

package attach

import (
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/go-delve/delve/pkg/proc"
	"github.com/go-delve/delve/service/api"

	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

// maxFrames bounds each goroutine's stack, as the runtime's dump does (100).
const maxFrames = 128

// localsConfig bounds how much of each variable --locals loads.
var localsConfig = proc.LoadConfig{
	FollowPointers:     true,
	MaxVariableRecurse: 1,
	MaxStringLen:       64,
	MaxArrayValues:     16,
	MaxStructFields:    -1,
}

// stringTable reads a [N]string array of the runtime (waitReasonStrings,
// gStatusStrings): the target's own names for its states.
func stringTable(m memReader, addr uint64, n int) []string {
	if addr == 0 {
		return nil
	}
	var out []string
	for i := 0; i < n; i++ {
		hdr, err := readBytes(m, addr+uint64(i)*16, 16)
		if err != nil {
			break
		}
		p, l := le.Uint64(hdr), le.Uint64(hdr[8:])
		if l > 256 {
			break
		}
		s := ""
		if l > 0 {
			b, err := readBytes(m, p, int(l))
			if err != nil {
				break
			}
			s = string(b)
		}
		out = append(out, s)
	}
	return out
}

// goroutineReader turns delve's view of the goroutines into snapshot.Goroutines
// shaped like the runtime's debug=2 dump: system goroutines and runtime
// frames hidden, states named by the target's own tables.
type goroutineReader struct {
	tgt         *proc.Target
	waitReasons []string
	statuses    []string
	// now is the target's nanotime at the capture (for a core: the last GC).
	now     int64
	locals  bool
	lockedm int64 // offset of g.lockedm, -1 if unknown
	parent  int64 // offset of g.parentGoid, -1 if unknown
	byID    map[int64][]byte
}

func newGoroutineReader(tgt *proc.Target, l *layout, now int64, locals bool) *goroutineReader {
	mem := tgt.Memory()
	r := &goroutineReader{tgt: tgt, now: now, locals: locals, lockedm: -1, parent: -1}
	// Entries past the end of the arrays are junk but never indexed: the
	// target only stores valid indexes.
	r.waitReasons = stringTable(mem, l.sym["runtime.waitReasonStrings"], 128)
	r.statuses = stringTable(mem, l.sym["runtime.gStatusStrings"], 16)
	g, err := structType(tgt.BinInfo(), "runtime.g")
	if err != nil {
		return r
	}
	if off, err := fieldOffset(g, "lockedm"); err == nil {
		r.lockedm = off
	}
	if off, err := fieldOffset(g, "parentGoid"); err == nil {
		r.parent = off
	}
	goidOff, err := fieldOffset(g, "goid")
	if err != nil {
		return r
	}
	// Index every runtime.g by goroutine ID, for the fields delve does not expose.
	r.byID = map[int64][]byte{}
	allgs, err1 := readU64(mem, l.sym["runtime.allgs"])
	n, err2 := readU64(mem, l.sym["runtime.allglen"])
	if err1 != nil || err2 != nil || n > 1<<24 {
		return r
	}
	ptrs, err := readBytes(mem, allgs, int(n)*8)
	if err != nil {
		return r
	}
	for i := 0; i < int(n); i++ {
		b, err := readBytes(mem, le.Uint64(ptrs[i*8:]), int(l.gSize))
		if err == nil {
			r.byID[int64(u64(b, goidOff))] = b
		}
	}
	return r
}

// read lists the goroutines. unreadable counts those delve could not read.
func (r *goroutineReader) read() (gs []snapshot.Goroutine, unreadable int, err error) {
	all, _, err := proc.GoroutinesInfo(r.tgt, 0, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("list goroutines: %w", err)
	}
	for _, g := range all {
		if g.Unreadable != nil {
			unreadable++
			continue
		}
		st := g.Status &^ 0x1000
		if st == proc.Gdead || st == 11 || g.System(r.tgt) {
			continue
		}
		gs = append(gs, r.convert(g))
	}
	return gs, unreadable, nil
}

func (r *goroutineReader) convert(g *proc.G) snapshot.Goroutine {
	out := snapshot.Goroutine{ID: g.ID}
	st := g.Status &^ 0x1000
	if int(st) < len(r.statuses) {
		out.State = r.statuses[st]
	} else {
		out.State = fmt.Sprintf("status %d", st)
	}
	if out.State == "leaked" {
		out.Leaked = true
		out.State = "waiting"
	}
	if out.State == "waiting" && g.WaitReason != 0 && int(g.WaitReason) < len(r.waitReasons) {
		out.State = r.waitReasons[g.WaitReason]
	}
	if (st == proc.Gwaiting || st == proc.Gsyscall || out.Leaked) && g.WaitSince != 0 && r.now > g.WaitSince {
		out.Wait = time.Duration(r.now - g.WaitSince)
	}
	if gv := r.gBytes(g); gv != nil {
		if r.lockedm >= 0 && u64(gv, r.lockedm) != 0 {
			out.LockedToThread = true
		}
		if r.parent >= 0 {
			out.CreatorID = int64(u64(gv, r.parent))
		}
	}
	frames, err := proc.GoroutineStacktrace(r.tgt, g, maxFrames, 0)
	if err != nil && len(frames) == 0 {
		out.Frames = []snapshot.Frame{{Function: "?", File: err.Error()}}
	}
	first := true
	for i := range frames {
		f := &frames[i]
		if f.Call.Fn == nil {
			continue
		}
		name := f.Call.Fn.Name
		if !showFrame(name, first) || isWrapper(name, f.Call.File) {
			continue
		}
		first = false
		fr := snapshot.Frame{Function: name, File: f.Call.File, Line: f.Call.Line, Inlined: f.Inlined}
		if r.locals {
			fr.Vars = r.vars(g, frames[i:])
		}
		out.Frames = append(out.Frames, fr)
	}
	// The runtime prints no creator for the main goroutine, nor one hidden
	// from tracebacks.
	if g.GoPC != 0 && g.ID != 1 {
		if loc := g.Go(); loc.Fn != nil && showFrame(loc.Fn.Name, false) {
			out.CreatedBy = &snapshot.Frame{Function: loc.Fn.Name, File: loc.File, Line: loc.Line}
		}
	}
	return out
}

// gBytes returns the runtime.g of goroutine g.
func (r *goroutineReader) gBytes(g *proc.G) []byte { return r.byID[g.ID] }

// showFrame mirrors the runtime's traceback filter (showfuncinfo at the
// default GOTRACEBACK level): runtime internals are hidden, exported runtime
// functions and a gopanic below the top are shown.
func showFrame(name string, first bool) bool {
	if name == "runtime.gopanic" && !first {
		return true
	}
	if name == "runtime.runFinalizers" || name == "runtime.runCleanups" {
		return true
	}
	if !strings.Contains(name, ".") {
		return false
	}
	if rest, ok := strings.CutPrefix(name, "runtime."); ok {
		r := []rune(rest)
		return len(r) > 0 && unicode.IsUpper(r[0])
	}
	return true
}

// isWrapper reports compiler-generated wrappers, which the runtime's
// traceback leaves out: go statement thunks, method values, pointer-receiver
// wrappers.
func isWrapper(name, file string) bool {
	return strings.Contains(name, ".gowrap") || strings.HasSuffix(name, "-fm") || file == "<autogenerated>"
}

// vars reads the arguments and locals of frames[0] with localsConfig.
func (r *goroutineReader) vars(g *proc.G, frames []proc.Stackframe) []snapshot.Var {
	threadID := 0
	if g.Thread != nil {
		threadID = g.Thread.ThreadID()
	}
	scope := proc.FrameToScope(r.tgt, r.tgt.Memory(), g, threadID, frames...)
	var out []snapshot.Var
	add := func(vs []*proc.Variable, arg bool) {
		for _, v := range vs {
			av := api.ConvertVar(v)
			out = append(out, snapshot.Var{Name: av.Name, Type: av.Type, Value: av.SinglelineString(), Arg: arg})
		}
	}
	if args, err := scope.FunctionArguments(localsConfig); err == nil {
		add(args, true)
	}
	if locals, err := scope.LocalVariables(localsConfig); err == nil {
		add(locals, false)
	}
	return out
}
