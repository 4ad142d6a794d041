// Command sawtooth is a control: every 2 s (at the default -rate 0.5) it
// builds a 16 MiB report in a temporary buffer, holds it for 200 ms, and
// drops it. It is not a leak.
//
// What it does: the heap jumps by 16 MiB and falls back after the next GC —
// a sawtooth. A snapshot taken while a report is held shows 16 MiB in use at
// report (main.go:32); the next one may not. After a GC the live heap is
// what it was.
//
// What a tool must do: not mistake the teeth for growth — compare minima,
// not single samples.
//
// -fixed changes nothing.
//
// Python twin: a large temporary list or bytes object built per batch.
package main
