package main

/*
#include <stdlib.h>
#include <string.h>
*/
import "C"

import (
	"context"
	"os"
	"unsafe"

	"github.com/leakhunt/leakhunt/leakdemo/internal/demo"
)

var spec = demo.Spec{
	Name:  "cgo",
	Kind:  demo.Leaky,
	Leaks: "a 64 KiB C.malloc buffer per request, never freed: RSS grows while the Go heap stays flat (~3.75 MiB/min at -rate 1)",
	Fixed: "the buffer is freed with C.free",
	Rate:  1,
	Run:   run,
}

func main() { os.Exit(demo.Main(spec)) }

// bufSize is the size of the C scratch buffer each request uses; below
// glibc's mmap threshold, so a freed buffer is reused, not unmapped.
const bufSize = 64 << 10

// server compresses requests with a C library that wants a C buffer.
type server struct {
	fixed bool
}

func run(ctx context.Context, cfg demo.Config) error {
	s := &server{fixed: cfg.Fixed}
	return demo.Every(ctx, cfg.Rate, func(i int) { s.handle(i) })
}

// handle serves request i with a scratch buffer from C.
func (s *server) handle(i int) int {
	p := C.malloc(bufSize) // the leak: never freed in the leaky variant
	if s.fixed {
		defer C.free(p) // the fix
	}
	C.memset(p, C.int(i), bufSize) // touch every page, as real use would
	b := unsafe.Slice((*byte)(p), bufSize)
	return int(b[0]) + int(b[bufSize-1])
}
