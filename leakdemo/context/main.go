package main

import (
	"context"
	"os"

	"github.com/leakhunt/leakhunt/leakdemo/internal/demo"
)

var spec = demo.Spec{
	Name:  "context",
	Kind:  demo.Leaky,
	Leaks: "a context.WithCancel child per request and its 2 KiB request body, kept by the never-cancelled server context (~1.3 MiB/min at -rate 10)",
	Fixed: "each request cancels its context when it ends",
	Rate:  10,
	Run:   run,
}

func main() { os.Exit(demo.Main(spec)) }

// server holds a context that lives as long as the server; every request's
// context is its child.
type server struct {
	fixed bool
	base  context.Context
}

func run(ctx context.Context, cfg demo.Config) error {
	s := &server{fixed: cfg.Fixed, base: ctx}
	return demo.Every(ctx, cfg.Rate, func(i int) { s.handle(i) })
}

type bodyKey struct{}

// request is one request's state.
type request struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// handle serves request i.
func (s *server) handle(i int) int {
	r := s.newRequest(i)
	if s.fixed {
		defer r.cancel() // the fix: cancelling removes the child from its parent
	}
	return r.process()
}

// newRequest derives the request's context from the server's: the parent
// keeps a reference to every child until the child is cancelled.
func (s *server) newRequest(i int) *request {
	body := make([]byte, 2<<10)
	body[0] = byte(i)
	ctx := context.WithValue(s.base, bodyKey{}, body)
	ctx, cancel := context.WithCancel(ctx) // the leak: cancel is never called
	return &request{ctx: ctx, cancel: cancel}
}

func (r *request) process() int {
	body := r.ctx.Value(bodyKey{}).([]byte)
	return int(body[0])
}
