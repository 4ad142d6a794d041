//go:build !noprof

package expect

import "runtime"

// Referencing runtime.MemProfile keeps the memory profiler on (the linker
// switches it off in programs that cannot read it). Programs built with
// -tags noprof leave this out and run with runtime.MemProfileRate 0.
func init() { runtime.MemProfile(nil, false) }
