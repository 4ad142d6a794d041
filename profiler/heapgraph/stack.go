package heapgraph

// Goroutine stacks are scanned the way the garbage collector's scanstack
// and scanframeworker (runtime/mgcmark.go) scan them:
//
//   - Each frame's live pointer slots come from the stack maps the compiler
//     wrote for the PC the frame resumes at: the locals bitmap below varp
//     and the arguments bitmap from argp (FUNCDATA_LocalsPointerMaps and
//     FUNCDATA_ArgsPointerMaps at PCDATA_StackMapIndex). A slot the maps
//     call dead is not a root, whatever it still holds.
//   - Stack objects (address-taken variables and temporaries such as a
//     closure passed down the stack, FUNCDATA_StackObjects) are scanned with
//     their own pointer masks when a pointer reaches them — from a live
//     slot, another reached stack object, a conservatively scanned word or
//     the goroutine's defer records, panic and saved closure context — and
//     not otherwise, as the collector does. A stack object no pointer
//     reaches is dead: scanning every stack object of every frame would
//     count what dead temporaries still point to.
//   - Scanned conservatively (every word that holds the address of an
//     allocated slot counts): the top frame of a goroutine that was running
//     on a thread (not at a safe point), with its thread's registers; the
//     frames of functions without stack maps (assembly); asyncPreempt's and
//     debugCallV2's frames and their callers'. A Stats note counts them.
//   - Frames on a system stack (g0's or a signal stack: the goroutine's
//     thread was running runtime code, such as the collector's own marking,
//     on it) are not roots: the collector never scans them.
//
// Roots are named after the DWARF variable covering the slot (the pieces a
// compiler split a variable into are one root: "items", not "items.ptr"
// and "items.len"), or after the typed pointer that reached a stack object
// ("k" for the variable a closure captured by reference, "k.items" for a
// field of it), and keep that DWARF type so that the typer types through
// them. The rest are "(temporary)", "(closure F)", "(stack object, N B)",
// "(registers)" or "(frame scanned conservatively)".

import (
	"debug/dwarf"
	"fmt"
	"sort"
	"strings"
)

// Frame is one physical frame of a goroutine's stack, as a debugger
// unwound it (inlined calls are part of their caller's frame). Build scans
// it the way the garbage collector's scanframeworker does, with the stack
// maps the compiler wrote into the executable's pclntab.
type Frame struct {
	Goroutine int64
	// Func names the function, for root names when the pclntab lacks it.
	Func string
	// PC is where the frame resumes: the return address for a frame below
	// the top, the PC the goroutine stopped at for the top frame.
	PC uint64
	// SP is the frame's stack pointer; FP its canonical frame address, the
	// stack pointer before the call that made the frame (where the
	// arguments begin, above the return address).
	SP, FP uint64
	// Top marks the innermost frame of a goroutine that was running on a
	// thread when the process stopped: it is not at a safe point, so its
	// stack maps may not describe it, and it is scanned conservatively,
	// together with Regs.
	Top bool
	// Regs are the general-purpose registers of a Top frame's thread, when
	// the debugger could read them: words scanned conservatively, as the
	// runtime scans the registers an asynchronous preemption saved.
	Regs []uint64
}

// stackRoots adds the goroutines' stack roots: with in.Frames, each
// frame's live pointer slots and the stack objects they reach, by the
// runtime's stack maps; without, in.Stack's variables scanned whole. The
// frame ranges of in.StackRanges are scanned conservatively in both cases.
func (b *builder) stackRoots(in *Input) {
	if len(in.Frames) > 0 {
		b.frameRoots(in)
	} else {
		for _, v := range in.Stack {
			if v.Size == 0 || v.Size > 1<<30 {
				continue
			}
			b.conservative(Root{Kind: RootStack, Name: fmt.Sprintf("goroutine %d %s: %s", v.Goroutine, v.Func, v.Name),
				Goroutine: v.Goroutine, Type: v.Type, Addr: v.Addr, Size: v.Size})
		}
	}
	for _, r := range in.StackRanges {
		if r.Hi <= r.Lo || r.Hi-r.Lo > 1<<30 {
			continue
		}
		b.conservative(Root{Kind: RootStack, Name: fmt.Sprintf("goroutine %d %s", r.Goroutine, r.Func),
			Goroutine: r.Goroutine, Addr: r.Lo, Size: r.Hi - r.Lo})
	}
}

