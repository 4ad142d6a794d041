//go:build linux && amd64

package attach

import (
	"context"
	"debug/dwarf"
	"debug/elf"
	"fmt"
	"sort"
	"strings"

	"github.com/go-delve/delve/pkg/dwarf/godwarf"
	"github.com/go-delve/delve/pkg/dwarf/op"
	"github.com/go-delve/delve/pkg/dwarf/reader"
	"github.com/go-delve/delve/pkg/proc"

	"github.com/leakhunt/leakhunt/profiler/heapgraph"
)

// maxGraphFrames bounds the frames read per goroutine; a deeper stack's
// remainder is scanned as one range.
const maxGraphFrames = 4096

// stackResult is the goroutine stack roots of a target.
type stackResult struct {
	vars   []heapgraph.StackVar
	frames []heapgraph.Frame
	ranges []heapgraph.StackRange
	notes  []string
}

// stackBounds returns each goroutine's stack [lo, hi) by goroutine ID, read
// from the runtime's allgs in mem.
func stackBounds(mem *heapgraph.Image, l *layout, gl *graphLayout) map[int64][2]uint64 {
	out := map[int64][2]uint64{}
	allgs, ok1 := mem.Uint64(l.sym["runtime.allgs"])
	n, ok2 := mem.Uint64(l.sym["runtime.allglen"])
	if !ok1 || !ok2 || n > 1<<24 {
		return out
	}
	for i := uint64(0); i < n; i++ {
		g, ok := mem.Uint64(allgs + i*8)
		if !ok {
			continue
		}
		b := mem.Bytes(g, uint64(l.gSize))
		if b == nil {
			continue
		}
		out[int64(u64(b, gl.gGoid))] = [2]uint64{u64(b, l.gStackLo), u64(b, l.gStackHi)}
	}
	return out
}

// subprograms maps each function's entry PC (at run time) to its DWARF entry.
func subprograms(dw *dwarf.Data, bias uint64) map[uint64]dwarf.Offset {
	out := map[uint64]dwarf.Offset{}
	r := dw.Reader()
	for {
		e, err := r.Next()
		if err != nil || e == nil {
			break
		}
		switch e.Tag {
		case dwarf.TagCompileUnit:
			continue
		case dwarf.TagSubprogram:
			if lo, ok := e.Val(dwarf.AttrLowpc).(uint64); ok {
				out[lo+bias] = e.Offset
			}
		}
		if e.Children {
			r.SkipChildren()
		}
	}
	return out
}

// outermost drops the variables that lie inside another one of the same
// frame: the compiler describes parts of a decomposed variable ("s.ptr")
// besides the whole ("s").
func outermost(vs []heapgraph.StackVar) []heapgraph.StackVar {
	if len(vs) < 2 {
		return vs
	}
	sort.SliceStable(vs, func(i, j int) bool {
		if vs[i].Addr != vs[j].Addr {
			return vs[i].Addr < vs[j].Addr
		}
		return vs[i].Size > vs[j].Size
	})
	out := vs[:1]
	for _, v := range vs[1:] {
		last := out[len(out)-1]
		if v.Addr >= last.Addr && v.Addr+v.Size <= last.Addr+last.Size {
			continue
		}
		out = append(out, v)
	}
	return out
}

