package heapgraph

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// builder holds one Build's state.
type builder struct {
	in    *Input
	x     *exe
	l     *layout
	spans *spans
	types *rtypes
	sc    *scanner // the single-threaded scanner, decoding types
	ty    *typer   // the DWARF typer; nil without DWARF types

	marked    []uint64 // reachable bit per slot
	spanEdges []int64  // pointers found in each span's reachable objects
	stack     []markItem
	roots     rootSet
	notes     []string

	unscanned      int
	firstUnscanned uint64
}

type markItem struct {
	span int32
	id   uint32
}

// Build rebuilds the object graph of the heap in in.Mem, the way the
// garbage collector would mark it now.
//
// The graph holds the reachable objects only: allocated slots of in-use
// spans reached from the roots (package variables, in.Stack, in.StackRanges,
// finalizers, cleanups and weak handles). Unreachable allocated objects,
// garbage not yet swept, are counted in Stats.Allocated and left out, which
// makes a target stopped mid-GC or mid-sweep read right. An object's Addr
// is the start of its slot and Size the slot's size (the size class, or the
// whole span for large objects), the malloc header included: pointers into
// a slot, interior ones too, are edges to that object.
//
// Objects with a malloc header or a large span are typed by their runtime
// type ("main.session"; "[]main.session (backing array)" when the slot
// holds several); the DWARF typer types the rest where it can.
//
// Pointers are found exactly as the collector finds them (heap bits, malloc
// headers, large types, data and bss GC masks, and, given in.Frames, the
// stack maps of each frame) except in these roots, scanned word by word (a
// word that holds an address in an allocated slot counts): frames without
// stack maps or stopped at no safe point, the stack variables and ranges of
// in when it has no Frames, cleanups, weak handles, and queued finalizers
// and cleanups. Build
// never fails on a damaged or inconsistent image by panicking: it returns
// an error, or a graph whose Stats.Notes say what could not be read.
func Build(ctx context.Context, in *Input) (*Graph, error) {
	if in == nil || in.Mem == nil {
		return nil, errors.New("build heap graph: no memory image")
	}
	if in.Exe == "" {
		return nil, errors.New("build heap graph: no executable")
	}
	x, err := openExe(in.Exe, in.Bias)
	if err != nil {
		return nil, fmt.Errorf("build heap graph: %w", err)
	}
	defer x.close()
	l, err := readLayout(x.dw)
	if err != nil {
		return nil, fmt.Errorf("build heap graph: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("build heap graph: %w", err)
	}
	b := &builder{in: in, x: x, l: l}
	g, err := b.safeBuild(ctx)
	if err != nil {
		return nil, fmt.Errorf("build heap graph: %w", err)
	}
	return g, nil
}

// errInconsistent reports memory that contradicts itself: the runtime's
// structures point outside what they describe.
var errInconsistent = errors.New("the memory image is inconsistent (a damaged core, or a copy of a process that was not stopped?)")

// safeBuild turns an out-of-range read on inconsistent memory into an
// error: Build reads structures from a copy of another process, which may
// be damaged.
func (b *builder) safeBuild(ctx context.Context) (g *Graph, err error) {
	defer func() {
		if r := recover(); r != nil {
			g, err = nil, fmt.Errorf("%w: %v%s", errInconsistent, r, panicSite())
		}
	}()
	return b.build(ctx)
}

func (b *builder) build(ctx context.Context) (*Graph, error) {
	x, l := b.x, b.l
	m := mem{img: b.in.Mem, x: x}
	mheap, ok1 := x.sym("runtime.mheap_")
	first, ok2 := x.sym("runtime.firstmoduledata")
	if !ok1 || !ok2 {
		return nil, errors.New("runtime.mheap_ or runtime.firstmoduledata not in the executable's symbol table: not a Go program?")
	}
	secs, mods, err := moduleSections(&m, l, first)
	if err != nil {
		return nil, err
	}
	s, err := readSpans(&m, l, mheap)
	if err != nil {
		return nil, err
	}
	b.spans = s
	b.notes = append(b.notes, s.notes...)
	b.notes = append(b.notes, gcState(&m, x)...)
	inProgress, _ := x.sym("runtime.inProgress")
	b.types = newRTypes(l, mods, inProgress)
	for _, np := range s.npages {
		b.types.maxSize = max(b.types.maxSize, uint64(np)*pageSize)
	}
	b.sc = &scanner{s: s, t: b.types, m: m, inline: uint64(l.inlineMarkBits), decode: true}
	b.marked = make([]uint64, len(s.alloc))
	b.spanEdges = make([]int64, len(s.base))

	// The DWARF typer names package variables; without it, the symbol
	// table does (names without types).
	ty, err := newTyper(b.in)
	b.ty = ty
	var vars []namedVar
	if err != nil {
		b.notes = append(b.notes, fmt.Sprintf("objects typed by their runtime type only: %v", err))
		vars = symbolGlobals(x)
	} else {
		for _, v := range ty.globals() {
			vars = append(vars, namedVar{Name: v.Name, Addr: v.Addr, Size: v.Size, Type: v.Type})
		}
		vars = mergeVars(vars, symbolGlobals(x))
		inData := func(a uint64) bool {
			for _, s := range secs {
				if a >= s.lo && a < s.hi {
					return true
				}
			}
			return false
		}
		vars = withStatics(vars, ty.statics(m.bytes, inData, vars))
	}

	// Roots, marking what they point to.
	b.dataRoots(secs, vars)
	b.stackRoots(b.in)
	b.specialRoots()
	b.queueRoots()
	b.roots.end()
	if err := b.drain(ctx); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	g, err := b.graph(ctx)
	if err != nil {
		return nil, err
	}
	if ty != nil {
		runTyper(ty, g, b.in.Mem)
	}
	for _, t := range g.Type {
		if t != NoType {
			g.Stats.Typed++
		}
	}
	return g, nil
}

// target returns the allocated slot v points into.
func (b *builder) target(v uint64) (id uint32, span int32, ok bool) {
	span, id, ok = b.spans.find(v)
	if !ok || !b.spans.allocated(id) {
		return 0, 0, false
	}
	return id, span, true
}

// mark marks a slot reachable and queues it for scanning.
func (b *builder) mark(id uint32, span int32) {
	w, bit := id/64, uint64(1)<<(id%64)
	if b.marked[w]&bit != 0 {
		return
	}
	b.marked[w] |= bit
	b.stack = append(b.stack, markItem{span, id})
}

// drain marks everything reachable from the queued slots.
func (b *builder) drain(ctx context.Context) error {
	s := b.spans
	n := 0
	for len(b.stack) > 0 {
		it := b.stack[len(b.stack)-1]
		b.stack = b.stack[:len(b.stack)-1]
		if n++; n&0xffff == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		j := it.id - s.firstSlot[it.span]
		for from := uint64(0); ; {
			data, offs, res, resume := b.sc.pointers(it.span, j, from)
			if res == scanNoMemory || res == scanNoType {
				if b.unscanned == 0 {
					b.firstUnscanned = s.base[it.span] + uint64(j)*s.elemsize[it.span]
				}
				b.unscanned++
				break
			}
			cnt := int64(0)
			for _, o := range offs {
				v := binary.LittleEndian.Uint64(data[o:])
				if v == 0 {
					continue
				}
				if id, si, ok := b.target(v); ok {
					b.mark(id, si)
					cnt++
				}
			}
			b.spanEdges[it.span] += cnt
			if from = resume; from == 0 {
				break
			}
		}
	}
	return nil
}

// graph numbers the marked slots in address order and collects their
// pointers, in parallel over ranges of spans.
func (b *builder) graph(ctx context.Context) (*Graph, error) {
	s := b.spans
	// rank[w] is the number of marked slots before word w.
	rank := make([]uint32, len(b.marked)+1)
	for w, bitsw := range b.marked {
		rank[w+1] = rank[w] + uint32(bits.OnesCount64(bitsw))
	}
	n := int(rank[len(b.marked)])
	index := func(id uint32) int32 {
		w := id / 64
		return int32(rank[w] + uint32(bits.OnesCount64(b.marked[w]&(1<<(id%64)-1))))
	}
	g := &Graph{
		Addr: make([]uint64, n),
		Size: make([]uint64, n),
		Type: make([]TypeID, n),
		Out:  make([]int64, n+1),
	}

	// Split the spans into chunks of about equal numbers of objects. Each
	// chunk knows where its objects' pointers go in To and Off: marking
	// counted them per span.
	var total int64
	for _, e := range b.spanEdges {
		total += e
	}
	g.To = make([]int32, total)
	g.Off = make([]uint32, total)
	workers := runtime.GOMAXPROCS(0)
	nchunks := workers * 8
	type chunk struct {
		lo, hi     int   // spans
		start, end int64 // edges
		bytes      uint64
		err        error
	}
	var chunks []*chunk
	per := n/nchunks + 1
	lo, edges := 0, int64(0)
	for si := range s.base {
		end := uint32(s.slots)
		if si+1 < len(s.base) {
			end = s.firstSlot[si+1]
		}
		if int(rankAt(rank, b.marked, end))-int(rankAt(rank, b.marked, s.firstSlot[lo])) >= per || si+1 == len(s.base) {
			c := &chunk{lo: lo, hi: si + 1, start: edges}
			for k := lo; k <= si; k++ {
				edges += b.spanEdges[k]
			}
			c.end = edges
			chunks = append(chunks, c)
			lo = si + 1
		}
	}
	var wg sync.WaitGroup
	next := make(chan *chunk, len(chunks))
	for _, c := range chunks {
		next <- c
	}
	close(next)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := &scanner{s: s, t: b.types, m: mem{img: b.in.Mem, x: b.x}, inline: b.sc.inline}
			var cur *chunk
			defer func() {
				if r := recover(); r != nil && cur != nil {
					cur.err = fmt.Errorf("%w: %v%s", errInconsistent, r, panicSite())
				}
			}()
			for c := range next {
				cur = c
				if err := ctx.Err(); err != nil {
					c.err = err
					continue
				}
				pos := c.start
				for si := c.lo; si < c.hi; si++ {
					es := s.elemsize[si]
					first := s.firstSlot[si]
					for j := uint32(0); j < s.nelems[si]; j++ {
						id := first + j
						if b.marked[id/64]&(1<<(id%64)) == 0 {
							continue
						}
						i := index(id)
						g.Addr[i] = s.base[si] + uint64(j)*es
						g.Size[i] = es
						c.bytes += es
						if rt := sc.typeOf(int32(si), j); rt != nil && rt.ok {
							hdr := uint64(0)
							if s.kind[si] == spanHeader {
								hdr = 8
							}
							if es-hdr >= 2*rt.size {
								g.Type[i] = rt.arrayID
							} else {
								g.Type[i] = rt.id
							}
						}
						for from := uint64(0); ; {
							data, offs, _, resume := sc.pointers(int32(si), j, from)
							for _, o := range offs {
								v := binary.LittleEndian.Uint64(data[o:])
								if v == 0 {
									continue
								}
								tid, _, ok := b.target(v)
								if !ok {
									continue
								}
								g.To[pos] = index(tid)
								g.Off[pos] = o
								pos++
							}
							if from = resume; from == 0 {
								break
							}
						}
						g.Out[i+1] = pos
					}
				}
				if pos != c.end {
					c.err = fmt.Errorf("%w: the pointers of spans %d to %d changed between two reads", errInconsistent, c.lo, c.hi)
				}
			}
		}()
	}
	wg.Wait()
	for _, c := range chunks {
		if c.err != nil {
			return nil, c.err
		}
		g.Stats.ReachableBytes += c.bytes
	}
	// Roots.
	g.Roots = b.roots.roots
	g.RootOut = b.roots.out
	if len(g.RootOut) == 0 {
		g.RootOut = []int64{0}
	}
	g.RootTo = make([]int32, len(b.roots.to))
	for i, id := range b.roots.to {
		g.RootTo[i] = index(id)
	}
	g.RootOff = b.roots.off
	if len(b.roots.prefix) > 0 {
		g.rootPrefix = make([]string, len(g.Roots))
		for i, p := range b.roots.prefix {
			g.rootPrefix[i] = p
		}
	}
	g.Types = b.types.types

	g.Stats.Spans = len(s.base)
	g.Stats.Allocated = countBits(s.alloc)
	g.Stats.AllocatedBytes = s.allocatedBytes
	g.Stats.Reachable = n
	g.Stats.UnscannedObjects = b.unscanned
	if b.unscanned > 0 {
		b.notes = append(b.notes, fmt.Sprintf("%d reachable objects had no readable pointer layout (the first at %#x): their pointers were not followed", b.unscanned, b.firstUnscanned))
	}
	g.Stats.Notes = b.notes
	return g, nil
}