// stackVarName is a variable's name with the piece the compiler split it
// into dropped: "items.ptr", "items.len", "x.itab", "p.x" are parts of
// "items", "x" and "p" (Go names have no dots).
func stackVarName(name string) string {
	name = strings.TrimPrefix(name, "&")
	if i := strings.IndexByte(name, '.'); i > 0 {
		return name[:i]
	}
	return name
}

// frameScan is how one frame was scanned.
type frameScan uint8

const (
	framePrecise      frameScan = iota
	frameTop                    // a running goroutine's top frame: conservative
	frameNoFunc                 // PC in no known function: conservative
	frameNoMaps                 // no (readable) stack maps: assembly, conservative
	frameAsyncPreempt           // asyncPreempt or debugCallV2, or their parent: conservative
)

// stackObj is a stack object of a frame: an address-taken variable or
// temporary with its own pointer mask, scanned when a pointer reaches it.
type stackObj struct {
	lo, hi  uint64
	rec     *stackObjectRecord
	frame   int
	reached bool
	// name and typ, when a typed pointer into the object told them: a
	// captured variable of a closure, a field of a typed variable.
	name string
	typ  dwarf.Offset
}

// stackWord is a word of a frame that may hold a pointer.
type stackWord struct {
	addr  uint64
	frame int
}

// rootKey identifies a stack root while a goroutine's roots are
// collected: a DWARF variable (group), a stack object or a frame's other
// slots.
type rootKey struct {
	kind  uint8 // 0 variable, 1 stack object, 2 frame
	index int
}

// varGroup is a frame variable, its pieces together.
type varGroup struct {
	name      string
	fn        string
	frame     int
	typ       dwarf.Offset
	addr, end uint64
}

// stackPiece is one StackVar of a goroutine pointing at its group.
type stackPiece struct {
	lo, hi uint64
	group  int
}

