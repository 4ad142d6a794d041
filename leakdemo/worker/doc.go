// Command worker starts a heartbeat goroutine for every request and never
// stops it: a per-request worker with no way to end it.
//
// What leaks: one goroutine per request, its ticker, and 4 KiB of state:
// about 120 goroutines and 0.6 MiB of heap a minute at the default -rate 2,
// plus 120 goroutine stacks. The
// goroutines are not blocked forever — they wake every 5 s — so a detector
// of deadlocked goroutines misses them; only their growing count shows.
//
// Where: handle calls startHeartbeat (main.go:36), which allocates the state
// (main.go:57) and starts loop (main.go:58); nothing calls Stop.
//
// Why: the Start-without-Stop contract violation. Every goroutine needs an
// owner that ends it.
//
// The fix (-fixed): the request stops its heartbeat when it ends,
// defer h.Stop() (main.go:38); or pass it the request's context.
//
// Python twin: asyncio.create_task() whose task is never awaited or
// cancelled (the dangling task: "Task was destroyed but it is pending!").
package main
