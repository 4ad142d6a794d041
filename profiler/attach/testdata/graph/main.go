// Command graph is the patient of profiler/attach's heap-graph tests: a
// goroutine holds a known chain of objects in a local variable, a package
// variable holds another, an interface holds a big object with one leaf,
// and -mb fills the heap with small objects for measuring the pause on a big
// heap.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"
)

type node struct {
	next    *node
	payload []byte
	name    string
}

// bigNode is big enough for a malloc header: only its runtime type (in
// relocated read-only data, for a position-independent build) tells where
// its pointers are.
type bigNode struct {
	leaves [100]*leaf
}

type leaf struct {
	id   int
	next *leaf
}

// chainLen is how many nodes holder puts in front of the named one.
const chainLen = 100

var (
	global *node
	boxed  any
	filler [][]*node
)

// holder builds a chain of chainLen+1 nodes whose last one is named, keeps
// it in its local variable while it waits, and never returns.
//
//go:noinline
func holder(ready chan<- struct{}, wait <-chan struct{}) {
	local := &node{payload: make([]byte, 4096), name: "held by holder"}
	for i := 0; i < chainLen; i++ {
		local = &node{next: local, payload: make([]byte, 64)}
	}
	ready <- struct{}{}
	<-wait
	runtime.KeepAlive(local)
}

func main() {
	mb := flag.Int("mb", 0, "MiB of small objects (about 100 bytes each) to keep")
	flag.Parse()
	global = &node{name: "held by global"}
	big := &bigNode{}
	big.leaves[42] = &leaf{id: 42}
	boxed = big
	// Objects of 48 (node) + 64 (payload) bytes, in slices of 1024.
	for n := 0; n < *mb<<20; n += 112 * 1024 {
		batch := make([]*node, 1024)
		for i := range batch {
			batch[i] = &node{payload: make([]byte, 64)}
		}
		filler = append(filler, batch)
	}
	ready, wait := make(chan struct{}), make(chan struct{})
	go holder(ready, wait)
	<-ready
	runtime.GC()
	fmt.Printf("ready %d -\n", os.Getpid())
	for {
		time.Sleep(time.Hour)
	}
}
