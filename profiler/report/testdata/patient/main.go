// Command patient is the program the HTML report's fixture series was
// captured from (see fixture_test.go): it serves net/http/pprof on
// 127.0.0.1, prints "addr HOST:PORT", retains a 32 KiB buffer every 20 ms at
// the line marked LEAK-HEAP, starts a goroutine that blocks forever every
// 100 ms at the line marked LEAK-GOROUTINE, and keeps a small pool of idle
// workers, until it is signalled.
package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"
)

var (
	retained [][]byte
	sink     []byte
)

//go:noinline
func remember(n int) {
	retained = append(retained, make([]byte, n)) // LEAK-HEAP
}

//go:noinline
func forget() {
	ch := make(chan int)
	go func() {
		ch <- 1 // LEAK-GOROUTINE
	}()
}

//go:noinline
func churn(i int) {
	sink = make([]byte, 4096+i%4096)
}

func worker(jobs <-chan int) {
	for j := range jobs {
		churn(j)
	}
}

func main() {
	runtime.MemProfileRate = 4096
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("addr", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	jobs := make(chan int)
	for i := 0; i < 4; i++ {
		go worker(jobs)
	}
	go func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				remember(32 << 10)
				if i%5 == 0 {
					forget()
				}
				select {
				case jobs <- i:
				default:
				}
			}
		}
	}()
	srv := &http.Server{}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
