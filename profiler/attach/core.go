//go:build linux && amd64

package attach

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-delve/delve/pkg/proc/core"
	"golang.org/x/sys/unix"

	"github.com/leakhunt/leakhunt/profiler/atomicfile"
	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

// coreWaitNote explains wait durations read from a core.
const coreWaitNote = "wait durations in a core are measured up to the target's last GC before the dump (a core carries no clock reading of its own), so they can be short by up to the time between that GC and the dump"

// CaptureCore takes a snapshot from a core file of a Go program. exePath is
// the program's executable; when empty it is taken from the core's file
// mappings.
func CaptureCore(ctx context.Context, corePath, exePath string, opts Options) (*snapshot.Snapshot, error) {
	opts.setDefaults()
	start := opts.Now()
	began := time.Now()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cf, err := elf.Open(corePath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("open core %s: %w", corePath, err)
		}
		return nil, fmt.Errorf("%s is not an ELF core file: %w", corePath, err)
	}
	if cf.Type != elf.ET_CORE {
		cf.Close()
		return nil, fmt.Errorf("%s is an ELF file but not a core dump", corePath)
	}
	if exePath == "" {
		exePath = coreExecutable(cf)
	}
	cf.Close()
	if exePath == "" {
		return nil, fmt.Errorf("core %s does not name its executable: give it with --exe BINARY: %w", corePath, ErrNoExecutable)
	}
	if _, err := os.Stat(exePath); err != nil {
		return nil, fmt.Errorf("executable %s of core %s not found: give it with --exe BINARY: %w", exePath, corePath, ErrNoExecutable)
	}
	what := filepath.Base(exePath)
	bi, err := buildinfo.ReadFile(exePath)
	if err != nil {
		return nil, fmt.Errorf("%s is not a Go program: %w", exePath, ErrNotGo)
	}
	if err := checkGoVersion(what, bi.GoVersion); err != nil {
		return nil, err
	}
	if !hasDWARF(exePath) {
		return nil, noDWARFError(what)
	}
	grp, err := core.OpenCore(corePath, exePath, nil)
	if err != nil {
		return nil, fmt.Errorf("open core %s with %s: %w", corePath, exePath, err)
	}
	defer grp.Detach(false)
	tgt := grp.Selected
	l, err := readLayout(exePath, tgt.BinInfo().Images[0].StaticBase, tgt.BinInfo())
	if err != nil {
		return nil, fmt.Errorf("read the runtime layout of %s: %w", what, err)
	}
	if err := checkCoreMatches(tgt.Memory(), l, exePath); err != nil {
		return nil, fmt.Errorf("core %s was not dumped from %s (give the right binary with --exe): %w", corePath, exePath, err)
	}
	s := &snapshot.Snapshot{
		Target: snapshot.Target{
			Program: what, Path: exePath, PID: tgt.Pid(),
			GoVersion: bi.GoVersion, BuildInfo: bi.String(),
		},
		Capture: snapshot.Capture{Source: snapshot.SourceCore, Address: corePath, Time: start, Tool: opts.Tool},
	}
	if fi, err := os.Stat(corePath); err == nil {
		s.Capture.Notes = append(s.Capture.Notes, fmt.Sprintf("core file written %s", fi.ModTime().UTC().Format(time.RFC3339)))
	}
	var rate int64
	if b, err := readBytes(tgt.Memory(), l.sym["runtime.MemProfileRate"], 8); err == nil {
		rate = int64(le.Uint64(b))
		r := int(rate)
		s.Capture.MemProfileRate = &r
	}
	now := lastGCNanotime(tgt.Memory(), tgt.BinInfo(), l)
	if err := extract(s, tgt, l, exePath, now, rate, opts); err != nil {
		return nil, fmt.Errorf("core %s: %w", corePath, err)
	}
	s.Capture.Notes = append(s.Capture.Notes, coreWaitNote)
	if rate == 0 {
		s.Capture.Notes = append(s.Capture.Notes, profilerOffNote)
	}
	s.Capture.Duration = time.Since(began)
	return s, nil
}

// coreExecutable returns the first file mapping named in the core's NT_FILE
// note: the executable.
func coreExecutable(cf *elf.File) string {
	for _, p := range cf.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		data, err := io.ReadAll(p.Open())
		if err != nil {
			return ""
		}
		for len(data) >= 12 {
			namesz, descsz, typ := le.Uint32(data), le.Uint32(data[4:]), le.Uint32(data[8:])
			off := 12 + int(namesz+3)&^3
			if off+int(descsz) > len(data) {
				return ""
			}
			desc := data[off : off+int(descsz)]
			data = data[off+int(descsz+3)&^3:]
			if typ != ntFile || len(desc) < 16 {
				continue
			}
			n := le.Uint64(desc)
			names := desc[16+n*24:]
			if i := bytes.IndexByte(names, 0); i > 0 {
				return strings.TrimSuffix(string(names[:i]), " (deleted)")
			}
		}
	}
	return ""
}

