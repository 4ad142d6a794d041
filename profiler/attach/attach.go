//go:build linux && amd64

package attach

import (
	"context"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-delve/delve/pkg/proc"
	"github.com/go-delve/delve/pkg/proc/core"
	"github.com/go-delve/delve/pkg/proc/linutil"
	"golang.org/x/sys/unix"

	"github.com/leakhunt/leakhunt/profiler/procfs"
	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

// maxLocalsCopy bounds the memory copied for Options.Locals.
const maxLocalsCopy = 4 << 30

// target is what is known of a process before attaching.
type target struct {
	pid      int
	exe      string // where the executable was (readlink /proc/PID/exe)
	exeFile  *os.File
	build    *buildinfo.BuildInfo
	args     []string
	auxv     []byte
	bi       *proc.BinaryInfo
	l        *layout
	hasDWARF bool
}

func (t *target) close() {
	if t.exeFile != nil {
		t.exeFile.Close()
	}
	if t.bi != nil {
		t.bi.Close()
	}
}

// exePath is a path to the executable that stays valid while t is open,
// even if the process exits or the file is replaced.
func (t *target) exePath() string { return fmt.Sprintf("/proc/self/fd/%d", t.exeFile.Fd()) }

// executable is the path of process pid's executable, or why it has none
// leakhunt can read (no such process, no permission, a kernel thread).
func executable(pid int) (string, error) {
	exe, err := procfs.ExePath(pid)
	if err == nil {
		return exe, nil
	}
	if errors.Is(err, os.ErrPermission) {
		return "", permissionError(pid)
	}
	if _, serr := os.Stat(fmt.Sprintf("/proc/%d", pid)); serr != nil {
		return "", fmt.Errorf("no process with PID %d: %w", pid, ErrNoProcess)
	}
	return "", fmt.Errorf("process %d has no executable to read (a kernel thread or a zombie?): %w", pid, ErrNotGo)
}

// inspect checks that pid is a Go process leakhunt can attach to and loads
// what the stop will need, all while the process runs.
func inspect(pid int) (*target, error) {
	t := &target{pid: pid}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
		return nil, fmt.Errorf("no process with PID %d (check the number with `leakhunt ps`): %w", pid, ErrNoProcess)
	}
	exe, err := executable(pid)
	if err != nil {
		return nil, err
	}
	t.exe = exe
	f, err := os.Open(procfs.Exe(pid))
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, permissionError(pid)
		}
		return nil, fmt.Errorf("open the executable of process %d: %w", pid, err)
	}
	t.exeFile = f
	ok := false
	defer func() {
		if !ok {
			t.close()
		}
	}()
	if tracer := tracerPID(pid); tracer > 0 {
		return nil, tracedError(pid, tracer)
	}
	what := fmt.Sprintf("process %d (%s)", pid, filepath.Base(exe))
	bi, err := buildinfo.ReadFile(t.exePath())
	if err != nil {
		return nil, fmt.Errorf("%s is not a Go program (no Go build information in %s): %w", what, exe, ErrNotGo)
	}
	t.build = bi
	if err := checkGoVersion(what, bi.GoVersion); err != nil {
		return nil, err
	}
	if !hasDWARF(t.exePath()) {
		return nil, noDWARFError(what)
	}
	t.args, _ = procfs.Cmdline(pid)
	t.auxv, err = os.ReadFile(fmt.Sprintf("/proc/%d/auxv", pid))
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, permissionError(pid)
		}
		return nil, fmt.Errorf("process %d: %w", pid, ErrExited)
	}
	entry := linutil.EntryPointFromAuxv(t.auxv, 8)
	t.bi = proc.NewBinaryInfo("linux", "amd64", true)
	if err := t.bi.LoadBinaryInfo(t.exePath(), entry, nil); err != nil {
		return nil, fmt.Errorf("load debug information of %s: %w", what, err)
	}
	t.l, err = readLayout(t.exePath(), t.bi.Images[0].StaticBase, t.bi)
	if err != nil {
		return nil, fmt.Errorf("read the runtime layout of %s: %w", what, err)
	}
	ok = true
	return t, nil
}

// hasDWARF reports whether the ELF file has DWARF debug information.
func hasDWARF(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	return f.Section(".debug_info") != nil || f.Section(".zdebug_info") != nil
}

// tracerPID returns the PID tracing pid, 0 if none.
func tracerPID(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "TracerPid:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

func commName(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(data))
}

// stopResult is what one stop produced.
type stopResult struct {
	mc      *memCopy
	stopped time.Duration
	rate    int64 // runtime.MemProfileRate as found
	enabled bool  // EnableProfiling wrote the rate
	// stopping and copying split the pause: reaching the stop, copying.
	stopping, copying time.Duration
}

