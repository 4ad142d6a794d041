// Command race counts with n = n + 1 from 8 goroutines at once and prints
// how many increments were lost: a data race. It leaks no memory.
//
// What goes wrong: n = n + 1 (main.go:56) is a load and a store; two
// goroutines that interleave between them both store the same value and
// one increment is lost. Each round prints "round N: 400000 increments,
// counted C, lost L" — L is usually in the thousands on a multi-core
// machine.
//
// How to catch it: build or run it with the race detector,
//
//	go run -race ./leakdemo/race        # or: leakhunt demo run --race race
//
// which prints "WARNING: DATA RACE" with both goroutines' stacks and makes
// the program exit with status 66.
//
// The fix (-fixed): an atomic counter, an.Add(1) (main.go:54), or a
// sync.Mutex around the increment; then every round loses 0.
//
// Python twin: counter += 1 from several threads, which the GIL does not
// make atomic either.
package main