// frameRoots scans the frames of in.Frames precisely where the stack maps
// allow and conservatively where they do not, follows pointers into the
// goroutine's stack objects, and names each root by the DWARF variable
// covering it.
func (b *builder) frameRoots(in *Input) {
	m := &mem{img: in.Mem, x: b.x}
	var p *pcln
	sl, err := readStackLayout(b.x.dw)
	if err == nil {
		first, _ := b.x.sym("runtime.firstmoduledata")
		p, err = newPcln(m, sl, first)
	}
	if err != nil {
		b.notes = append(b.notes, fmt.Sprintf("goroutine stack frames scanned conservatively: %v", err))
	}
	// Goroutines in order of first appearance, each with its frames.
	var order []int64
	frames := map[int64][]int{}
	for i, f := range in.Frames {
		if _, ok := frames[f.Goroutine]; !ok {
			order = append(order, f.Goroutine)
		}
		frames[f.Goroutine] = append(frames[f.Goroutine], i)
	}
	vars := map[int64][]StackVar{}
	for _, v := range in.Stack {
		if v.Size > 0 && v.Size < 1<<30 {
			vars[v.Goroutine] = append(vars[v.Goroutine], v)
		}
	}
	var counts [frameAsyncPreempt + 1]int
	sd := &stackDWARF{dw: b.x.dw, bias: b.x.bias, sizes: map[dwarf.Offset]int64{}}
	var gs map[int64]gInfo
	if sl != nil {
		gs = goroutineStacks(m, b.x, sl)
	}
	offStack := 0
	for _, gid := range order {
		fis := frames[gid]
		// Frames on a system stack (g0's, where the goroutine's thread
		// runs runtime code such as the garbage collector's own marking,
		// or a signal stack) are not the goroutine's: the collector never
		// scans them. The frame that switched to it waits at a call.
		gi, known := gs[gid]
		if known {
			kept := fis[:0:0]
			for _, i := range fis {
				if f := in.Frames[i]; f.SP < gi.lo || f.SP >= gi.hi {
					offStack++
					continue
				}
				kept = append(kept, i)
			}
			fis = kept
		}
		var seeds []uint64
		if known {
			seeds = gSeeds(m, sl, gi)
		}
		b.goroutineRoots(m, p, sd, in, gid, fis, vars[gid], seeds, &counts)
	}
	if offStack > 0 {
		b.notes = append(b.notes, fmt.Sprintf("%d frames running on system stacks (the runtime's, not a goroutine's) are not roots, as for the garbage collector", offStack))
	}
	if n := counts[frameTop] + counts[frameNoFunc] + counts[frameNoMaps] + counts[frameAsyncPreempt]; n > 0 && p != nil {
		var why []string
		for _, c := range []struct {
			k    frameScan
			what string
		}{
			{frameTop, "top frames of running goroutines (not at a safe point), with their registers where the debugger read them"},
			{frameNoMaps, "frames of functions without stack maps (assembly)"},
			{frameAsyncPreempt, "frames of asynchronously preempted goroutines"},
			{frameNoFunc, "frames at a PC in no known function"},
		} {
			if counts[c.k] > 0 {
				why = append(why, fmt.Sprintf("%d %s", counts[c.k], c.what))
			}
		}
		b.notes = append(b.notes, fmt.Sprintf("%d of %d goroutine stack frames were scanned conservatively: %s",
			n, len(in.Frames), strings.Join(why, ", ")))
	}
}

