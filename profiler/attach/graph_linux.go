//go:build linux && amd64

package attach

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/leakhunt/leakhunt/profiler/heapgraph"
	"github.com/leakhunt/leakhunt/profiler/procfs"
	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

// The heap's geometry on linux/amd64 (runtime/malloc.go): 64 MiB arenas of
// 8 KiB pages, indexed from arenaBaseOffset, in a single-level arena map.
const (
	heapArenaBytes  = 64 << 20
	pageSize        = 8192
	pagesPerArena   = heapArenaBytes / pageSize
	arenaBaseOffset = 0xffff800000000000
	mSpanInUse      = 1
	// maxArenas bounds the arenas a capture reads (4 TiB of heap).
	maxArenas = 1 << 16
)

// arenaBase returns the address of heap arena idx.
func arenaBase(idx uint64) uint64 { return idx*heapArenaBytes + arenaBaseOffset }

// graphLayout holds the offsets of the runtime structures a heap capture
// follows while the target is stopped, read from DWARF beforehand.
type graphLayout struct {
	mheap                            uint64 // address of runtime.mheap_
	heapArenas, arenas               int64  // mheap fields
	haSpans, haPageInUse             int64  // heapArena fields
	spanStart, spanNpages, spanState int64  // mspan fields
	gGoid                            int64
}

// readGraphLayout reads t's graph layout from its symbols and DWARF.
func readGraphLayout(t *target) (*graphLayout, error) {
	gl := &graphLayout{mheap: t.l.sym["runtime.mheap_"]}
	if gl.mheap == 0 {
		return nil, errors.New("symbol runtime.mheap_ missing from the binary")
	}
	var errs []error
	field := func(typ, path string) int64 {
		st, err := structType(t.bi, typ)
		if err != nil {
			errs = append(errs, err)
			return 0
		}
		off, err := fieldOffset(st, path)
		if err != nil {
			errs = append(errs, err)
		}
		return off
	}
	// Go 1.26 split mheap.allArenas into heapArenas and userArenaArenas.
	if mh, err := structType(t.bi, "runtime.mheap"); err == nil {
		if _, err := fieldOffset(mh, "heapArenas"); err != nil {
			gl.heapArenas = field("runtime.mheap", "allArenas")
		} else {
			gl.heapArenas = field("runtime.mheap", "heapArenas")
		}
	} else {
		errs = append(errs, err)
	}
	gl.arenas = field("runtime.mheap", "arenas")
	gl.haSpans = field("runtime.heapArena", "spans")
	gl.haPageInUse = field("runtime.heapArena", "pageInUse")
	gl.spanStart = field("runtime.mspan", "startAddr")
	gl.spanNpages = field("runtime.mspan", "npages")
	gl.spanState = field("runtime.mspan", "state")
	gl.gGoid = field("runtime.g", "goid")
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return gl, nil
}

// arenaRun is a stretch of consecutive heap arenas and the buffer that
// receives their copy. Pages that are not copied stay zero and, in a fresh
// allocation, cost no memory.
type arenaRun struct {
	lo, hi uint64 // arena indexes [lo, hi)
	buf    []byte
}

func (r *arenaRun) base() uint64 { return arenaBase(r.lo) }
func (r *arenaRun) end() uint64  { return arenaBase(r.hi) }

// arenaRuns groups arena indexes into runs of consecutive ones.
func arenaRuns(idx []uint64) []*arenaRun {
	idx = append([]uint64(nil), idx...)
	sort.Slice(idx, func(i, j int) bool { return idx[i] < idx[j] })
	var runs []*arenaRun
	for _, i := range idx {
		if n := len(runs); n > 0 && runs[n-1].hi >= i {
			runs[n-1].hi = max(runs[n-1].hi, i+1)
			continue
		}
		runs = append(runs, &arenaRun{lo: i, hi: i + 1})
	}
	return runs
}

// heapArenaIndexes reads mheap_.heapArenas through read.
func heapArenaIndexes(gl *graphLayout, read func(addr, n uint64) []byte) []uint64 {
	hdr := read(gl.mheap+uint64(gl.heapArenas), 16)
	if hdr == nil {
		return nil
	}
	ptr, n := le.Uint64(hdr), le.Uint64(hdr[8:])
	if ptr == 0 || n == 0 || n > maxArenas {
		return nil
	}
	b := read(ptr, n*8)
	if b == nil {
		return nil
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = le.Uint64(b[i*8:])
	}
	return out
}

