// Command sender is a service that calls a slow backend in a goroutine and
// gives up after a timeout — leaving the goroutine blocked forever on an
// unbuffered send: the forgotten sender.
//
// What leaks: one goroutine per timed-out request (every 4th lookup is
// slower than the 50 ms timeout), with its stack and the 8 KiB result it
// cannot deliver: about 75 goroutines and 0.65 MiB of heap a minute at the
// default -rate 5, plus 75 goroutine stacks.
//
// Where: handle makes an unbuffered channel (main.go:42); after the timeout
// nobody receives from it, so the lookup goroutine blocks on ch <- r
// (main.go:50) forever, keeping the result allocated at main.go:65.
//
// Why: a send on an unbuffered channel waits for a receiver. The caller's
// select took the time.After branch and returned; the channel is now
// reachable only from the blocked goroutine, which the garbage collector
// never frees. Go 1.26's goroutineleak profile (GOEXPERIMENT, default in
// 1.27) detects exactly this case.
//
// The fix (-fixed): give the channel room for the one result,
// make(chan []byte, 1) (main.go:44), so the send never blocks; or select on
// the request's context in the sender too.
//
// Python twin: a dangling awaitable — asyncio.wait_for cancels the awaiting
// side while a producer task still waits to put into a full asyncio.Queue.
package main