// goroutineRoots adds the roots of one goroutine's frames (fis index
// in.Frames, innermost first). seeds are pointers into the stack from
// outside it (the goroutine's defer records and panics) that reach stack
// objects too.
func (b *builder) goroutineRoots(m *mem, p *pcln, sd *stackDWARF, in *Input, gid int64, fis []int, vs []StackVar, seeds []uint64, counts *[frameAsyncPreempt + 1]int) {
	fr := make([]Frame, len(fis))
	for k, i := range fis {
		fr[k] = in.Frames[i]
	}
	fnames := make([]string, len(fr))
	var words []stackWord   // precise pointer slots
	var conserv []stackWord // words of conservatively scanned frames
	var objs []stackObj     // the goroutine's stack objects
	scans := make([]frameScan, len(fr))
	parentConservative := false
	for k, f := range fr {
		fnames[k] = f.Func
		if f.FP < f.SP || f.FP-f.SP > 1<<30 || f.SP == 0 {
			continue
		}
		var fi *funcInfo
		if p != nil {
			fi = p.find(f.PC)
			if fi == nil && f.PC > 0 {
				fi = p.find(f.PC - 1) // a return address just past the function
			}
		}
		if fi != nil && fi.name != "" {
			fnames[k] = fi.name
		}
		// The frame's areas, as the runtime's unwinder computes them
		// (runtime/traceback.go): varp below the return address and the
		// saved frame pointer, the arguments from FP up.
		varp := f.FP - 8
		if varp > f.SP {
			varp -= 8
		}
		argp := f.FP
		argBytes := uint64(0)
		if fi != nil && fi.args > 0 {
			argBytes = uint64(fi.args)
		}
		scan := framePrecise
		switch {
		case p == nil || fi == nil:
			scan = frameNoFunc
		case f.Top:
			scan = frameTop
		case parentConservative || fi.name == "runtime.asyncPreempt" || fi.name == "runtime.debugCallV2":
			scan = frameAsyncPreempt
		}
		parentConservative = fi != nil && (fi.name == "runtime.asyncPreempt" || fi.name == "runtime.debugCallV2")
		var locals, args []byte
		var nlocals, nargs int32
		var recs []stackObjectRecord
		if scan == framePrecise {
			// getStackMap (runtime/stkframe.go): the map at the call
			// instruction, the entry map at the function's entry.
			target := f.PC
			idx := int32(-1)
			if target != fi.entry {
				target--
				idx = p.pcdata(fi, pcdataStackMapIndex, target)
			}
			if idx == -1 {
				idx = 0
			}
			ok := true
			if varp > f.SP {
				var okl bool
				locals, nlocals, okl = p.stackMap(p.funcdata(fi, funcdataLocalsPtrMap), idx)
				ok = okl && uint64(nlocals)*8 <= varp-f.SP
			}
			if ok && fi.args != argsSizeUnknown && fi.args > 0 {
				var oka bool
				args, nargs, oka = p.stackMap(p.funcdata(fi, funcdataArgsPointerMap), idx)
				ok = oka && nargs <= fi.args/8
			} else if fi.args == argsSizeUnknown {
				ok = false // reflect's call stubs: no argument map
			}
			var okr bool
			if ok {
				recs, okr = p.stackObjects(fi)
				ok = okr
			}
			if !ok {
				scan = frameNoMaps
			}
		}
		scans[k] = scan
		counts[scan]++
		if scan != framePrecise {
			for a := (f.SP + 7) &^ 7; a+8 <= varp; a += 8 {
				conserv = append(conserv, stackWord{a, k})
			}
			for a := argp; a+8 <= argp+argBytes; a += 8 {
				conserv = append(conserv, stackWord{a, k})
			}
			continue
		}
		for i := int32(0); i < nlocals; i++ {
			if locals[i/8]&(1<<(i%8)) != 0 {
				words = append(words, stackWord{varp - uint64(nlocals)*8 + uint64(i)*8, k})
			}
		}
		for i := int32(0); i < nargs; i++ {
			if args[i/8]&(1<<(i%8)) != 0 {
				words = append(words, stackWord{argp + uint64(i)*8, k})
			}
		}
		for i := range recs {
			r := &recs[i]
			base := varp
			if r.off >= 0 {
				base = argp
			}
			lo := base + uint64(int64(r.off))
			if lo < f.SP {
				continue // not allocated in the frame yet
			}
			objs = append(objs, stackObj{lo: lo, hi: lo + uint64(r.size), rec: r, frame: k})
		}
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].lo < objs[j].lo })
	findObj := func(v uint64) int {
		i := sort.Search(len(objs), func(i int) bool { return objs[i].hi > v })
		if i < len(objs) && objs[i].lo <= v {
			return i
		}
		return -1
	}

	// Variables: pieces of one variable of one frame make one group.
	frameOf := func(fn string, addr uint64) int {
		best := -1
		for k, f := range fr {
			if fnames[k] != fn && f.Func != fn {
				continue
			}
			if addr >= f.SP && addr < f.FP {
				return k
			}
			if addr >= f.FP && (best < 0 || f.FP > fr[best].FP) {
				best = k
			}
		}
		return best
	}
	var groups []varGroup
	var pieces []stackPiece
	gidx := map[string]int{}
	for _, v := range vs {
		k := frameOf(v.Func, v.Addr)
		name := stackVarName(v.Name)
		key := fmt.Sprintf("%d/%s/%s", k, v.Func, name)
		gi, ok := gidx[key]
		if !ok {
			gi = len(groups)
			gidx[key] = gi
			groups = append(groups, varGroup{name: name, fn: v.Func, frame: k, addr: v.Addr, end: v.Addr + v.Size})
		}
		g := &groups[gi]
		g.addr = min(g.addr, v.Addr)
		g.end = max(g.end, v.Addr+v.Size)
		if strings.TrimPrefix(v.Name, "&") == name && v.Type != 0 {
			g.typ = v.Type // the whole variable
		}
		pieces = append(pieces, stackPiece{v.Addr, v.Addr + v.Size, gi})
	}
	for gi := range groups {
		// A type only when the whole variable covers its pieces.
		g := &groups[gi]
		if g.typ == 0 {
			continue
		}
		whole := false
		for _, v := range vs {
			if v.Type == g.typ && strings.TrimPrefix(v.Name, "&") == g.name && v.Addr == g.addr && v.Addr+v.Size == g.end {
				whole = true
			}
		}
		if !whole {
			g.typ = 0
		}
	}
	sort.Slice(pieces, func(i, j int) bool {
		if pieces[i].lo != pieces[j].lo {
			return pieces[i].lo < pieces[j].lo
		}
		return pieces[i].hi > pieces[j].hi
	})
	findVar := func(a uint64) int {
		// The innermost-starting piece covering a (pieces may nest).
		i := sort.Search(len(pieces), func(i int) bool { return pieces[i].lo > a })
		for j := i - 1; j >= 0 && j >= i-16; j-- {
			if pieces[j].lo <= a && a < pieces[j].hi {
				return pieces[j].group
			}
		}
		return -1
	}

	type pending struct {
		root  Root
		edges []stackEdge
	}
	roots := map[rootKey]*pending{}
	var keys []rootKey
	type hit struct {
		w    stackWord
		id   uint32
		span int32
	}
	var hits []hit
	add := func(w stackWord, id uint32, si int32) { hits = append(hits, hit{w, id, si}) }
	root := func(w stackWord, id uint32, si int32) {
		var key rootKey
		if gi := findVar(w.addr); gi >= 0 {
			key = rootKey{0, gi}
		} else if oi := findObj(w.addr); oi >= 0 {
			key = rootKey{1, oi}
		} else {
			key = rootKey{2, w.frame}
		}
		pr := roots[key]
		if pr == nil {
			var r Root
			switch key.kind {
			case 0:
				g := groups[key.index]
				r = Root{Name: fmt.Sprintf("goroutine %d %s: %s", gid, g.fn, g.name), Type: g.typ, Addr: g.addr, Size: g.end - g.addr}
			case 1:
				o := objs[key.index]
				r = Root{Name: fmt.Sprintf("goroutine %d %s: %s", gid, fnames[o.frame], b.stackObjName(m, p, o)), Addr: o.lo, Size: o.hi - o.lo}
				if o.typ != 0 && uint64(sd.size(o.typ)) == o.hi-o.lo {
					r.Type = o.typ
				}
			default:
				f := fr[key.index]
				what := "(temporary)"
				if scans[key.index] != framePrecise {
					what = "(frame scanned conservatively)"
				}
				r = Root{Name: fmt.Sprintf("goroutine %d %s: %s", gid, fnames[key.index], what), Addr: f.SP, Size: f.FP - f.SP}
			}
			r.Kind = RootStack
			r.Goroutine = gid
			pr = &pending{root: r}
			roots[key] = pr
			keys = append(keys, key)
		}
		if w.addr < pr.root.Addr {
			// A word below the root's start (an argument slot of a frame
			// root): widen the root.
			d := pr.root.Addr - w.addr
			for i := range pr.edges {
				pr.edges[i].off += uint32(d)
			}
			pr.root.Size += d
			pr.root.Addr = w.addr
			pr.root.Type = 0
		}
		if w.addr+8 > pr.root.Addr+pr.root.Size {
			pr.root.Size = w.addr + 8 - pr.root.Addr
		}
		pr.edges = append(pr.edges, stackEdge{uint32(w.addr - pr.root.Addr), id, si})
	}

	// Scan: frame slots first, then the stack objects they reach, and the
	// objects those reach, as scanstack does.
	var queue []int
	st := &stackTyper{d: sd, m: m, p: p, objs: objs, groups: groups, findVar: findVar, cur: -1}
	seen := map[uint64]bool{}
	visit := func(w stackWord) {
		if seen[w.addr] {
			return // a callee's argument slot, also in its caller's frame
		}
		seen[w.addr] = true
		v, ok := m.u64(w.addr)
		if !ok || v == 0 {
			return
		}
		if id, si, ok := b.target(v); ok {
			add(w, id, si)
			return
		}
		if oi := findObj(v); oi >= 0 && !objs[oi].reached {
			objs[oi].reached = true
			queue = append(queue, oi)
			if objs[oi].name == "" && v == objs[oi].lo {
				objs[oi].name, objs[oi].typ = st.pointee(w.addr)
			}
		}
	}
	for _, w := range words {
		visit(w)
	}
	for _, w := range conserv {
		visit(w)
	}
	for _, v := range seeds {
		if oi := findObj(v); oi >= 0 && !objs[oi].reached {
			objs[oi].reached = true
			queue = append(queue, oi)
		}
	}
	// A running goroutine's registers, conservatively.
	var regRoot *Root
	var regEdges []stackEdge
	for k, f := range fr {
		if !f.Top || len(f.Regs) == 0 {
			continue
		}
		regRoot = &Root{Kind: RootStack, Name: fmt.Sprintf("goroutine %d %s: (registers)", gid, fnames[k]), Goroutine: gid, Size: uint64(len(f.Regs)) * 8}
		for i, v := range f.Regs {
			if id, si, ok := b.target(v); ok {
				regEdges = append(regEdges, stackEdge{uint32(i * 8), id, si})
			} else if oi := findObj(v); oi >= 0 && !objs[oi].reached {
				objs[oi].reached = true
				queue = append(queue, oi)
			}
		}
	}
	for len(queue) > 0 {
		oi := queue[0]
		queue = queue[1:]
		o := objs[oi]
		st.enter(oi)
		nw := uint64(o.rec.ptrBytes) / 8
		for i := uint64(0); i < nw; i++ {
			if o.rec.mask[i/8]&(1<<(i%8)) != 0 {
				visit(stackWord{o.lo + i*8, o.frame})
			}
		}
	}

	for _, h := range hits {
		root(h.w, h.id, h.span)
	}

	// Emit the roots in address order.
	sort.Slice(keys, func(i, j int) bool {
		a, c := roots[keys[i]].root, roots[keys[j]].root
		if a.Addr != c.Addr {
			return a.Addr < c.Addr
		}
		return a.Name < c.Name
	})
	for _, k := range keys {
		pr := roots[k]
		sort.Slice(pr.edges, func(i, j int) bool { return pr.edges[i].off < pr.edges[j].off })
		b.roots.begin(pr.root)
		for _, e := range pr.edges {
			b.roots.edge(e.off, e.id)
			b.mark(e.id, e.span)
		}
		b.roots.end()
	}
	if regRoot != nil && len(regEdges) > 0 {
		b.roots.begin(*regRoot)
		for _, e := range regEdges {
			b.roots.edge(e.off, e.id)
			b.mark(e.id, e.span)
		}
		b.roots.end()
	}
}

