// Command cache is a page server that memoizes every rendered page in a map
// that is never evicted: the unbounded-cache leak.
//
// What leaks: one rendered 1 KiB page per request, plus its key and map
// entry — about 1.4 MiB a minute at the default -rate 20.
//
// Where: render allocates the page (main.go:97); page stores it in
// server.pages (main.go:67) and nothing ever deletes from that map. The keys
// include a session id that is new on every request, so the cache never
// hits: it only grows.
//
// Why: a cache without a bound or an expiry is a leak with a good excuse.
// The heap profile points at render, where the pages are allocated, not at
// the map that keeps them; what keeps them is main.go:67.
//
// The fix (-fixed): an LRU of 256 pages — lruPage evicts the least recently
// used one (main.go:79). Better still, key the cache on something that
// repeats.
//
// Python twin: functools.lru_cache(maxsize=None) or a hand-written memoize
// dict on a method whose arguments never repeat; tracemalloc's top lines
// point at the function that builds the values.
package main