// readRemote reads n bytes of the process at addr; nil if it cannot.
func readRemote(pid int, addr, n uint64) []byte {
	if n == 0 || n > 1<<30 {
		return nil
	}
	rs := readSpans(pid, []span{{addr, n}})
	if len(rs) != 1 || uint64(len(rs[0].data)) != n {
		return nil
	}
	return rs[0].data
}

// graphCopy is what a heap-graph capture copied out of the stopped process.
type graphCopy struct {
	mc               *memCopy           // data, bss, gs, stacks, threads: as for a snapshot
	offHeap          []region           // the runtime's off-heap memory (span and arena metadata)
	heap             []heapgraph.Region // the in-use spans of the heap arenas
	spans            int                // in-use spans found
	runs             []*arenaRun
	bytes            uint64
	notes            []string
	stopped, copying time.Duration
}

// iov is one read: the remote range [addr, addr+len(dst)) into dst.
type iov struct {
	addr uint64
	dst  []byte
}

// readInto copies the remote ranges into their buffers with as few
// process_vm_readv calls as possible (iovMax ranges each). A range that
// cannot be read completely is left partly or wholly unread (zeros); it
// returns the bytes read and the number of ranges cut short.
func readInto(pid int, iovs []iov) (read uint64, short int) {
	local := make([]unix.Iovec, 0, iovMax)
	remote := make([]unix.RemoteIovec, 0, iovMax)
	for i := 0; i < len(iovs); {
		n := min(iovMax, len(iovs)-i)
		local, remote = local[:0], remote[:0]
		for _, v := range iovs[i : i+n] {
			local = append(local, unix.Iovec{Base: &v.dst[0], Len: uint64(len(v.dst))})
			remote = append(remote, unix.RemoteIovec{Base: uintptr(v.addr), Len: len(v.dst)})
		}
		done, err := unix.ProcessVMReadv(pid, local, remote, 0)
		if err != nil || done < 0 {
			done = 0
		}
		read += uint64(done)
		j := i
		for ; j < i+n; j++ {
			size := len(iovs[j].dst)
			if done >= size {
				done -= size
				continue
			}
			short++
			j++ // the kernel stops at the first fault: go on after it
			break
		}
		i = j
	}
	return read, short
}

// readParallel is readInto on all CPUs: while the target is stopped they
// have nothing else to do, and one copying thread does not saturate memory.
func readParallel(pid int, iovs []iov) (read uint64, short int) {
	var total uint64
	for _, v := range iovs {
		total += uint64(len(v.dst))
	}
	workers := min(runtime.NumCPU(), 8)
	if workers < 2 || total < 64<<20 {
		return readInto(pid, iovs)
	}
	// Cut the list into parts of about equal bytes, splitting big ranges.
	per := total/uint64(workers) + 1
	parts := make([][]iov, 0, workers)
	var cur []iov
	var n uint64
	for _, v := range iovs {
		for len(v.dst) > 0 {
			take := min(uint64(len(v.dst)), per-n)
			cur = append(cur, iov{v.addr, v.dst[:take]})
			v = iov{v.addr + take, v.dst[take:]}
			if n += take; n >= per {
				parts = append(parts, cur)
				cur, n = nil, 0
			}
		}
	}
	if len(cur) > 0 {
		parts = append(parts, cur)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, part := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, s := readInto(pid, part)
			mu.Lock()
			read += r
			short += s
			mu.Unlock()
		}()
	}
	wg.Wait()
	return read, short
}

// pagemapPresent reads /proc/PID/pagemap for [lo, hi) (4 KiB pages) and
// returns a bitmap-like slice: present[i] tells whether page i holds data
// (present in memory or swapped out).
func pagemapPresent(f *os.File, lo, hi uint64, scratch *[]byte) ([]bool, error) {
	n := (hi - lo) / 4096
	if uint64(cap(*scratch)) < n*8 {
		*scratch = make([]byte, n*8)
	}
	buf := (*scratch)[:n*8]
	if _, err := f.ReadAt(buf, int64(lo/4096*8)); err != nil {
		return nil, err
	}
	out := make([]bool, n)
	for i := range out {
		out[i] = le.Uint64(buf[i*8:])&(1<<63|1<<62) != 0
	}
	return out, nil
}

