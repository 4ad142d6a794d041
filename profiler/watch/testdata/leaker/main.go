// Command leaker is the test patient of profiler/watch: a small service that
// serves net/http/pprof on 127.0.0.1 and, by -mode, leaks heap, leaks
// goroutines, or does the things that look like leaks and are not.
//
//	heap       retains 64 KiB every 25 ms at the line marked LEAK-HEAP
//	goroutine  starts a goroutine every 50 ms that blocks forever on a send
//	           (the line marked LEAK-GOROUTINE)
//	bounded    a cache of 256 × 16 KiB entries that fills in a second, then evicts
//	sawtooth   an 8 MiB buffer every 500 ms, dropped 200 ms later
//	pool       8 workers idle on a channel receive
//	controls   bounded, sawtooth and pool at once
//
// Every mode also makes short-lived garbage, as a service does. It prints
// "pprof: http://127.0.0.1:PORT/debug/pprof/" and runs until SIGTERM, SIGINT
// or -exit-after.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

var (
	retained [][]byte
	sink     []byte
	cache    = map[int][]byte{}
)

//go:noinline
func leakHeap() {
	retained = append(retained, make([]byte, 64<<10)) // LEAK-HEAP
}

//go:noinline
func leakGoroutine() {
	ch := make(chan int)
	go func() {
		ch <- 1 // LEAK-GOROUTINE
	}()
}

//go:noinline
func cachePut(i int) {
	cache[i%256] = make([]byte, 16<<10)
}

//go:noinline
func churn(i int) {
	b := make([]byte, 8<<10+i%4096)
	sink = b
	_ = strings.Repeat("x", 100+i%200)
}

func every(ctx context.Context, d time.Duration, f func(i int)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f(i)
		}
	}
}

func main() {
	mode := flag.String("mode", "heap", "heap, goroutine, bounded, sawtooth, pool or controls")
	exitAfter := flag.Duration("exit-after", 0, "exit after this long (0: run until signalled)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *exitAfter > 0 {
		ctx, stop = context.WithTimeout(ctx, *exitAfter)
		defer stop()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go http.Serve(ln, nil)
	fmt.Printf("leaker %s, pid %d\npprof: http://%s/debug/pprof/\n", *mode, os.Getpid(), ln.Addr())

	go every(ctx, 2*time.Millisecond, churn)
	has := func(m string) bool { return *mode == m || (*mode == "controls" && m != "heap" && m != "goroutine") }
	if has("heap") {
		go every(ctx, 25*time.Millisecond, func(int) { leakHeap() })
	}
	if has("goroutine") {
		go every(ctx, 50*time.Millisecond, func(int) { leakGoroutine() })
	}
	if has("bounded") {
		go every(ctx, 4*time.Millisecond, cachePut)
	}
	if has("sawtooth") {
		go every(ctx, 500*time.Millisecond, func(int) {
			buf := make([]byte, 8<<20)
			for i := range buf {
				buf[i] = 1
			}
			time.Sleep(200 * time.Millisecond)
			runtime.KeepAlive(buf)
		})
	}
	if has("pool") {
		work := make(chan int)
		for range 8 {
			go func() {
				for range work {
				}
			}()
		}
	}
	<-ctx.Done()
}
