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
	"sort"
	"time"

	"github.com/go-delve/delve/pkg/proc/core"

	"github.com/leakhunt/leakhunt/profiler/heapgraph"
	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

// dataSegments rebuilds the executable's writable segments as they are in
// the process: the file's content, zeros for bss, and on top every byte of
// srcs that falls inside them. Each segment is one region, so that no
// variable is split between two.
func dataSegments(exe string, l *layout, srcs []heapgraph.Region) []heapgraph.Region {
	f, err := os.Open(exe)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []heapgraph.Region
	for _, s := range l.segs {
		start := s.addr &^ 4095
		end := (s.addr + s.memsz + 4095) &^ 4095
		img := make([]byte, end-start)
		f.ReadAt(img[s.addr-start:s.addr-start+s.filesz], int64(s.off))
		for _, r := range srcs {
			lo, hi := max(r.Addr, start), min(r.Addr+uint64(len(r.Data)), end)
			if lo < hi {
				copy(img[lo-start:hi-start], r.Data[lo-r.Addr:hi-r.Addr])
			}
		}
		out = append(out, heapgraph.Region{Addr: start, Data: img})
	}
	return out
}

// subtract returns the parts of rs outside the given regions, sharing
// their data.
func subtract(rs []heapgraph.Region, cover []heapgraph.Region) []heapgraph.Region {
	cs := make([]span, 0, len(cover))
	for _, c := range cover {
		cs = append(cs, span{c.Addr, uint64(len(c.Data))})
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].addr < cs[j].addr })
	var out []heapgraph.Region
	for _, r := range rs {
		lo, end := r.Addr, r.Addr+uint64(len(r.Data))
		i := sort.Search(len(cs), func(i int) bool { return cs[i].addr+cs[i].size > lo })
		for ; i < len(cs) && cs[i].addr < end && lo < end; i++ {
			if cs[i].addr > lo {
				out = append(out, heapgraph.Region{Addr: lo, Data: r.Data[lo-r.Addr : cs[i].addr-r.Addr]})
			}
			lo = max(lo, cs[i].addr+cs[i].size)
		}
		if lo < end {
			out = append(out, heapgraph.Region{Addr: lo, Data: r.Data[lo-r.Addr:]})
		}
	}
	return out
}

// assemble makes the image's regions disjoint: the data segments whole,
// then big (disjoint already), then what else of small is not in them.
func assemble(exe string, l *layout, big, small []heapgraph.Region) []heapgraph.Region {
	data := dataSegments(exe, l, append(append([]heapgraph.Region(nil), big...), small...))
	out := append(data, subtract(big, data)...)
	return append(out, subtract(small, out)...)
}

// graphCoreInput reads the Input of a heap walk from a core file. The
// Input's memory maps the core: call done when it is no longer used.
func graphCoreInput(ctx context.Context, corePath, exePath string, opts Options) (in *heapgraph.Input, gcap *GraphCapture, done func(), err error) {
	opts.setDefaults()
	began := time.Now()
	if err = ctx.Err(); err != nil {
		return nil, nil, nil, err
	}
	cf, err := elf.Open(corePath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
			return nil, nil, nil, fmt.Errorf("open core %s: %w", corePath, err)
		}
		return nil, nil, nil, fmt.Errorf("%s is not an ELF core file: %w", corePath, err)
	}
	if cf.Type != elf.ET_CORE {
		cf.Close()
		return nil, nil, nil, fmt.Errorf("%s is an ELF file but not a core dump", corePath)
	}
	if exePath == "" {
		exePath = coreExecutable(cf)
	}
	cf.Close()
	if exePath == "" {
		return nil, nil, nil, fmt.Errorf("core %s does not name its executable: give it with --exe BINARY: %w", corePath, ErrNoExecutable)
	}
	if _, err := os.Stat(exePath); err != nil {
		return nil, nil, nil, fmt.Errorf("executable %s of core %s not found: give it with --exe BINARY: %w", exePath, corePath, ErrNoExecutable)
	}
	what := filepath.Base(exePath)
	bi, err := buildinfo.ReadFile(exePath)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s is not a Go program: %w", exePath, ErrNotGo)
	}
	if err := checkGoVersion(what, bi.GoVersion); err != nil {
		return nil, nil, nil, err
	}
	if !hasDWARF(exePath) {
		return nil, nil, nil, noDWARFError(what)
	}
	grp, err := core.OpenCore(corePath, exePath, nil)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("open core %s with %s: %w", corePath, exePath, err)
	}
	defer grp.Detach(false)
	tgt := grp.Selected
	l, err := readLayout(exePath, tgt.BinInfo().Images[0].StaticBase, tgt.BinInfo())
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read the runtime layout of %s: %w", what, err)
	}
	if err := checkCoreMatches(tgt.Memory(), l, exePath); err != nil {
		return nil, nil, nil, fmt.Errorf("core %s was not dumped from %s (give the right binary with --exe): %w", corePath, exePath, err)
	}
	gl, err := readGraphLayout(&target{l: l, bi: tgt.BinInfo()})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read the heap layout of %s: %w", what, err)
	}
	c, err := heapgraph.OpenCore(corePath)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read core %s: %w", corePath, err)
	}
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()
	rs := c.Mem.Regions()
	var total uint64
	for _, r := range rs {
		total += uint64(len(r.Data))
	}
	mem := heapgraph.NewImage(assemble(exePath, l, rs, nil))
	sr, err := stackRoots(ctx, tgt, exePath, l, mem, gl)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("core %s: %w", corePath, err)
	}
	gcap = &GraphCapture{
		Target: snapshot.Target{
			Program: what, Path: exePath, PID: tgt.Pid(),
			GoVersion: bi.GoVersion, BuildInfo: bi.String(),
		},
		CopiedBytes: total,
		Notes:       sr.notes,
	}
	if fi, err := os.Stat(corePath); err == nil {
		gcap.Notes = append(gcap.Notes, fmt.Sprintf("core file written %s", fi.ModTime().UTC().Format(time.RFC3339)))
	}
	in = &heapgraph.Input{
		Mem: mem, Exe: exePath, Bias: l.bias, GoVersion: bi.GoVersion,
		Stack: sr.vars, StackRanges: sr.ranges, Frames: sr.frames,
	}
	gcap.Duration = time.Since(began)
	ok = true
	return in, gcap, func() { c.Close() }, nil
}

// CaptureGraphCore builds the heap's object graph from a core file of a Go
// program (written by `leakhunt core` or by the kernel). exePath is the
// program's executable; when empty it is taken from the core's file
// mappings.
func CaptureGraphCore(ctx context.Context, corePath, exePath string, opts Options) (*heapgraph.Graph, *GraphCapture, error) {
	began := time.Now()
	in, gcap, done, err := graphCoreInput(ctx, corePath, exePath, opts)
	if err != nil {
		return nil, nil, err
	}
	defer done()
	g, err := buildGraph(ctx, in)
	if err != nil {
		return nil, nil, fmt.Errorf("walk the heap in core %s: %w", corePath, err)
	}
	gcap.Duration = time.Since(began)
	return g, gcap, nil
}