// appendPresent appends reads of the pages of [addr, addr+len(buf)) that
// hold data into buf. present tells that of each 4 KiB page from base on;
// nil means all of them.
func appendPresent(iovs []iov, present []bool, base, addr uint64, buf []byte) []iov {
	if present == nil {
		return append(iovs, iov{addr, buf})
	}
	end := addr + uint64(len(buf))
	for p := addr &^ 4095; p < end; {
		if !present[(p-base)/4096] {
			p += 4096
			continue
		}
		q := p + 4096
		for q < end && present[(q-base)/4096] {
			q += 4096
		}
		a, b := max(p, addr), min(q, end)
		iovs = append(iovs, iov{a, buf[a-addr : b-addr]})
		p = q
	}
	return iovs
}

// offHeapSpans lists the process's private anonymous read-write memory
// outside the heap arenas and the executable: where the runtime keeps its
// metadata (spans, heap arenas, GC bits, itabs, finalizer records).
func offHeapSpans(maps []mapping, runs []*arenaRun, l *layout) []span {
	var skip []span
	for _, r := range runs {
		skip = append(skip, span{r.base(), r.end() - r.base()})
	}
	skip = append(skip, l.writable...)
	sort.Slice(skip, func(i, j int) bool { return skip[i].addr < skip[j].addr })
	var out []span
	for _, m := range maps {
		if len(m.perms) < 4 || m.perms[0] != 'r' || m.perms[1] != 'w' || m.perms[3] != 'p' {
			continue
		}
		if m.path != "" && !strings.HasPrefix(m.path, "[anon") {
			continue
		}
		lo := m.start
		for _, s := range skip {
			if s.addr+s.size <= lo || s.addr >= m.end {
				continue
			}
			if s.addr > lo {
				out = append(out, span{lo, s.addr - lo})
			}
			lo = max(lo, s.addr+s.size)
		}
		if lo < m.end {
			out = append(out, span{lo, m.end - lo})
		}
	}
	return out
}

