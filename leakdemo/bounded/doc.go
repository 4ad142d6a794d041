// Command bounded is a control: a page cache with an LRU bound of 2048
// entries. It is not a leak, though it looks like one at first.
//
// What it does: for the first 2048 requests (about 26 s at the default
// -rate 80) every page is new and the heap grows — about 2.5 MiB in all,
// four times as fast as the cache demo leaks, at the same kind of site
// (render, main.go:77). Then the LRU evicts one page per new one
// (main.go:59) and the heap stays flat.
//
// What a tool must do: see the plateau. Growth that stops is warm-up, not a
// leak; a detector that calls this a leak after a minute cries wolf. (A
// warm-up is a leak until it stops: run it with -rate 20 and the same cache
// grows for 100 s exactly as the cache demo leaks. No detector can tell the
// two apart before the plateau; docs/verdicts.md, "Warm-up or leak".)
//
// -fixed changes nothing.
//
// Python twin: functools.lru_cache(maxsize=2048).
package main