// stackEdge is a pointer from a stack root into the heap.
type stackEdge struct {
	off  uint32
	id   uint32
	span int32
}

// stackObjName names a stack object no DWARF variable covers: by the typed
// pointer that reached it, a closure (its first word is a function's
// entry) by its function, anything else by its size.
func (b *builder) stackObjName(m *mem, p *pcln, o stackObj) string {
	if o.name != "" {
		return o.name
	}
	if p != nil && o.rec.ptrBytes >= 8 {
		// A closure's first word is its function's entry PC, not a pointer
		// the GC mask marks.
		if pc, ok := m.u64(o.lo); ok && pc != 0 && o.rec.mask[0]&1 == 0 {
			if fi := p.find(pc); fi != nil && fi.entry == pc && fi.name != "" {
				return "(closure " + fi.name + ")"
			}
		}
	}
	return fmt.Sprintf("(stack object, %d B)", o.hi-o.lo)
}

// stackTyper names the stack objects typed pointers reach: a variable a
// closure captured by reference ("k" of keep.func1), a field of a typed
// variable or stack object ("k.items"). The type found types the object's
// root, so that the DWARF typer types what it points to.
type stackTyper struct {
	d       *stackDWARF
	m       *mem
	p       *pcln
	objs    []stackObj
	groups  []varGroup
	findVar func(uint64) int
	cur     int // the stack object being scanned, -1 for frame slots
	// closure is the DWARF of the closure being scanned: its captured
	// variables by offset.
	closure []closureVar
}

