// Command pool is a control: a pool of 16 workers (main.go:41) that wait on
// a channel receive (main.go:50) between jobs. It is not a leak.
//
// What it does: a goroutine dump shows 16 goroutines in "chan receive",
// some for minutes — which is what leaked goroutines look like too. But
// their number never changes however many jobs run, and Close ends them
// all.
//
// What a tool must do: judge goroutines by whether their count grows, not
// by how long they have waited.
//
// -fixed changes nothing.
//
// Python twin: a concurrent.futures.ThreadPoolExecutor's idle threads.
package main