// stackRoots lists every goroutine's physical frames as delve unwinds them
// in tgt (heapgraph scans them with the runtime's stack maps), with the
// frame variables (and their DWARF types) that name what it finds there.
// The stack of a goroutine delve cannot unwind, and what lies below the
// last frame it reached, are ranges scanned conservatively. mem is the copy
// the stacks live in.
func stackRoots(ctx context.Context, tgt *proc.Target, exe string, l *layout, mem *heapgraph.Image, gl *graphLayout) (res *stackResult, err error) {
	// Damaged memory (a truncated core) can trip the debugger: an error,
	// not a crash.
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("read the goroutine stacks: the memory image is inconsistent: %v", r)
		}
	}()
	f, err := elf.Open(exe)
	if err != nil {
		return nil, fmt.Errorf("open executable: %w", err)
	}
	defer f.Close()
	dw, err := f.DWARF()
	if err != nil {
		return nil, fmt.Errorf("read DWARF: %w", err)
	}
	bi := tgt.BinInfo()
	img := bi.Images[0]
	subs := subprograms(dw, l.bias)
	trees := map[dwarf.Offset]*godwarf.Tree{}
	sizes := map[dwarf.Offset]uint64{}
	typeSize := func(off dwarf.Offset) (uint64, bool) {
		if s, ok := sizes[off]; ok {
			return s, s > 0
		}
		var s uint64
		if t, err := img.Type(off); err == nil && t.Size() > 0 {
			s = uint64(t.Size())
		}
		sizes[off] = s
		return s, s > 0
	}
	bounds := stackBounds(mem, l, gl)
	gs, _, err := proc.GoroutinesInfo(tgt, 0, 0)
	if err != nil {
		return nil, fmt.Errorf("list goroutines: %w", err)
	}
	res = &stackResult{}
	var unreadable, failed, shortUnwind, noRegs int
	for i, g := range gs {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if g.Unreadable != nil {
			unreadable++
			continue
		}
		if g.Status&^0x1000 == proc.Gdead {
			continue
		}
		b, known := bounds[g.ID]
		inStack := func(addr, size uint64) bool {
			return !known || addr >= b[0] && addr+size <= b[1]
		}
		frames, err := proc.GoroutineStacktrace(tgt, g, maxGraphFrames, 0)
		if len(frames) == 0 {
			// Nothing to go by: the live stack, conservatively.
			if known && g.SP >= b[0] && g.SP < b[1] {
				res.ranges = append(res.ranges, heapgraph.StackRange{Goroutine: g.ID, Func: "?", Lo: g.SP, Hi: b[1]})
			}
			if err != nil {
				failed++
			}
			continue
		}
		top := true
		for _, fr := range frames {
			if fr.Inlined {
				continue // its variables are in the physical frame's tree
			}
			pc := fr.Current.PC
			isTop := top
			if !top {
				pc-- // the call instruction, not the return address
			}
			top = false
			lo, hi := fr.Regs.SP(), uint64(fr.Regs.CFA)
			name := "?"
			if fr.Current.Fn != nil {
				name = fr.Current.Fn.Name
			}
			// A frame unwound from a thread's registers (the goroutine was
			// running) is not at a safe point: heapgraph scans it
			// conservatively.
			hf := heapgraph.Frame{Goroutine: g.ID, Func: name, PC: fr.Current.PC, SP: lo, FP: hi, Top: isTop && g.Thread != nil}
			if hf.Top {
				hf.Regs = threadRegs(g.Thread)
				if hf.Regs == nil {
					noRegs++
				}
			}
			res.frames = append(res.frames, hf)
			var fv []heapgraph.StackVar
			if fn := fr.Current.Fn; fn != nil {
				if off, ok := subs[fn.Entry]; ok {
					tree := trees[off]
					if tree == nil {
						tree, err = godwarf.LoadTree(off, dw, img.StaticBase)
						if err != nil {
							tree = &godwarf.Tree{}
						}
						trees[off] = tree
					}
					if tree.Entry != nil {
						for _, v := range reader.Variables(tree, pc, 0, reader.VariablesOnlyVisible|reader.VariablesNoDeclLineCheck) {
							vn, _ := v.Val(dwarf.AttrName).(string)
							if vn == "" || strings.HasPrefix(vn, ".") {
								continue
							}
							typ, _ := v.Val(dwarf.AttrType).(dwarf.Offset)
							addr, ps, _, err := bi.Location(v.Tree, dwarf.AttrLocation, pc, fr.Regs, nil)
							if err != nil {
								continue // not live here
							}
							if ps != nil {
								// Split between registers and the stack: keep
								// the stack words, untyped.
								for _, p := range ps {
									if p.Kind == op.AddrPiece && p.Size >= 8 && inStack(p.Val, uint64(p.Size)) {
										fv = append(fv, heapgraph.StackVar{Goroutine: g.ID, Func: name, Name: strings.TrimPrefix(vn, "&"), Addr: p.Val, Size: uint64(p.Size)})
									}
								}
								continue
							}
							size, ok := typeSize(typ)
							if !ok || addr == 0 || !inStack(uint64(addr), size) {
								continue
							}
							if size < 8 {
								continue // too small to hold a pointer
							}
							// "&x" is the stack slot of a variable that escaped
							// to the heap: a *T pointing at it.
							fv = append(fv, heapgraph.StackVar{
								Goroutine: g.ID, Func: name, Name: strings.TrimPrefix(vn, "&"),
								Type: typ, Addr: uint64(addr), Size: size,
							})
						}
					}
				}
			}
			res.vars = append(res.vars, outermost(fv)...)
		}
		// Frames the unwinder did not reach (too deep, or it stopped short):
		// the rest of the stack, conservatively.
		if last := frames[len(frames)-1]; !last.Bottom && known && last.Regs.CFA > 0 && uint64(last.Regs.CFA) < b[1] && uint64(last.Regs.CFA) >= b[0] {
			res.ranges = append(res.ranges, heapgraph.StackRange{Goroutine: g.ID, Func: "(frames not unwound)", Lo: uint64(last.Regs.CFA), Hi: b[1]})
			shortUnwind++
		}
	}
	if unreadable > 0 {
		res.notes = append(res.notes, fmt.Sprintf("%d goroutines could not be read: their stacks are not roots", unreadable))
	}
	if failed > 0 {
		res.notes = append(res.notes, fmt.Sprintf("%d goroutine stacks could not be unwound and were scanned whole", failed))
	}
	if shortUnwind > 0 {
		res.notes = append(res.notes, fmt.Sprintf("%d goroutine stacks could not be unwound to the bottom: the rest of each was scanned conservatively", shortUnwind))
	}
	if noRegs > 0 {
		res.notes = append(res.notes, fmt.Sprintf("the registers of %d running goroutines could not be read: what only they held is not a root", noRegs))
	}
	return res, nil
}

// threadRegs returns the general-purpose registers of a thread, nil if
// they cannot be read.
func threadRegs(th proc.Thread) []uint64 {
	regs, err := th.Registers()
	if err != nil || regs == nil {
		return nil
	}
	rs, err := regs.Slice(false)
	if err != nil {
		return nil
	}
	out := make([]uint64, 0, len(rs))
	for _, r := range rs {
		if r.Reg != nil && len(r.Reg.Bytes) <= 8 {
			out = append(out, r.Reg.Uint64Val)
		}
	}
	return out
}