// copyGraph stops the process, copies what the heap walk needs and releases
// it. The release runs on every path: error, cancellation, panic.
func copyGraph(ctx context.Context, t *target, gl *graphLayout, opts Options) (gc *graphCopy, err error) {
	defer lockThread()()
	maps, err := readMaps(t.pid)
	if err != nil {
		return nil, fmt.Errorf("process %d: %w", t.pid, ErrExited)
	}
	// Buffers for the heap arenas, allocated while the process runs.
	pre := heapArenaIndexes(gl, func(a, n uint64) []byte { return readRemote(t.pid, a, n) })
	runs := arenaRuns(pre)
	var arenaBytes uint64
	for _, r := range runs {
		arenaBytes += r.end() - r.base()
	}
	if total := memTotal(); total > 0 && arenaBytes > total {
		return nil, fmt.Errorf("process %d has %d GiB of heap arenas, more than this machine's memory (%d GiB): its heap cannot be copied here; write a core with `leakhunt core %d` and analyse it on a bigger machine", t.pid, arenaBytes>>30, total>>30, t.pid)
	}
	for _, r := range runs {
		r.buf = make([]byte, r.end()-r.base())
	}
	prefault(t.pid, runs)
	offBufs := map[span][]byte{}
	for _, sp := range offHeapSpans(maps, runs, t.l) {
		offBufs[sp] = make([]byte, sp.size)
	}
	pagemap, err := os.Open(fmt.Sprintf("/proc/%d/pagemap", t.pid))
	if err != nil {
		return nil, fmt.Errorf("open the page map of process %d: %w", t.pid, err)
	}
	defer pagemap.Close()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))

	gc = &graphCopy{}
	begin := time.Now()
	st, err := stop(ctx, t.pid)
	if err != nil {
		return nil, err
	}
	defer func() {
		st.detach()
		gc.stopped = time.Since(begin)
	}()
	stopped := time.Now()
	if m, err := readMaps(t.pid); err == nil {
		maps = m
	}
	mc := copyRuntime(st, t.l, maps, false)
	mc.exe, mc.auxv = t.exe, t.auxv
	gc.mc = mc
	gc.bytes = mc.bytes
	word := func(addr uint64) uint64 { return u64(lookup(mc.regions, addr, 8), 0) }

	// The arenas as they are now; arenas added since the buffers were
	// allocated get buffers of their own.
	idx := heapArenaIndexes(gl, func(a, n uint64) []byte {
		if b := lookup(mc.regions, a, int(n)); b != nil {
			return b
		}
		return readRemote(t.pid, a, n)
	})
	if len(idx) == 0 {
		return gc, errors.New("found no heap arenas (runtime.mheap_.heapArenas is empty)")
	}
	sort.Slice(idx, func(i, j int) bool { return idx[i] < idx[j] })
	var fresh []uint64
	for _, i := range idx {
		if !inRuns(runs, arenaBase(i)) {
			fresh = append(fresh, i)
		}
	}
	for _, r := range arenaRuns(fresh) {
		r.buf = make([]byte, r.end()-r.base())
		runs = append(runs, r)
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].lo < runs[j].lo })
	gc.runs = runs

	// The runtime's metadata: every private anonymous mapping outside the
	// arenas, the pages it wrote (the others are zeros).
	var offIovs []iov
	var pmbuf []byte
	for _, sp := range offHeapSpans(maps, runs, t.l) {
		buf := offBufs[sp]
		if buf == nil {
			buf = make([]byte, sp.size)
		}
		gc.offHeap = append(gc.offHeap, region{sp.addr, buf})
		lo := sp.addr &^ 4095
		present, _ := pagemapPresent(pagemap, lo, (sp.addr+sp.size+4095)&^4095, &pmbuf)
		offIovs = appendPresent(offIovs, present, lo, sp.addr, buf)
	}
	read, short := readInto(t.pid, offIovs)
	gc.bytes += read
	meta := heapgraph.NewImage(toRegions(gc.offHeap, mc.regions))

	// The in-use spans, from each arena's page-in-use bitmap and span map.
	l2 := word(gl.mheap + uint64(gl.arenas))
	if l2 == 0 {
		return gc, errors.New("runtime.mheap_.arenas[0] is nil")
	}
	type run struct{ lo, hi uint64 }
	var inuse []run
	var missing int
	for _, i := range idx {
		ha, ok := meta.Uint64(l2 + i*8)
		if !ok || ha == 0 {
			missing++
			continue
		}
		bits := meta.Bytes(ha+uint64(gl.haPageInUse), pagesPerArena/8)
		spans := meta.Bytes(ha+uint64(gl.haSpans), pagesPerArena*8)
		if bits == nil || spans == nil {
			missing++
			continue
		}
		base := arenaBase(i)
		for p := 0; p < pagesPerArena; p++ {
			if bits[p/8] == 0 {
				p += 7
				continue
			}
			if bits[p/8]&(1<<(p%8)) == 0 {
				continue
			}
			s := le.Uint64(spans[p*8:])
			hdr := meta.Bytes(s, uint64(max(gl.spanStart, gl.spanNpages, gl.spanState)+8))
			if hdr == nil {
				missing++
				continue
			}
			start, npages := u64(hdr, gl.spanStart), u64(hdr, gl.spanNpages)
			if hdr[gl.spanState] != mSpanInUse || start != base+uint64(p)*pageSize || npages == 0 || npages > pagesPerArena*maxArenas {
				continue
			}
			gc.spans++
			end := start + npages*pageSize
			if n := len(inuse); n > 0 && inuse[n-1].hi == start {
				inuse[n-1].hi = end
			} else {
				inuse = append(inuse, run{start, end})
			}
		}
	}
	if missing > 0 {
		gc.notes = append(gc.notes, fmt.Sprintf("%d heap arenas or spans had unreadable metadata and were skipped", missing))
	}

	// Copy the present pages of the in-use spans into the arena buffers.
	var iovs []iov
	for _, ru := range runs {
		lo, hi := ru.base(), ru.end()
		present, _ := pagemapPresent(pagemap, lo, hi, &pmbuf)
		for _, u := range inuse {
			a, b := max(u.lo, lo), min(u.hi, hi)
			if a >= b {
				continue
			}
			gc.heap = append(gc.heap, heapgraph.Region{Addr: a, Data: ru.buf[a-lo : b-lo : b-lo]})
			iovs = appendPresent(iovs, present, lo, a, ru.buf[a-lo:b-lo])
		}
	}
	read, short2 := readParallel(t.pid, iovs)
	gc.bytes += read
	if short += short2; short > 0 {
		gc.notes = append(gc.notes, fmt.Sprintf("%d stretches of the heap could not be read and are zero in the copy", short))
	}
	gc.copying = time.Since(stopped)
	if opts.whileStopped != nil {
		opts.whileStopped(ctx)
	}
	return gc, ctx.Err()
}

