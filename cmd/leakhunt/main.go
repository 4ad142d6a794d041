// Command leakhunt finds memory and goroutine leaks in Go programs: it takes
// snapshots of a running program (from its net/http/pprof endpoint, by PID,
// from a core file or a saved profile), compares them, and names what grows.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], systemStreams())
	stop()
	os.Exit(code)
}
