package main

import (
	"context"
	"errors"
	"os"
	"sync"
	"time"

	"github.com/leakhunt/leakhunt/leakdemo/internal/demo"
)

var spec = demo.Spec{
	Name:  "sender",
	Kind:  demo.Leaky,
	Leaks: "a goroutine and its 8 KiB result per timed-out lookup, blocked forever on an unbuffered send (~75 goroutines and ~0.65 MiB of heap a minute at -rate 5, stacks besides)",
	Fixed: "the result channel has room for the one send",
	Rate:  5,
	Run:   run,
}

func main() { os.Exit(demo.Main(spec)) }

var errTimeout = errors.New("lookup timed out")

// server answers requests with a backend lookup and gives up after timeout.
type server struct {
	fixed   bool
	timeout time.Duration // how long a request waits for the backend
	slow    time.Duration // how long every 4th lookup takes

	lookups sync.WaitGroup // lookups in flight, for tests
}

func run(ctx context.Context, cfg demo.Config) error {
	s := &server{fixed: cfg.Fixed, timeout: 50 * time.Millisecond, slow: 100 * time.Millisecond}
	return demo.Every(ctx, cfg.Rate, func(i int) { s.handle(i) })
}

// handle asks the backend for item i and waits at most s.timeout.
func (s *server) handle(i int) ([]byte, error) {
	ch := make(chan []byte) // the leak: nobody receives after the timeout, so the send blocks forever
	if s.fixed {
		ch = make(chan []byte, 1) // the fix: the send always completes, received or not
	}
	s.lookups.Add(1)
	go func() {
		r := s.lookup(i)
		s.lookups.Done()
		ch <- r
	}()
	select {
	case r := <-ch:
		return r, nil
	case <-time.After(s.timeout):
		return nil, errTimeout
	}
}

// lookup is the backend call: every 4th one is slower than the timeout.
func (s *server) lookup(i int) []byte {
	if i%4 == 0 {
		time.Sleep(s.slow)
	}
	r := make([]byte, 8<<10)
	r[0] = byte(i)
	return r
}
