package main

import (
	"context"
	"os"
	"time"

	"github.com/leakhunt/leakhunt/leakdemo/internal/demo"
)

var spec = demo.Spec{
	Name:  "worker",
	Kind:  demo.Leaky,
	Leaks: "a heartbeat goroutine, its ticker and 4 KiB of state per request, started and never stopped (~120 goroutines and ~0.6 MiB of heap a minute at -rate 2, stacks besides)",
	Fixed: "the request stops its heartbeat when it ends",
	Rate:  2,
	Run:   run,
}

func main() { os.Exit(demo.Main(spec)) }

// server handles long requests; each one keeps its session alive with a
// heartbeat worker.
type server struct {
	fixed bool
	every time.Duration // heartbeat interval
}

func run(ctx context.Context, cfg demo.Config) error {
	s := &server{fixed: cfg.Fixed, every: 5 * time.Second}
	return demo.Every(ctx, cfg.Rate, func(i int) { s.handle(i) })
}

// handle serves request i.
func (s *server) handle(i int) int {
	h := startHeartbeat(i, s.every) // the leak: started per request...
	if s.fixed {
		defer h.Stop() // the fix: ...and stopped when the request ends
	}
	return process(i, h)
}

func process(i int, h *heartbeat) int {
	h.state[0] = byte(i)
	return int(h.state[0])
}

// heartbeat pings a session's backend every interval until stopped.
type heartbeat struct {
	id    int
	state []byte
	stop  chan struct{}
	beats int
}

func startHeartbeat(id int, every time.Duration) *heartbeat {
	h := &heartbeat{id: id, state: make([]byte, 4<<10), stop: make(chan struct{})}
	go h.loop(every)
	return h
}

// Stop ends the heartbeat's goroutine.
func (h *heartbeat) Stop() { close(h.stop) }

func (h *heartbeat) loop(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			h.beats++
			h.state[h.beats%len(h.state)]++
		case <-h.stop:
			return
		}
	}
}
