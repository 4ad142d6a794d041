//go:build linux && amd64

package attach

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// region is a copy of target memory starting at addr.
type region struct {
	addr uint64
	data []byte
}

// memCopy is what was copied out of a stopped process: memory regions, each
// thread's registers, and the process's auxiliary vector and mappings. After
// detaching it becomes a small ELF core that delve opens like any other.
type memCopy struct {
	pid      int
	regions  []region
	threads  []*tracedThread
	auxv     []byte
	maps     []mapping
	exe      string
	nanotime int64 // CLOCK_MONOTONIC while the target was stopped: the runtime's nanotime
	bytes    uint64
	layout   *layout
}

// iovMax is the kernel's limit on iovecs per process_vm_readv call.
const iovMax = 1024

// readSpans copies the given ranges out of the process with as few
// process_vm_readv calls as possible. A range the kernel cannot read (unmapped)
// is cut where the fault happened; the rest of the batch is still read.
func readSpans(pid int, spans []span) []region {
	out := make([]region, 0, len(spans))
	bufs := make([][]byte, len(spans))
	var total uint64
	for _, s := range spans {
		total += s.size
	}
	// One allocation for the whole batch: the copy runs while the target is
	// stopped, and thousands of small allocations (and a GC) cost more than
	// the copying.
	all := make([]byte, total)
	for i, s := range spans {
		bufs[i], all = all[:s.size:s.size], all[s.size:]
	}
	got := make([]int, len(spans))
	for i := 0; i < len(spans); {
		n := min(iovMax, len(spans)-i)
		local := make([]unix.Iovec, 0, n)
		remote := make([]unix.RemoteIovec, 0, n)
		for j := i; j < i+n; j++ {
			if spans[j].size == 0 {
				continue
			}
			local = append(local, unix.Iovec{Base: &bufs[j][0], Len: spans[j].size})
			remote = append(remote, unix.RemoteIovec{Base: uintptr(spans[j].addr), Len: int(spans[j].size)})
		}
		done, err := unix.ProcessVMReadv(pid, local, remote, 0)
		if err != nil && !errors.Is(err, unix.EFAULT) || done < 0 {
			done = 0
		}
		// Credit whole iovecs, then the partly read one; the batch restarts
		// after the first range that was not read completely.
		j := i
		for ; j < i+n; j++ {
			size := int(spans[j].size)
			if done >= size {
				got[j] = size
				done -= size
				continue
			}
			got[j] = done
			j++
			break
		}
		i = j
	}
	for i, s := range spans {
		if got[i] > 0 {
			out = append(out, region{s.addr, bufs[i][:got[i]]})
		}
	}
	return out
}

// mapping is one line of /proc/PID/maps.
type mapping struct {
	start, end, offset uint64
	perms              string
	path               string
}

func readMaps(pid int) ([]mapping, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ms []mapping
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		lo, hi, _ := strings.Cut(fields[0], "-")
		var m mapping
		m.start, _ = strconv.ParseUint(lo, 16, 64)
		m.end, _ = strconv.ParseUint(hi, 16, 64)
		m.offset, _ = strconv.ParseUint(fields[2], 16, 64)
		m.perms = fields[1]
		if len(fields) >= 6 {
			m.path = strings.Join(fields[5:], " ")
		}
		ms = append(ms, m)
	}
	return ms, sc.Err()
}

// containing returns the mapping holding addr.
func containing(ms []mapping, addr uint64) (mapping, bool) {
	i := sort.Search(len(ms), func(i int) bool { return ms[i].end > addr })
	if i < len(ms) && ms[i].start <= addr {
		return ms[i], true
	}
	return mapping{}, false
}

// lookup finds n bytes at addr in the copied regions.
func lookup(rs []region, addr uint64, n int) []byte {
	for _, r := range rs {
		if addr >= r.addr && addr+uint64(n) <= r.addr+uint64(len(r.data)) {
			return r.data[addr-r.addr : addr-r.addr+uint64(n)]
		}
	}
	return nil
}

// stackMargin is how far below a saved stack pointer the copy starts: the
// unwinder may look at the words just below it.
const stackMargin = 256

