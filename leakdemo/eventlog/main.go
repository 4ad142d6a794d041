package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/leakhunt/leakhunt/leakdemo/internal/demo"
)

var spec = demo.Spec{
	Name:  "eventlog",
	Kind:  demo.Leaky,
	Leaks: "a 256-byte event per request appended to the global history slice, never trimmed (~1 MiB/min at -rate 50)",
	Fixed: "history is a ring of the last 1024 events",
	Rate:  50,
	Run:   run,
}

func main() { os.Exit(demo.Main(spec)) }

// event is one entry of the audit log.
type event struct {
	at      time.Time
	what    string
	payload []byte
}

// ringSize is how many events the fixed variant keeps.
const ringSize = 1024

var (
	// history is the audit log, for the /history page.
	history []event
	// ring and next are the fixed variant's history.
	ring [ringSize]event
	next int
)

func run(ctx context.Context, cfg demo.Config) error {
	return demo.Every(ctx, cfg.Rate, func(i int) { handle(i, cfg.Fixed) })
}

// handle serves request i and records it in the audit log.
func handle(i int, fixed bool) {
	e := event{at: time.Now(), what: fmt.Sprintf("request %d", i), payload: make([]byte, 256)}
	e.payload[0] = byte(i)
	if fixed {
		ring[next%ringSize] = e // the fix: overwrite the oldest event
		next++
		return
	}
	history = append(history, e) // the leak: the log only grows
}
