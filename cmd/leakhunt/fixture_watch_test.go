package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"
)

// watchFixtureMain is the fixture command "watchfix" of the watch
// scripts:
//
//	watchfix serve -mode heap|controls   a program serving net/http/pprof that
//	                                          prints its URL and leaks (or not)
//	watchfix ls DIR                        lists DIR's files with their modes
//	watchfix rc ARGS...                   runs leakhunt ARGS and prints its
//	                                          exit status to stderr, exiting 0
func watchFixtureMain() int {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: watchfix serve|rc ...")
		return 2
	}
	switch os.Args[1] {
	case "serve":
		return watchServe(os.Args[2:])
	case "ls":
		entries, err := os.ReadDir(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		for _, e := range entries {
			if fi, err := e.Info(); err == nil {
				fmt.Printf("%s %s\n", fi.Mode(), e.Name())
			}
		}
		return 0
	case "rc":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, os.Args[2:], systemStreams())
		stop()
		fmt.Fprintf(os.Stderr, "exit status %d\n", code)
		return 0
	}
	fmt.Fprintf(os.Stderr, "watchfix: unknown subcommand %q\n", os.Args[1])
	return 2
}

var (
	watchRetained [][]byte
	watchSink     []byte
	watchCache    = map[int][]byte{}
)

//go:noinline
func watchLeak() {
	watchRetained = append(watchRetained, make([]byte, 64<<10)) // the leak
}

//go:noinline
func watchCachePut(i int) { watchCache[i%128] = make([]byte, 16<<10) }

// watchServe leaks 64 KiB every 25 ms (-mode heap; -mode heap-noprofile
// does the same with its memory profiler switched off, as some services
// do), or runs a warm bounded cache and a sawtooth of 4 MiB temporary
// buffers (-mode controls), with short-lived garbage in all, until SIGTERM.
func watchServe(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	mode := fs.String("mode", "heap", "heap, heap-noprofile or controls")
	addrFile := fs.String("addrfile", "", "also write the listening address to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *mode == "heap-noprofile" {
		runtime.MemProfileRate = 0
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if *mode == "controls" {
		// A bounded cache already warm: its warm-up is over before the watch
		// starts (a warm-up as long as the time to a verdict is, for that
		// long, indistinguishable from a leak: docs/verdicts.md).
		for i := range 128 {
			watchCachePut(i)
		}
	}
	go http.Serve(ln, http.DefaultServeMux) // net/http/pprof is registered by fixture_test.go
	if *addrFile != "" {
		if err := os.WriteFile(*addrFile, []byte(ln.Addr().String()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	fmt.Printf("pprof: http://%s/debug/pprof/\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return 0
		case <-tick.C:
		}
		watchSink = make([]byte, 8<<10)
		switch *mode {
		case "heap", "heap-noprofile":
			watchLeak()
		case "controls":
			watchCachePut(i)
			if i%20 == 0 {
				buf := make([]byte, 4<<20)
				watchSink = buf[:1]
				runtime.KeepAlive(buf)
			}
		}
	}
}