// closureVar is a variable a closure captured, at its offset in the
// closure.
type closureVar struct {
	name string
	off  uint64
	typ  dwarf.Offset
}

// enter starts scanning stack object oi.
func (st *stackTyper) enter(oi int) {
	st.cur = oi
	st.closure = nil
	o := st.objs[oi]
	if st.p == nil || o.rec.ptrBytes < 8 || o.rec.mask[0]&1 != 0 {
		return
	}
	pc, ok := st.m.u64(o.lo)
	if !ok || pc == 0 {
		return
	}
	if fi := st.p.find(pc); fi != nil && fi.entry == pc {
		st.closure = st.d.closureVars(pc)
	}
}

// pointee names and types the stack object the pointer word at addr points
// to, from the DWARF type of what holds the word. "" if nothing says.
func (st *stackTyper) pointee(addr uint64) (string, dwarf.Offset) {
	if st.cur < 0 {
		gi := st.findVar(addr)
		if gi < 0 || st.groups[gi].typ == 0 {
			return "", 0
		}
		g := st.groups[gi]
		return st.d.ptrField(g.name, g.typ, addr-g.addr)
	}
	o := st.objs[st.cur]
	off := addr - o.lo
	for _, cv := range st.closure {
		if cv.off == off {
			// Captured by reference ("&k"), the closure holds a *T.
			return st.d.ptrField(strings.TrimPrefix(cv.name, "&"), cv.typ, 0)
		}
	}
	if o.typ != 0 && o.name != "" {
		return st.d.ptrField(o.name, o.typ, off)
	}
	return "", 0
}

