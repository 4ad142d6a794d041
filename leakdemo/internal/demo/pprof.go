//go:build !nopprof

package demo

import (
	"context"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof/ and keeps the memory profiler on
)

// ServePprof serves net/http/pprof on addr until ctx is done and returns the
// endpoint's URL, with the port the system picked when addr's port is 0.
//
// Because this file imports net/http/pprof, the binary references
// runtime/pprof and the linker keeps runtime.MemProfileRate at its default
// (512 KiB). Build with -tags nopprof for a binary whose profiler is off.
func ServePprof(ctx context.Context, addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("serve pprof on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: http.DefaultServeMux}
	go srv.Serve(ln)
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	return fmt.Sprintf("http://%s/debug/pprof/", ln.Addr()), nil
}
