// Command blocker is a test fixture: it starts goroutines blocked in known
// ways, serves net/http/pprof on 127.0.0.1:0, prints its pprof URL on the
// first line of stdout, and waits for SIGINT or SIGTERM.
//
// The goroutines (each `go` statement is on a line marked with its name, so
// tests can find the creation site without hard-coding line numbers):
//
//	7 sender    blocked sending on an unbuffered channel nobody reads
//	5 ranger    blocked receiving from a channel nobody closes
//	4 locker    blocked on a sync.Mutex held by main
//	3 selecter  blocked in a select on two nil-ish channels
//	2 waiter    blocked in sync.WaitGroup.Wait
//	6 deep      blocked on a receive after recursing 0, 1 or 2 levels (2 each):
//	            three different stacks, one creation site and one blocking line
package main

import (
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

//go:noinline
func sender(ch chan int, id int) {
	ch <- id // blocks: nobody receives
}

//go:noinline
func ranger(ch chan string, id int) {
	for s := range ch { // blocks: nobody sends or closes
		_ = s + fmt.Sprint(id)
	}
}

//go:noinline
func locker(mu *sync.Mutex, id int) {
	mu.Lock() // blocks: main holds it
	defer mu.Unlock()
	_ = id
}

//go:noinline
func selecter(a, b chan int, id int) {
	select { // blocks: nobody sends on a or b
	case <-a:
	case <-b:
	}
	_ = id
}

//go:noinline
func waiter(wg *sync.WaitGroup, id int) {
	wg.Wait() // blocks: the counter never reaches zero
	_ = id
}

//go:noinline
func deep(n int, ch chan int) int {
	if n > 0 {
		return deep(n-1, ch) + 1
	}
	return <-ch // blocks: nobody sends
}

func main() {
	var mu sync.Mutex
	mu.Lock()
	var wg sync.WaitGroup
	wg.Add(1)
	for i := 0; i < 7; i++ {
		go sender(make(chan int), i) // go:sender
	}
	for i := 0; i < 5; i++ {
		go ranger(make(chan string), i) // go:ranger
	}
	for i := 0; i < 4; i++ {
		go locker(&mu, i) // go:locker
	}
	for i := 0; i < 3; i++ {
		go selecter(make(chan int), make(chan int), i) // go:selecter
	}
	for i := 0; i < 2; i++ {
		go waiter(&wg, i) // go:waiter
	}
	for i := 0; i < 6; i++ {
		go deep(i%3, make(chan int)) // go:deep
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("http://%s/debug/pprof/\n", ln.Addr())
	go http.Serve(ln, nil)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
}