// copyRuntime copies what a snapshot needs out of the stopped process: the
// binary's data and bss, every g and m, each goroutine's live stack, the
// threads' stacks and TLS words, and the memory profile's buckets. It runs
// while the target is stopped, so it only follows pointers: no symbolization,
// no DWARF.
func copyRuntime(st *stopper, l *layout, maps []mapping, heap bool) *memCopy {
	mc := &memCopy{pid: st.pid, threads: st.threads, maps: maps, layout: l}
	add := func(rs []region) {
		for _, r := range rs {
			mc.bytes += uint64(len(r.data))
		}
		mc.regions = append(mc.regions, rs...)
	}
	// The binary's data and bss: only pages the process has touched. The
	// rest is still the file's content or zeros, which openCopy fills in
	// after the process runs again (Go 1.26's bss alone has 32 MiB of
	// never-touched crypto buffers).
	data := readSpans(st.pid, presentPages(st.pid, l.writable))
	add(data)
	word := func(addr uint64) uint64 { return u64(lookup(data, addr, 8), 0) }

	// Goroutines.
	allgs, allglen := word(l.sym["runtime.allgs"]), word(l.sym["runtime.allglen"])
	if allglen > 1<<24 {
		allglen = 0
	}
	var gptrs []uint64
	if ptrs := readSpans(st.pid, []span{{allgs, allglen * 8}}); len(ptrs) == 1 {
		add(ptrs)
		for i := 0; i+8 <= len(ptrs[0].data); i += 8 {
			if p := le.Uint64(ptrs[0].data[i:]); p != 0 {
				gptrs = append(gptrs, p)
			}
		}
	}
	// The ms, with their g0 and signal goroutines (not in allgs).
	var mptrs []uint64
	seen := map[uint64]bool{}
	for m := word(l.sym["runtime.allm"]); m != 0 && !seen[m] && len(mptrs) < 1<<16; {
		seen[m] = true
		mptrs = append(mptrs, m)
		rs := readSpans(st.pid, []span{{m, uint64(l.mSize)}})
		if len(rs) != 1 || len(rs[0].data) < int(l.mSize) {
			break
		}
		add(rs)
		mb := rs[0].data
		gptrs = append(gptrs, u64(mb, l.mG0), u64(mb, l.mGsignal))
		m = u64(mb, l.mAlllink)
	}
	gspans := make([]span, 0, len(gptrs))
	for _, g := range gptrs {
		if g != 0 {
			gspans = append(gspans, span{g, uint64(l.gSize)})
		}
	}
	gs := readSpans(st.pid, gspans)
	add(gs)
	type stk struct{ lo, hi uint64 }
	var stacks []span
	var known []stk
	for _, g := range gs {
		b := g.data
		status := u32(b, l.gStatus) &^ 0x1000 // drop _Gscan
		if status == 6 {                      // _Gdead
			continue
		}
		lo, hi, sp := u64(b, l.gStackLo), u64(b, l.gStackHi), u64(b, l.gSchedSP)
		if hi <= lo || hi-lo > 1<<30 {
			continue
		}
		known = append(known, stk{lo, hi})
		from := lo
		if status != 2 && sp > lo && sp <= hi { // not _Grunning: the saved sp is good
			from = max(lo, sp-stackMargin)
		}
		stacks = append(stacks, span{from, hi - from})
	}
	// Threads: their stack from the stack pointer up, and the TLS word that
	// holds the current g.
	for _, t := range st.threads {
		sp := t.regs.Rsp
		end := sp + 64<<10
		for _, k := range known {
			if sp >= k.lo && sp <= k.hi {
				end = k.hi
				break
			}
		}
		if m, ok := containing(maps, sp); ok && end > m.end {
			end = m.end
		}
		if sp > stackMargin && end > sp {
			stacks = append(stacks, span{sp - stackMargin, end - sp + stackMargin})
		}
		if fs := t.regs.Fs_base; fs > 512 {
			stacks = append(stacks, span{fs - 512, 528})
		}
	}
	add(readSpans(st.pid, stacks))

	// The memory profile: a linked list of buckets, each followed by its
	// stack and its memRecord.
	if heap && l.bucketSize > 0 && l.memRecordSize > 0 && l.sym["runtime.mbuckets"] != 0 {
		// Buckets come from a bump allocator and the list runs from the
		// newest to the oldest, so neighbours in the list are neighbours in
		// memory: read 64 KiB around a bucket and find the next ones there.
		const window = 32 << 10
		var blocks []region
		read := func(addr, n uint64) []byte {
			for i := len(blocks) - 1; i >= 0 && i >= len(blocks)-4; i-- {
				if b := lookup(blocks[i:i+1], addr, int(n)); b != nil {
					return b
				}
			}
			rs := readSpans(st.pid, []span{{addr - min(addr, window), 2 * window}})
			if len(rs) == 1 {
				blocks = append(blocks, rs[0])
				if b := lookup(rs, addr, int(n)); b != nil {
					return b
				}
			}
			// Near the end of a mapping: read just the bucket.
			rs = readSpans(st.pid, []span{{addr, n}})
			if len(rs) == 1 && uint64(len(rs[0].data)) == n {
				blocks = append(blocks, rs[0])
				return rs[0].data
			}
			return nil
		}
		seenB := map[uint64]bool{}
		for b := word(l.sym["runtime.mbuckets"]); b != 0 && !seenB[b] && len(seenB) < 1<<22; {
			seenB[b] = true
			hdr := read(b, uint64(l.bucketSize))
			if hdr == nil {
				break
			}
			nstk := u64(hdr, l.bucketNstk)
			if nstk > 1024 {
				break
			}
			if read(b, uint64(l.bucketSize)+nstk*8+uint64(l.memRecordSize)) == nil {
				break
			}
			b = u64(hdr, l.bucketAllnext)
		}
		add(blocks)
	}
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) == nil {
		mc.nanotime = ts.Nano()
	}
	return mc
}