// stackDWARF reads the DWARF entries stack naming needs, caching what it
// read for one Build.
type stackDWARF struct {
	dw          *dwarf.Data
	bias        uint64
	subprograms map[uint64]dwarf.Offset // by run-time entry PC
	sizes       map[dwarf.Offset]int64
}

func (d *stackDWARF) entry(off dwarf.Offset) (*dwarf.Entry, *dwarf.Reader) {
	r := d.dw.Reader()
	r.Seek(off)
	e, err := r.Next()
	if err != nil || e == nil {
		return nil, nil
	}
	return e, r
}

func (d *stackDWARF) size(off dwarf.Offset) int64 {
	if s, ok := d.sizes[off]; ok {
		return s
	}
	s := int64(-1)
	if t, err := d.dw.Type(off); err == nil {
		s = t.Size()
	}
	d.sizes[off] = s
	return s
}

// ptrField finds the pointer at offset off of a value of the type at typ
// named name and returns what it points to: its name (name itself for a
// pointer type, name.field for a field) and DWARF type.
func (d *stackDWARF) ptrField(name string, typ dwarf.Offset, off uint64) (string, dwarf.Offset) {
	for depth := 0; depth < 16 && typ != 0; depth++ {
		e, r := d.entry(typ)
		if e == nil {
			return "", 0
		}
		switch e.Tag {
		case dwarf.TagTypedef:
			typ, _ = e.Val(dwarf.AttrType).(dwarf.Offset)
			continue
		case dwarf.TagPointerType:
			elem, _ := e.Val(dwarf.AttrType).(dwarf.Offset)
			if off != 0 || elem == 0 {
				return "", 0
			}
			return name, elem
		case dwarf.TagStructType:
			found := false
			for e.Children {
				f, err := r.Next()
				if err != nil || f == nil || f.Tag == 0 {
					break
				}
				if f.Tag != dwarf.TagMember {
					continue
				}
				fo, _ := f.Val(dwarf.AttrDataMemberLoc).(int64)
				ft, _ := f.Val(dwarf.AttrType).(dwarf.Offset)
				fn, _ := f.Val(dwarf.AttrName).(string)
				if fs := d.size(ft); fo <= int64(off) && int64(off) < fo+fs {
					name, typ, off = name+"."+fn, ft, off-uint64(fo)
					found = true
					break
				}
			}
			if !found {
				return "", 0
			}
			continue
		}
		return "", 0
	}
	return "", 0
}