// rankAt is the number of marked slots before slot id.
func rankAt(rank []uint32, marked []uint64, id uint32) uint32 {
	w := id / 64
	if int(w) >= len(marked) {
		return rank[len(marked)]
	}
	return rank[w] + uint32(bits.OnesCount64(marked[w]&(1<<(id%64)-1)))
}

// gcState says whether the process was stopped while the garbage
// collector marked. (Marking is redone here from the roots, so a target
// stopped mid-GC reads right.)
func gcState(m *mem, x *exe) []string {
	var notes []string
	if a, ok := x.sym("runtime.gcphase"); ok {
		if phase, ok := m.uint(a, 4); ok && phase != 0 {
			notes = append(notes, "the process was stopped during a garbage collection's mark phase")
		}
	}
	return notes
}

// panicSite names the line of this package where a recovered panic began,
// for the error message.
func panicSite() string {
	pcs := make([]uintptr, 32)
	n := runtime.Callers(3, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if strings.Contains(f.Function, "/heapgraph.") && !strings.Contains(f.Function, "panicSite") {
			return fmt.Sprintf(" (at %s:%d)", filepath.Base(f.File), f.Line)
		}
		if !more {
			return ""
		}
	}
}

// runTyper types the graph's objects; a failure there loses types, not the
// graph.
func runTyper(ty *typer, g *Graph, mem *Image) {
	types := len(g.Types)
	defer func() {
		if r := recover(); r != nil {
			g.Stats.Notes = append(g.Stats.Notes, fmt.Sprintf("DWARF typing stopped on inconsistent data: %v%s", r, panicSite()))
			g.labeler = nil
			// Keep the types Build found; drop what typing half did.
			g.Types = g.Types[:types]
			for i, t := range g.Type {
				if int(t) >= types {
					g.Type[i] = NoType
				}
			}
		}
	}()
	ty.run(g, mem)
}
