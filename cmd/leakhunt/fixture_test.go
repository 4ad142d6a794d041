package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof" // the fixture server is a real pprof endpoint
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// The fixture commands below run as separate processes started by test
// scripts: real servers on 127.0.0.1 that leakhunt captures from.

// retained holds what the fixture server leaks, so the heap profile has a
// known allocation site: retainBuffers.
var (
	retainedMu sync.Mutex
	retained   [][]byte
)

//go:noinline
func retainBuffers(n int) {
	retainedMu.Lock()
	defer retainedMu.Unlock()
	for i := 0; i < n; i++ {
		retained = append(retained, make([]byte, 64<<10))
	}
}

//go:noinline
func blockForever(ch chan int) { ch <- 1 }

// pprofServerMain serves net/http/pprof on 127.0.0.1:0, writes the address to
// -addrfile, and leaks on request: GET /grow?n=N retains N more 64 KiB
// buffers and starts N goroutines blocked on a channel send. With -every D it
// also leaks one buffer (no goroutine) every D by itself.
func pprofServerMain() int {
	fs := flag.NewFlagSet("pprofserver", flag.ContinueOnError)
	addrFile := fs.String("addrfile", "", "write the listening address here")
	initial := fs.Int("leak", 16, "buffers and goroutines to leak at start")
	every := fs.Duration("every", 0, "leak one more buffer this often (0: only on /grow)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	runtime.MemProfileRate = 1 // every allocation sampled: exact, deterministic profiles
	grow := func(n int) {
		retainBuffers(n)
		for i := 0; i < n; i++ {
			go blockForever(make(chan int))
		}
		runtime.GC() // publish the heap profile
	}
	grow(*initial)
	if *every > 0 {
		go func() {
			for range time.Tick(*every) {
				retainBuffers(1)
			}
		}()
	}
	http.HandleFunc("/grow", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		grow(n)
		fmt.Fprintln(w, "ok")
	})
	return serve(*addrFile, http.DefaultServeMux)
}

// hangServerMain accepts HTTP requests and never answers them.
func hangServerMain() int {
	fs := flag.NewFlagSet("hangserver", flag.ContinueOnError)
	addrFile := fs.String("addrfile", "", "write the listening address here")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	return serve(*addrFile, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Minute):
		}
	}))
}

// webServerMain is an ordinary web server, not a pprof endpoint: HTML for
// every path, and HTTP 500 under /broken/.
func webServerMain() int {
	fs := flag.NewFlagSet("webserver", flag.ContinueOnError)
	addrFile := fs.String("addrfile", "", "write the listening address here")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	return serve(*addrFile, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.URL.Path) >= 8 && r.URL.Path[:8] == "/broken/" {
			http.Error(w, "database on fire", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "<html><body>hello</body></html>")
	}))
}

// serve listens on 127.0.0.1:0, writes the address atomically to addrFile
// and serves until SIGTERM or SIGINT.
func serve(addrFile string, h http.Handler) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if addrFile != "" {
		tmp := addrFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(ln.Addr().String()), 0o600); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if err := os.Rename(tmp, addrFile); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	srv := &http.Server{Handler: h}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
