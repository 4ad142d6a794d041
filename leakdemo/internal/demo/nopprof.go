//go:build nopprof

package demo

import (
	"context"
	"errors"
)

// ServePprof always fails in a nopprof build: the binary must not reference
// runtime/pprof, so that the linker turns its memory profiler off
// (runtime.MemProfileRate is 0) — the case leakhunt's attach work handles.
func ServePprof(ctx context.Context, addr string) (string, error) {
	return "", errors.New("-addr is not available: this binary was built with -tags nopprof (no net/http/pprof, memory profiler off); rebuild without the tag to serve pprof")
}
