// Package attach takes leakhunt snapshots of a running Go process by PID and
// from core files, with no change to the target. It is leakhunt's only user of
// delve's pkg/proc, whose API moves between releases: it stays behind this
// package's small surface (Capture, CaptureCore, WriteCore, CaptureGraph,
// CaptureGraphCore; SetMemProfileRate needs no delve).
//
// A live capture keeps the target's pause short: the binary's debug
// information is loaded first, while the process runs; then every thread is
// stopped with PTRACE_SEIZE and PTRACE_INTERRUPT (never delve's
// native.Attach, which loads DWARF while the process is stopped and plants
// breakpoints in it), the runtime structures a snapshot needs are copied out
// with process_vm_readv (data and bss, every g and m, the live part of every
// goroutine stack, the threads' registers, the memory-profile buckets), and
// the threads are released. Only then is the copy turned into a small ELF
// core in memory, which delve reads like any core file: goroutines, stacks,
// symbols. The target is stopped for the copy alone (Capture.Stopped), and
// nothing is written into it unless Options.EnableProfiling asks to.
//
// SetMemProfileRate is the one other write, made only when the caller asks:
// it stops the process just long enough to read and write the word
// runtime.MemProfileRate, found through the binary's symbol table, and
// RateChange.Restore sets the old value back.
//
// The heap profile is rebuilt from the runtime's memory-profile buckets
// (runtime.mbuckets) exactly as runtime.MemProfile and runtime/pprof build
// /debug/pprof/heap: the published cycle plus the one MemProfile would flush,
// values scaled for sampling, PCs symbolized at pc-1 with inlined calls as
// lines of one location, leading runtime frames hidden. Goroutines are listed
// as the runtime's debug=2 dump lists them: system goroutines, runtime frames
// and compiler wrappers left out, states named by the target's own tables,
// wait durations from g.waitsince against the target's monotonic clock.
//
// Memory statistics come from the runtime's counters without stopping its
// world, so they differ from runtime.ReadMemStats in two ways: objects still
// free in per-P allocation caches count as allocated (ReadMemStats flushes
// the caches first), and NextGC is the GOGC goal, ignoring the memory limit.
//
// Options.Locals needs the heap: the process's writable memory is copied too,
// which makes the pause grow with the heap. A core
// carries no clock reading, so wait durations from a core are measured up to
// the last GC before the dump. WriteCore writes a core while the process is
// stopped: its pause grows with the process's memory.
//
// CaptureGraph copies what a walk of the heap needs (see profiler/heapgraph)
// the same way: while the target is stopped, the pages it wrote of the heap
// arenas' in-use spans (found through mheap_'s arenas, their page-in-use
// bitmaps and span maps), its private anonymous memory outside the arenas
// (span and arena metadata, GC bits, itabs, finalizer records), data, bss,
// every g and live stack; the copy is read in parallel with batched
// process_vm_readv, into buffers allocated and faulted in before the stop.
// The walk and the goroutine stack roots (frame variables located by delve
// in a small core of the stacks) come after the release. CaptureGraphCore
// does the same from a core file.
package attach

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-delve/delve/pkg/goversion"
)

// EnabledProfileRate is the runtime.MemProfileRate Options.EnableProfiling
// writes into a target whose memory profiler is off: the runtime's default.
const EnabledProfileRate = 512 * 1024

// Options tune a capture. The zero value is ready to use.
type Options struct {
	// Locals reads each frame's arguments and local variables into
	// Frame.Vars. It copies the process's writable memory while it is
	// stopped, so the pause grows with the heap.
	Locals bool
	// EnableProfiling writes runtime.MemProfileRate = EnabledProfileRate into
	// a target whose memory profiler is off. The only write leakhunt ever
	// makes into a target; the caller asks the user first.
	EnableProfiling bool
	// SkipHeap, SkipGoroutines and SkipMemStats leave parts out of the
	// snapshot; skipping the heap also shortens the pause.
	SkipHeap, SkipGoroutines, SkipMemStats bool
	// Now gives the capture time; nil means time.Now.
	Now func() time.Time
	// Tool names the program writing the snapshot.
	Tool string

	// whileStopped, set by tests, runs while the target is stopped.
	whileStopped func(ctx context.Context)
}

func (o *Options) setDefaults() {
	if o.Now == nil {
		o.Now = time.Now
	}
}

// CoreStats describes a core file WriteCore wrote.
type CoreStats struct {
	Bytes    uint64
	Segments int
	// Stopped is how long the target was stopped.
	Stopped  time.Duration
	Duration time.Duration
}

// The errors Capture, CaptureCore and WriteCore wrap, so callers can tell the
// cases apart with errors.Is. Each wrapping message is one line saying what
// was wrong and what to do.
var (
	ErrNoProcess     = errors.New("no such process")
	ErrNotGo         = errors.New("not a Go program")
	ErrGoVersion     = errors.New("Go version not supported")
	ErrNoDWARF       = errors.New("no DWARF debug information")
	ErrPermission    = errors.New("no permission to attach")
	ErrTraced        = errors.New("already being traced")
	ErrExited        = errors.New("process exited during the attach")
	ErrCoreMismatch  = errors.New("core does not match the executable")
	ErrNoExecutable  = errors.New("executable not found")
	ErrProfilerWrite = errors.New("could not switch on the memory profiler")
)

// supportedGo names the Go releases whose binaries delve (and so leakhunt) reads.
func supportedGo() string {
	return fmt.Sprintf("Go 1.%d to 1.%d", goversion.MinSupportedVersionOfGoMinor, goversion.MaxSupportedVersionOfGoMinor)
}
