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
	"strconv"
	"strings"
	"time"

	"github.com/go-delve/delve/pkg/proc/linutil"
	"golang.org/x/sys/unix"

	"github.com/leakhunt/leakhunt/profiler/procfs"
)

// SetMemProfileRate sets runtime.MemProfileRate of the running Go process pid
// to rate: from then on the program records one allocation per rate bytes
// allocated on average (Go's default is 512 KiB), so a slow leak shows in its
// heap profile sooner. It is a write into the target: the caller asks the
// user first. rate must be more than 0 (ErrBadRate).
//
// The process is stopped while the old value is read, the new one written
// and read back (RateChange.Stopped, typically well under a millisecond of
// work plus the time to stop its threads), and is running again when
// SetMemProfileRate returns, whatever happened; a cancelled ctx writes
// nothing. Only the binary's symbol table is needed, not its DWARF.
//
// The change lasts until the program exits or someone sets the rate again:
// RateChange.Restore sets the old value back. Allocations sampled before the
// change are still scaled by the current rate when a profile is read, so
// their in-use bytes read too low (when the rate was lowered) until they are
// freed; growth after the change is measured right.
func SetMemProfileRate(ctx context.Context, pid int, rate int) (*RateChange, error) {
	if err := checkRate(rate); err != nil {
		return nil, err
	}
	return setRate(ctx, pid, rate, rateWrite{}, nil)
}

// Restore sets runtime.MemProfileRate of the process back to c.Old, but only
// if it is still c.New and the process is still the one SetMemProfileRate
// wrote into: when the program set its own rate meanwhile, nothing is written
// (the result's Written is false and Old and New are the value found). A
// change that wrote nothing restores nothing.
func (c *RateChange) Restore(ctx context.Context) (*RateChange, error) {
	if !c.Written {
		return &RateChange{PID: c.PID, Old: c.New, New: c.New, LinkerDisabled: c.LinkerDisabled, addr: c.addr, startTime: c.startTime}, nil
	}
	return setRate(ctx, c.PID, c.Old, rateWrite{onlyIf: true, expect: c.New, startTime: c.startTime, addr: c.addr}, nil)
}

// rateWrite holds the conditions of a restoring write.
type rateWrite struct {
	onlyIf    bool // write only if the value is expect
	expect    int
	startTime uint64 // the process must have started then
	addr      uint64 // and keep the rate there
}

// rateTarget is where a process keeps runtime.MemProfileRate.
type rateTarget struct {
	pid                    int
	rateAddr, disabledAddr uint64
	startTime              uint64
}

// setRate stops pid, reads its rate, writes rate as w allows, reads it back
// and releases the process. whileStopped, set by tests, runs between the read
// and the write.
func setRate(ctx context.Context, pid int, rate int, w rateWrite, whileStopped func(context.Context)) (c *RateChange, err error) {
	rt, err := findRate(pid)
	if err != nil {
		return nil, err
	}
	if w.onlyIf && (rt.startTime != w.startTime || rt.rateAddr != w.addr) {
		return nil, fmt.Errorf("process %d was restarted since leakhunt set its runtime.MemProfileRate: nothing written: %w", pid, ErrRateChanged)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("set runtime.MemProfileRate of process %d: %w", pid, err)
	}
	c = &RateChange{PID: pid, addr: rt.rateAddr, startTime: rt.startTime}
	defer lockThread()()
	begin := time.Now()
	st, err := stop(ctx, pid)
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("set runtime.MemProfileRate of process %d: %w", pid, err)
		}
		return nil, err
	}
	defer func() {
		st.detach()
		if c != nil {
			c.Stopped = time.Since(begin)
		}
	}()
	old, err := readWord(pid, rt.rateAddr)
	if err != nil {
		return nil, fmt.Errorf("read runtime.MemProfileRate of process %d: %w", pid, err)
	}
	c.Old, c.New = int(int64(old)), int(int64(old))
	if rt.disabledAddr != 0 {
		if b, err := readWord(pid, rt.disabledAddr&^7); err == nil {
			c.LinkerDisabled = byte(b>>(8*(rt.disabledAddr&7))) != 0
		}
	}
	if whileStopped != nil {
		whileStopped(ctx)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("set runtime.MemProfileRate of process %d: nothing written: %w", pid, err)
	}
	if c.Old < 0 {
		return nil, fmt.Errorf("runtime.MemProfileRate of process %d reads %d, not a rate: nothing written", pid, c.Old)
	}
	if c.Old == rate || w.onlyIf && c.Old != w.expect {
		return c, nil
	}
	if err := writeWord(pid, rt.rateAddr, uint64(rate)); err != nil {
		return nil, fmt.Errorf("write runtime.MemProfileRate into process %d: %w", pid, err)
	}
	back, err := readWord(pid, rt.rateAddr)
	if err != nil || back != uint64(rate) {
		return nil, fmt.Errorf("runtime.MemProfileRate of process %d reads %d after writing %d (%v)", pid, int64(back), rate, err)
	}
	c.New, c.Written = rate, true
	return c, nil
}

