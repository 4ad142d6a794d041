package attach

import (
	"time"

	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

// GraphCapture describes how a heap graph was captured (CaptureGraph,
// CaptureGraphCore).
type GraphCapture struct {
	// Target is the process or core the graph was taken from.
	Target snapshot.Target
	// Stopped is how long the process was stopped (zero for a core);
	// Copying is the part of it spent copying memory.
	Stopped, Copying time.Duration
	// Duration is the whole capture, the heap walk included.
	Duration time.Duration
	// CopiedBytes is how much memory was copied out of the stopped process
	// (for a core: the size of the memory image read from it).
	CopiedBytes uint64
	// Notes say what was approximated or left out, one line each.
	Notes []string
}
