// Command eventlog records every request in a global slice that only grows:
// the audit log, the history, the list of "recent" events that is never
// trimmed.
//
// What leaks: one event per request — its 256-byte payload, its text and
// its slot in the slice — about 1 MiB a minute at the default -rate 50.
//
// Where: handle allocates the event (main.go:47) and appends it to the
// package variable history (main.go:54). append also reallocates the backing
// array as it grows, so the heap profile shows two sites: the payloads and
// the slice itself.
//
// Why: a package-level variable is a GC root; everything reachable from it
// lives forever.
//
// The fix (-fixed): keep the last 1024 events in a ring (main.go:50), or
// write the log out instead of holding it.
//
// Python twin: a module-level list appended to forever; objgraph's
// show_growth() shows list and dict counts climbing.
package main