// copyStopped stops the process, copies what a snapshot needs and releases
// it. The release runs on every path: error, cancellation, panic.
func copyStopped(ctx context.Context, t *target, opts Options) (res stopResult, err error) {
	defer lockThread()()
	maps, err := readMaps(t.pid)
	if err != nil {
		return res, fmt.Errorf("process %d: %w", t.pid, ErrExited)
	}
	// No garbage collection of ours while the target waits: a GC cycle on a
	// small machine can double the pause.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	begin := time.Now()
	st, err := stop(ctx, t.pid)
	if err != nil {
		return res, err
	}
	defer func() {
		st.detach()
		res.stopped = time.Since(begin)
	}()
	res.stopping = time.Since(begin)
	if m, err := readMaps(t.pid); err == nil {
		maps = m
	}
	mc := copyRuntime(st, t.l, maps, !opts.SkipHeap)
	res.copying = time.Since(begin) - res.stopping
	mc.exe = t.exe
	mc.auxv = t.auxv
	if addr := t.l.sym["runtime.MemProfileRate"]; addr != 0 {
		if b := lookup(mc.regions, addr, 8); b != nil {
			res.rate = int64(le.Uint64(b))
			if res.rate == 0 && opts.EnableProfiling {
				if err := writeWord(t.pid, addr, EnabledProfileRate); err != nil {
					return res, fmt.Errorf("process %d: %w: %v", t.pid, ErrProfilerWrite, err)
				}
				res.enabled = true
			}
		}
	}
	if opts.Locals {
		copyWritable(mc, maps)
	}
	if opts.whileStopped != nil {
		opts.whileStopped(ctx)
	}
	res.mc = mc
	return res, ctx.Err()
}

// copyWritable adds every readable, writable mapping (the heap) to the copy,
// so that variables can be followed through pointers.
func copyWritable(mc *memCopy, maps []mapping) {
	var spans []span
	var total uint64
	for _, m := range maps {
		if len(m.perms) < 2 || m.perms[0] != 'r' || m.perms[1] != 'w' || strings.HasPrefix(m.path, "[v") {
			continue
		}
		if total+(m.end-m.start) > maxLocalsCopy {
			break
		}
		total += m.end - m.start
		spans = append(spans, span{m.start, m.end - m.start})
	}
	rs := readSpans(mc.pid, spans)
	// Earlier regions are the more precise copies; put the bulk first so
	// they win where they overlap.
	mc.regions = append(rs, mc.regions...)
	for _, r := range rs {
		mc.bytes += uint64(len(r.data))
	}
}

// writeWord writes one 8-byte word into the process.
func writeWord(pid int, addr uint64, v uint64) error {
	b := make([]byte, 8)
	le.PutUint64(b, v)
	n, err := unix.ProcessVMWritev(pid, []unix.Iovec{{Base: &b[0], Len: 8}}, []unix.RemoteIovec{{Base: uintptr(addr), Len: 8}}, 0)
	if err != nil {
		return err
	}
	if n != 8 {
		return errors.New("short write")
	}
	return nil
}

// Capture takes a snapshot of the running Go process pid. The process is
// stopped only while its runtime structures are copied (Capture.Stopped) and
// is running again when Capture returns, whatever happened.
func Capture(ctx context.Context, pid int, opts Options) (*snapshot.Snapshot, error) {
	opts.setDefaults()
	start := opts.Now()
	began := time.Now()
	t, err := inspect(pid)
	if err != nil {
		return nil, err
	}
	defer t.close()
	res, err := copyStopped(ctx, t, opts)
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("attach to process %d: %w", pid, err)
		}
		if _, serr := os.Stat(fmt.Sprintf("/proc/%d", pid)); serr != nil && !errors.Is(err, ErrExited) {
			return nil, fmt.Errorf("process %d exited while leakhunt attached: %w", pid, ErrExited)
		}
		if errors.Is(err, ErrExited) {
			return nil, fmt.Errorf("process %d exited while leakhunt attached: %w", pid, ErrExited)
		}
		return nil, err
	}
	grp, err := openCopy(res.mc, t.exePath())
	if err != nil {
		return nil, fmt.Errorf("read the copy of process %d: %w", pid, err)
	}
	defer grp.Detach(false)
	s := &snapshot.Snapshot{
		Target: snapshot.Target{
			Program: filepath.Base(strings.TrimSuffix(t.exe, " (deleted)")), Path: t.exe, Args: t.args, PID: pid,
			GoVersion: t.build.GoVersion, BuildInfo: t.build.String(), Host: procfs.Hostname(),
		},
		Capture: snapshot.Capture{Source: snapshot.SourcePID, Address: strconv.Itoa(pid), Time: start, Tool: opts.Tool, Stopped: res.stopped},
	}
	rate := int(res.rate)
	s.Capture.MemProfileRate = &rate
	if m, err := procfs.ReadMemory(pid); err == nil {
		s.Process = &snapshot.Process{RSS: m.RSS, PeakRSS: m.PeakRSS, AnonRSS: m.AnonRSS, Threads: m.Threads}
	}
	if err := extract(s, grp.Selected, t.l, t.exePath(), res.mc.nanotime, res.rate, opts); err != nil {
		return nil, fmt.Errorf("process %d: %w", pid, err)
	}
	switch {
	case res.enabled:
		s.Capture.Notes = append(s.Capture.Notes, fmt.Sprintf("the memory profiler was off (runtime.MemProfileRate 0): leakhunt set it to %d, so allocations from now on are sampled; this snapshot's heap profile is still empty, take another later", EnabledProfileRate))
	case res.rate == 0:
		s.Capture.Notes = append(s.Capture.Notes, profilerOffNote)
	}
	s.Capture.Duration = time.Since(began)
	return s, nil
}

