// Command cgo gets a scratch buffer from C.malloc for every request and never
// frees it: memory the Go garbage collector does not know about.
//
// What leaks: 64 KiB of C heap per request — about 3.75 MiB a minute of RSS
// at the default -rate 1 — while the Go heap stays flat. Go's heap profile
// and runtime.MemStats do not see it; only RSS (/proc/PID/status VmRSS)
// does.
//
// Where: handle calls C.malloc (main.go:44) and, in the leaky variant, never
// C.free.
//
// Why: memory from C is not Go memory: no GC, no finalizer, no profile.
// The symptom is the gap: RSS grows, HeapInuse does not.
//
// The fix (-fixed): defer C.free(p) (main.go:46) right after the malloc.
//
// Python twin: a C extension that leaks: tracemalloc (which sees Python's
// allocator only) shows nothing while the process's RSS grows.
//
// Building it needs cgo and a C compiler (CGO_ENABLED=1, gcc or clang).
package main
