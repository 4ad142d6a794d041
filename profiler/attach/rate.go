package attach

import (
	"errors"
	"fmt"
	"time"
)

// RateChange is what SetMemProfileRate or RateChange.Restore did to a
// process's runtime.MemProfileRate: the value found, the value left, and how
// long the process was stopped to do it.
type RateChange struct {
	PID int
	// Old is runtime.MemProfileRate as found; New is what it is now. They
	// are equal when nothing was written (Written false).
	Old, New int
	// Written says whether leakhunt wrote into the process.
	Written bool
	// Stopped is how long the process was stopped: the read, the write and
	// the read-back happen while every thread is held.
	Stopped time.Duration
	// LinkerDisabled is the target's runtime.disableMemoryProfiling: its
	// binary never references runtime.MemProfile (it does not import
	// runtime/pprof), so the linker had the runtime set the rate to 0 at
	// start. A rate written later still makes the program sample
	// allocations, from then on; only leakhunt's PID captures read them,
	// since the program has no heap endpoint.
	LinkerDisabled bool

	// What identifies the process, so that Restore never writes into
	// another process that got the same PID.
	addr      uint64
	startTime uint64
}

// The errors SetMemProfileRate and RateChange.Restore wrap besides those of
// Capture (ErrNoProcess, ErrNotGo, ErrPermission, ErrTraced, ErrExited).
var (
	// ErrBadRate is a rate of 0 or less: 0 switches the memory profiler
	// off, which is never what a leak hunt wants.
	ErrBadRate = errors.New("the rate must be more than 0")
	// ErrNoSymbols is a binary stripped of its symbol table (-ldflags=-s):
	// leakhunt cannot find runtime.MemProfileRate in it.
	ErrNoSymbols = errors.New("no symbol table")
	// ErrRateChanged is returned by Restore when the process was not the
	// one SetMemProfileRate wrote into (it exited and its PID was reused).
	ErrRateChanged = errors.New("not the process leakhunt changed")
)

// checkRate refuses rates that would switch the profiler off.
func checkRate(rate int) error {
	if rate <= 0 {
		return fmt.Errorf("runtime.MemProfileRate %d: %w (1 records every allocation, 524288 is Go's default)", rate, ErrBadRate)
	}
	return nil
}
