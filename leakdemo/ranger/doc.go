// Command ranger tallies each upload's chunks in a goroutine that ranges over
// a channel — which the producer never closes.
//
// What leaks: one goroutine per request, blocked in for range on an empty
// channel, with its 4 KiB tally: about 120 goroutines and 0.55 MiB of heap a
// minute at the default -rate 2, plus 120 goroutine stacks.
//
// Where: handle starts the goroutine (main.go:41) with a tally allocated at
// main.go:40; count ranges over the channel (main.go:53); handle sends every
// chunk and returns without close (main.go:48).
//
// Why: for range over a channel ends only when the channel is closed. The
// goroutine dump shows the goroutines in "chan receive", all created at
// main.go:41, their number growing.
//
// The fix (-fixed): the producer closes the channel when it is done
// (main.go:46) — by convention the sender closes.
//
// Python twin: a consumer task blocked on await queue.get() for a sentinel
// that is never put; asyncio.all_tasks() keeps growing.
package main