// profilerOffNote explains an empty heap profile.
const profilerOffNote = "the memory profiler is off in this program (runtime.MemProfileRate is 0: the binary never references runtime/pprof, so the linker disabled it): the heap profile is empty; --enable-profiling switches it on (one write into the target) so that later snapshots sample new allocations, or import net/http/pprof in the program"

// openCopy turns a memory copy into an in-memory ELF core and opens it with delve.
func openCopy(mc *memCopy, exe string) (*proc.TargetGroup, error) {
	fd, err := unix.MemfdCreate("leakhunt-copy", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "leakhunt-copy")
	defer f.Close()
	notes := coreNotes(mc.pid, mc.threads, mc.auxv, mc.maps, mc.exe)
	// The data image first: the copies made while stopped override it.
	regions := append(dataImage(exe, mc.layout, mc.regions), mc.regions...)
	if err := writeCore(f, notes, regionSegments(coalesce(regions))); err != nil {
		return nil, fmt.Errorf("write the copy: %w", err)
	}
	return core.OpenCore(fmt.Sprintf("/proc/self/fd/%d", fd), exe, nil)
}

// coalesceGap is the largest hole between two copied regions that is filled
// with zeros to make them one: delve's core reader looks up regions in a list,
// so tens of thousands of small ones (one per goroutine) make it crawl.
const coalesceGap = 64 << 10

// coalesce sorts regions and merges those that overlap or lie close together.
// Where regions overlap, the later one in the original order wins.
func coalesce(rs []region) []region {
	idx := make([]int, len(rs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return rs[idx[a]].addr < rs[idx[b]].addr })
	var out []region

	for _, i := range idx {
		r := rs[i]
		end := r.addr + uint64(len(r.data))
		if n := len(out); n > 0 {
			last := &out[n-1]
			lastEnd := last.addr + uint64(len(last.data))
			if r.addr <= lastEnd+coalesceGap {
				if end > lastEnd {
					last.data = append(last.data, make([]byte, end-lastEnd)...)
				}
				// Overlapping bytes: the region copied later is the more
				// specific copy of the same moment; either is right.
				copy(last.data[r.addr-last.addr:], r.data)
				continue
			}
		}
		out = append(out, region{r.addr, append([]byte(nil), r.data...)})

	}
	return out
}

// extract fills s from a delve target (a live copy or a core). now is the
// target's nanotime to measure waits against.
func extract(s *snapshot.Snapshot, tgt *proc.Target, l *layout, exe string, now int64, rate int64, opts Options) error {
	mem := tgt.Memory()
	bi := tgt.BinInfo()
	var errs []string
	var recs []memRecord
	var err error
	if !opts.SkipHeap {
		recs, err = readBuckets(mem, bi, l)
	}
	switch {
	case opts.SkipHeap:
	case err != nil:
		errs = append(errs, "heap profile: "+err.Error())
	default:
		inl, err := newInlineIndex(exe, l.bias)
		if err != nil {
			s.Capture.Notes = append(s.Capture.Notes, "inlined frames in the heap profile are named by their caller: "+err.Error())
		}
		s.Heap = buildHeapProfile(bi, inl, recs, rate, exe)
		s.Heap.TimeNanos = s.Capture.Time.UnixNano()
	}
	if !opts.SkipGoroutines {
		gr := newGoroutineReader(tgt, l, now, opts.Locals)
		gs, unreadable, err := gr.read()
		if err != nil {
			errs = append(errs, "goroutines: "+err.Error())
		}
		s.Goroutines = gs
		if unreadable > 0 {
			s.Capture.Notes = append(s.Capture.Notes, fmt.Sprintf("%d goroutines could not be read", unreadable))
		}
	}
	if ms, ok := readMemStats(mem, bi, l); ms != nil && !opts.SkipMemStats {
		s.MemStats = ms
		if !ok {
			s.Capture.Notes = append(s.Capture.Notes, "some memory statistics could not be read and are zero")
		}
	}
	if len(errs) > 0 && s.Heap == nil && len(s.Goroutines) == 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	for _, e := range errs {
		s.Capture.Notes = append(s.Capture.Notes, e)
	}
	return nil
}