// checkCoreMatches compares the module data in the core (written by the
// process at run time) with the executable: a core dumped from another build
// disagrees on where the text segment ends.
func checkCoreMatches(mem memReader, l *layout, exePath string) error {
	f, err := elf.Open(exePath)
	if err != nil {
		return err
	}
	defer f.Close()
	var etext uint64
	syms, _ := f.Symbols()
	for _, s := range syms {
		if s.Name == "runtime.etext" {
			etext = s.Value + l.bias
		}
	}
	md := l.sym["runtime.firstmoduledata"]
	if etext == 0 || md == 0 {
		return nil
	}
	// moduledata holds etext among its first words; look for it there.
	b, err := readBytes(mem, md, 512)
	if err != nil {
		return fmt.Errorf("%w: its runtime data is not in the core", ErrCoreMismatch)
	}
	for i := 0; i+8 <= len(b); i += 8 {
		if le.Uint64(b[i:]) == etext {
			return nil
		}
	}
	return ErrCoreMismatch
}

// WriteCore writes an ELF core dump of the running process pid to path
// (mode 0600, atomically: never a partial file; an existing file is replaced
// only when overwrite is set). The process is stopped while its memory is
// written and running again when WriteCore returns.
func WriteCore(ctx context.Context, pid int, path string, overwrite bool) (*CoreStats, error) {
	began := time.Now()
	t, err := inspect(pid)
	if err != nil {
		return nil, err
	}
	defer t.close()
	stats := &CoreStats{}
	err = atomicfile.Write(path, overwrite, func(w io.Writer) (err error) {
		defer lockThread()()
		begin := time.Now()
		st, err := stop(ctx, pid)
		if err != nil {
			return err
		}
		defer func() {
			st.detach()
			stats.Stopped = time.Since(begin)
		}()
		maps, err := readMaps(pid)
		if err != nil {
			return fmt.Errorf("process %d: %w", pid, ErrExited)
		}
		var segs []coreSegment
		for _, m := range maps {
			if !dumpable(m) && !relocated(pid, m) {
				continue
			}
			m := m
			segs = append(segs, coreSegment{addr: m.start, size: m.end - m.start, flags: progFlags(m.perms), fill: func(w io.Writer) error {
				return copyRange(pid, m.start, m.end, w)
			}})
			stats.Bytes += m.end - m.start
		}
		stats.Segments = len(segs)
		notes := coreNotes(pid, st.threads, t.auxv, maps, t.exe)
		if err := ctx.Err(); err != nil {
			return err
		}
		return writeCore(w, notes, segs)
	})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return nil, fmt.Errorf("write core of process %d: %w", pid, err)
		}
		return nil, fmt.Errorf("write core of process %d: %w", pid, err)
	}
	stats.Duration = time.Since(began)
	return stats, nil
}

// dumpable reports whether a mapping's content goes into a core: everything
// readable except read-only file mappings (code and constants, which the
// reader takes from the files) and the kernel's special pages.
func dumpable(m mapping) bool {
	if len(m.perms) < 4 || m.perms[0] != 'r' {
		return false
	}
	switch m.path {
	case "[vvar]", "[vvar_vclock]", "[vsyscall]":
		return false
	}
	if m.perms[1] != 'w' && m.path != "" && !strings.HasPrefix(m.path, "[") {
		return false
	}
	return true
}

// relocated reports whether a read-only private file mapping has pages the
// process wrote before protecting them (relocated read-only data of a
// position-independent executable or library, RELRO): the file does not
// hold their content, so the core must.
func relocated(pid int, m mapping) bool {
	if len(m.perms) < 4 || m.perms[0] != 'r' || m.perms[1] == 'w' || m.perms[3] != 'p' || m.path == "" || strings.HasPrefix(m.path, "[") {
		return false
	}
	return len(presentPages(pid, []span{{m.start, m.end - m.start}})) > 0
}

func progFlags(perms string) elf.ProgFlag {
	var f elf.ProgFlag
	if perms[0] == 'r' {
		f |= elf.PF_R
	}
	if perms[1] == 'w' {
		f |= elf.PF_W
	}
	if perms[2] == 'x' {
		f |= elf.PF_X
	}
	return f
}

// copyRange streams [start, end) of the process's memory to w; pages that
// cannot be read are written as zeros so the file keeps its layout.
func copyRange(pid int, start, end uint64, w io.Writer) error {
	buf := make([]byte, 1<<20)
	for a := start; a < end; {
		n := min(uint64(len(buf)), end-a)
		b := buf[:n]
		got, err := unix.ProcessVMReadv(pid, []unix.Iovec{{Base: &b[0], Len: n}}, []unix.RemoteIovec{{Base: uintptr(a), Len: int(n)}}, 0)
		if err != nil || got <= 0 {
			// Skip one page as zeros.
			got = int(min(4096, n))
			clear(b[:got])
		}
		if _, err := w.Write(b[:got]); err != nil {
			return err
		}
		a += uint64(got)
	}
	return nil
}