// findRate finds runtime.MemProfileRate in the running process pid, from the
// symbol table of its executable and its load address, while it runs.
func findRate(pid int) (*rateTarget, error) {
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
		return nil, fmt.Errorf("no process with PID %d (check the number with `leakhunt ps`): %w", pid, ErrNoProcess)
	}
	if st := threadState(pid, pid); st == 'Z' || st == 'X' {
		return nil, fmt.Errorf("process %d has exited: %w", pid, ErrExited)
	}
	exe, err := executable(pid)
	if err != nil {
		return nil, err
	}
	what := fmt.Sprintf("process %d (%s)", pid, filepath.Base(exe))
	f, err := os.Open(procfs.Exe(pid))
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, permissionError(pid)
		}
		return nil, fmt.Errorf("open the executable of %s: %w", what, err)
	}
	defer f.Close()
	if tracer := tracerPID(pid); tracer > 0 {
		return nil, tracedError(pid, tracer)
	}
	if _, err := buildinfo.Read(f); err != nil {
		return nil, fmt.Errorf("%s is not a Go program (no Go build information in %s): %w", what, exe, ErrNotGo)
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return nil, fmt.Errorf("read the executable of %s: %w", what, err)
	}
	syms, err := ef.Symbols()
	if err != nil {
		if errors.Is(err, elf.ErrNoSymbols) {
			return nil, fmt.Errorf("%s has no symbol table (built with -ldflags=-s or stripped), so leakhunt cannot find runtime.MemProfileRate in it; rebuild without -s, or set the rate in the program: %w", what, ErrNoSymbols)
		}
		return nil, fmt.Errorf("read the symbol table of %s: %w", what, err)
	}
	rt := &rateTarget{pid: pid}
	for _, s := range syms {
		switch s.Name {
		case "runtime.MemProfileRate":
			if s.Size != 8 {
				return nil, fmt.Errorf("runtime.MemProfileRate of %s is %d bytes, not 8: nothing written", what, s.Size)
			}
			rt.rateAddr = s.Value
		case "runtime.disableMemoryProfiling":
			rt.disabledAddr = s.Value
		}
	}
	if rt.rateAddr == 0 {
		return nil, fmt.Errorf("%s has no symbol runtime.MemProfileRate: %w", what, ErrNoSymbols)
	}
	if ef.Type == elf.ET_DYN {
		// A position-independent executable: symbols are relative to where
		// it was loaded, which the entry point in the auxiliary vector says.
		auxv, err := os.ReadFile(fmt.Sprintf("/proc/%d/auxv", pid))
		if err != nil {
			if errors.Is(err, os.ErrPermission) {
				return nil, permissionError(pid)
			}
			return nil, fmt.Errorf("process %d: %w", pid, ErrExited)
		}
		entry := linutil.EntryPointFromAuxv(auxv, 8)
		if entry == 0 {
			return nil, fmt.Errorf("no entry point in the auxiliary vector of %s: nothing written", what)
		}
		bias := entry - ef.Entry
		rt.rateAddr += bias
		if rt.disabledAddr != 0 {
			rt.disabledAddr += bias
		}
	}
	// The word must lie in a writable mapping of the process: a last check
	// that the address is right before anything is written there.
	maps, err := readMaps(pid)
	if err != nil {
		return nil, fmt.Errorf("process %d: %w", pid, ErrExited)
	}
	if m, ok := containing(maps, rt.rateAddr); !ok || !strings.HasPrefix(m.perms, "rw") || rt.rateAddr+8 > m.end {
		return nil, fmt.Errorf("runtime.MemProfileRate of %s is not in writable memory at %#x: nothing written", what, rt.rateAddr)
	}
	rt.startTime, err = startTime(pid)
	if err != nil {
		return nil, fmt.Errorf("process %d: %w", pid, ErrExited)
	}
	return rt, nil
}

// readWord reads one 8-byte word of the process.
func readWord(pid int, addr uint64) (uint64, error) {
	b := make([]byte, 8)
	n, err := unix.ProcessVMReadv(pid, []unix.Iovec{{Base: &b[0], Len: 8}}, []unix.RemoteIovec{{Base: uintptr(addr), Len: 8}}, 0)
	if err != nil {
		return 0, err
	}
	if n != 8 {
		return 0, errors.New("short read")
	}
	return le.Uint64(b), nil
}

// startTime is when the process started, in clock ticks after boot (field 22
// of /proc/PID/stat): with the PID, it names one process for good.
func startTime(pid int) (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	// Fields after the command name start with the state, field 3.
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}
