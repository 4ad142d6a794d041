package main

import (
	"context"
	"os"

	"github.com/leakhunt/leakhunt/leakdemo/internal/demo"
)

var spec = demo.Spec{
	Name:  "ranger",
	Kind:  demo.Leaky,
	Leaks: "a goroutine and its 4 KiB tally per request, ranging over a channel nobody closes (~120 goroutines and ~0.55 MiB of heap a minute at -rate 2, stacks besides)",
	Fixed: "the producer closes the channel when done",
	Rate:  2,
	Run:   run,
}

func main() { os.Exit(demo.Main(spec)) }

// server handles uploads: each one's chunks are tallied by a goroutine.
type server struct {
	fixed bool
}

func run(ctx context.Context, cfg demo.Config) error {
	s := &server{fixed: cfg.Fixed}
	return demo.Every(ctx, cfg.Rate, func(i int) { s.handle(i) })
}

// tally counts the bytes of an upload's chunks.
type tally struct {
	seen  []byte // per-chunk flags, 4 KiB
	total int
}

// handle processes upload i in 8 chunks.
func (s *server) handle(i int) {
	chunks := make(chan int)
	t := &tally{seen: make([]byte, 4<<10)}
	go t.count(chunks)
	for c := range 8 {
		chunks <- c + i
	}
	if s.fixed {
		close(chunks) // the fix: closing ends the range in count
	}
	// the leak: without close, count ranges forever over an empty channel
}

// count tallies chunks until the channel is closed.
func (t *tally) count(chunks <-chan int) {
	for c := range chunks {
		t.seen[c%len(t.seen)] = 1
		t.total += c
	}
}