// prefault touches the arena buffers where the process's heap pages are now
// present, so that the copy while it is stopped does not also pay for
// faulting in fresh pages of ours.
func prefault(pid int, runs []*arenaRun) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/pagemap", pid))
	if err != nil {
		return
	}
	defer f.Close()
	var scratch []byte
	for _, r := range runs {
		present, err := pagemapPresent(f, r.base(), r.end(), &scratch)
		if err != nil {
			continue
		}
		for i := 0; i < len(present); {
			if !present[i] {
				i++
				continue
			}
			j := i
			for j < len(present) && present[j] {
				j++
			}
			b := r.buf[i*4096 : j*4096]
			if unix.Madvise(b, unix.MADV_POPULATE_WRITE) != nil {
				for k := 0; k < len(b); k += 4096 {
					b[k] = 0
				}
			}
			i = j
		}
	}
}

// memTotal returns the machine's memory (MemTotal), 0 if unknown.
func memTotal() uint64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			var kb uint64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb << 10
		}
	}
	return 0
}

func inRuns(runs []*arenaRun, addr uint64) bool {
	for _, r := range runs {
		if addr >= r.base() && addr < r.end() {
			return true
		}
	}
	return false
}

// toRegions converts copied regions for heapgraph.
func toRegions(lists ...[]region) []heapgraph.Region {
	var out []heapgraph.Region
	for _, rs := range lists {
		for _, r := range rs {
			out = append(out, heapgraph.Region{Addr: r.addr, Data: r.data})
		}
	}
	return out
}

// graphInput captures the Input of a heap walk from the running process pid.
func graphInput(ctx context.Context, pid int, opts Options) (*heapgraph.Input, *GraphCapture, func(), error) {
	opts.setDefaults()
	began := time.Now()
	t, err := inspect(pid)
	if err != nil {
		return nil, nil, nil, err
	}
	ok := false
	defer func() {
		if !ok {
			t.close()
		}
	}()
	gl, err := readGraphLayout(t)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read the heap layout of process %d: %w", pid, err)
	}
	gc, err := copyGraph(ctx, t, gl, opts)
	if err != nil {
		switch {
		case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
			return nil, nil, nil, fmt.Errorf("attach to process %d: %w", pid, err)
		case errors.Is(err, ErrExited):
			return nil, nil, nil, fmt.Errorf("process %d exited while leakhunt attached: %w", pid, ErrExited)
		}
		if _, serr := os.Stat(fmt.Sprintf("/proc/%d", pid)); serr != nil {
			return nil, nil, nil, fmt.Errorf("process %d exited while leakhunt attached: %w", pid, ErrExited)
		}
		return nil, nil, nil, fmt.Errorf("copy the heap of process %d: %w", pid, err)
	}
	gcap := &GraphCapture{
		Target: snapshot.Target{
			Program: filepath.Base(strings.TrimSuffix(t.exe, " (deleted)")), Path: t.exe, Args: t.args, PID: pid,
			GoVersion: t.build.GoVersion, BuildInfo: t.build.String(), Host: procfs.Hostname(),
		},
		Stopped: gc.stopped, Copying: gc.copying, CopiedBytes: gc.bytes, Notes: gc.notes,
	}
	exe := t.exePath()
	grp, err := openCopy(gc.mc, exe)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read the copy of process %d: %w", pid, err)
	}
	defer grp.Detach(false)
	mem := heapgraph.NewImage(assemble(exe, t.l, append(gc.heap, toRegions(gc.offHeap)...), toRegions(gc.mc.regions)))
	sr, err := stackRoots(ctx, grp.Selected, exe, t.l, mem, gl)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("process %d: %w", pid, err)
	}
	gcap.Notes = append(gcap.Notes, sr.notes...)
	in := &heapgraph.Input{
		Mem: mem, Exe: exe, Bias: t.l.bias, GoVersion: t.build.GoVersion,
		Stack: sr.vars, StackRanges: sr.ranges, Frames: sr.frames,
	}
	gcap.Duration = time.Since(began)
	ok = true
	return in, gcap, t.close, nil
}

// CaptureGraph builds the heap's object graph of the running Go process pid.
// The process is stopped only while the heap's in-use spans, the runtime's
// metadata and the goroutine stacks are copied out (GraphCapture.Stopped);
// the walk runs on the copy after the process was released, and the process
// is running again when CaptureGraph returns, whatever happened.
func CaptureGraph(ctx context.Context, pid int, opts Options) (*heapgraph.Graph, *GraphCapture, error) {
	began := time.Now()
	in, gcap, done, err := graphInput(ctx, pid, opts)
	if err != nil {
		return nil, nil, err
	}
	defer done()
	g, err := buildGraph(ctx, in)
	if err != nil {
		return nil, nil, fmt.Errorf("walk the heap of process %d: %w", pid, err)
	}
	gcap.Duration = time.Since(began)
	return g, gcap, nil
}