// presentPages narrows spans to the pages the process has written
// (/proc/PID/pagemap): the others hold nothing the file or zeros do not say.
//
// A written page of a private mapping is an anonymous page: swapped (bit 62),
// or present (bit 63) and not file-backed (bit 61). The kernel's zero page,
// which bss pages that were only read map, is present and not file-backed
// too; it is told apart by its frame number, the same for every such page.
// "Exclusively mapped" (bit 56) is no test: a transparent huge page, which
// khugepaged may build from the heap of bss at any time, need not report it,
// and skipping such pages once made a live capture read runtime.mbuckets as
// zero. Without CAP_SYS_ADMIN the frame numbers read as zero: then every
// present anonymous page is copied, zero page included.
func presentPages(pid int, spans []span) []span {
	f, err := os.Open(fmt.Sprintf("/proc/%d/pagemap", pid))
	if err != nil {
		return spans
	}
	defer f.Close()
	const (
		present  = 1 << 63
		swapped  = 1 << 62
		filePage = 1 << 61
		pfnMask  = 1<<55 - 1
	)
	entries := make([][]uint64, len(spans))
	pfns := make(map[uint64]int)
	for k, s := range spans {
		first, n := s.addr/4096, (s.size+4095)/4096
		buf := make([]byte, n*8)
		if _, err := f.ReadAt(buf, int64(first*8)); err != nil {
			continue // nil entries: copy the whole span
		}
		es := make([]uint64, n)
		for i := range es {
			es[i] = le.Uint64(buf[i*8:])
			if e := es[i]; e&present != 0 && e&filePage == 0 && e&pfnMask != 0 {
				pfns[e&pfnMask]++
			}
		}
		entries[k] = es
	}
	var out []span
	for k, s := range spans {
		es := entries[k]
		if es == nil {
			out = append(out, s)
			continue
		}
		first := s.addr / 4096
		var cur *span
		for i, e := range es {
			written := e&swapped != 0 ||
				e&present != 0 && e&filePage == 0 && (e&pfnMask == 0 || pfns[e&pfnMask] == 1)
			if !written {
				cur = nil
				continue
			}
			addr := (first + uint64(i)) * 4096
			if cur != nil && cur.addr+cur.size == addr {
				cur.size += 4096
				continue
			}
			out = append(out, span{addr, 4096})
			cur = &out[len(out)-1]
		}
	}
	return out
}

// dataImage rebuilds the executable's writable segments as they are in the
// process: the file's content, zeros for bss, and the copied pages on top.
func dataImage(exe string, l *layout, copied []region) []region {
	f, err := os.Open(exe)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []region
	for _, s := range l.segs {
		start := s.addr &^ 4095
		end := (s.addr + s.memsz + 4095) &^ 4095
		img := make([]byte, end-start)
		f.ReadAt(img[s.addr-start:s.addr-start+s.filesz], int64(s.off))
		for _, r := range copied {
			if r.addr >= start && r.addr+uint64(len(r.data)) <= end {
				copy(img[r.addr-start:], r.data)
			}
		}
		out = append(out, region{start, img})
	}
	return out
}