// closureVars returns the captured variables of the closure function
// whose entry is pc, from its DWARF subprogram.
func (d *stackDWARF) closureVars(pc uint64) []closureVar {
	if d.subprograms == nil {
		d.subprograms = map[uint64]dwarf.Offset{}
		r := d.dw.Reader()
		for {
			e, err := r.Next()
			if err != nil || e == nil {
				break
			}
			if e.Tag == dwarf.TagCompileUnit {
				continue
			}
			if e.Tag == dwarf.TagSubprogram {
				if lo, ok := e.Val(dwarf.AttrLowpc).(uint64); ok {
					d.subprograms[lo+d.bias] = e.Offset
				}
			}
			if e.Children {
				r.SkipChildren()
			}
		}
	}
	off, ok := d.subprograms[pc]
	if !ok {
		return nil
	}
	e, r := d.entry(off)
	if e == nil || !e.Children {
		return nil
	}
	var out []closureVar
	for {
		e, err := r.Next()
		if err != nil || e == nil || e.Tag == 0 {
			break
		}
		if e.Tag == dwarf.TagVariable {
			name, _ := e.Val(dwarf.AttrName).(string)
			typ, _ := e.Val(dwarf.AttrType).(dwarf.Offset)
			if co, ok := e.Val(attrGoClosureOffset).(int64); ok && name != "" && typ != 0 {
				out = append(out, closureVar{name, uint64(co), typ})
			}
		}
		if e.Children {
			r.SkipChildren()
		}
	}
	return out
}

// gInfo is a goroutine's g and its stack bounds [lo, hi).
type gInfo struct{ g, lo, hi uint64 }

// goroutineStacks reads each goroutine's g and stack bounds from the
// runtime's allgs, by goroutine ID.
func goroutineStacks(m *mem, x *exe, sl *stackLayout) map[int64]gInfo {
	out := map[int64]gInfo{}
	a, ok := x.sym("runtime.allgs")
	if !ok {
		return out
	}
	ptr, n := m.word(a), m.word(a+8)
	if n > 1<<24 {
		return out
	}
	for i := uint64(0); i < n; i++ {
		g := m.word(ptr + i*8)
		if g == 0 {
			continue
		}
		id, ok1 := m.u64(g + uint64(sl.gGoid))
		lo, ok2 := m.u64(g + uint64(sl.gStackLo))
		hi, ok3 := m.u64(g + uint64(sl.gStackHi))
		if ok1 && ok2 && ok3 && lo < hi {
			out[int64(id)] = gInfo{g, lo, hi}
		}
	}
	return out
}

// gSeeds returns the pointers into a goroutine's stack that scanstack
// (runtime/mgcmark.go) follows besides its frames: the saved closure
// context, each defer record and its function (stack-allocated defer
// records and closures are stack objects), and the innermost panic.
func gSeeds(m *mem, sl *stackLayout, gi gInfo) []uint64 {
	var out []uint64
	add := func(v uint64) {
		if v >= gi.lo && v < gi.hi {
			out = append(out, v)
		}
	}
	add(m.word(gi.g + uint64(sl.gCtxt)))
	add(m.word(gi.g + uint64(sl.gPanic)))
	d := m.word(gi.g + uint64(sl.gDefer))
	for n := 0; d != 0 && n < 1<<16; n++ {
		add(d)
		add(m.word(d + uint64(sl.deferFn)))
		d = m.word(d + uint64(sl.deferLink))
	}
	return out
}
