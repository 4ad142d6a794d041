// Command counts is a heapgraph test target with a known heap: it allocates
// exact numbers of objects of distinct types, keeps some reachable from
// package variables and drops the rest, prints "ready" and waits to be
// captured. The test counts each type in the graph Build returns.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"time"
	"unsafe"
)

// withHeader is over 512 bytes: a malloc header holds its type.
type withHeader struct {
	a    [80]int
	next *withHeader
	leaf *small
}

// small has its pointer bits at the end of its span.
type small struct {
	p *int
	v int
}

// garbage is allocated and dropped: never reachable.
type garbage struct {
	a [70]int
	p *withHeader
}

// large is a large object: its span's largeType is its type.
type large struct {
	a [5000]int
	p *withHeader
}

// onDemand has so many pointers that its GC mask is built at run time.
type onDemand struct {
	ptrs [20000]*onDemandLeaf
}

// onDemandLeaf is reachable only through an onDemand's last pointer.
type onDemandLeaf struct {
	a [70]int
	p *int
}

// finalized is reachable only through its own finalizer; what it points to
// is kept alive by the finalizer.
type finalized struct {
	a    [70]int
	kept *keptByFinalizer
}

type keptByFinalizer struct {
	a [70]int
	p *int
}

// many is an array of more pointers than the walk scans at once.
type manyLeaf struct {
	p *int
	v int
}

// stackOnly is held only by a goroutine's local variable.
type stackOnly struct {
	a [70]int
	p *int
}

//go:noinline
func newStackOnly() *stackOnly { return &stackOnly{} }

const (
	nHeader   = 100
	nSmall    = 1000
	nGarbage  = 50
	nLarge    = 5
	nOnDemand = 2
	nFinal    = 3
	nMany     = 100000
)

var (
	headers   []*withHeader
	larges    = map[int]*large{}
	onDemands [nOnDemand]*onDemand
	sink      []*garbage
	iface     any
	many      []*manyLeaf
)

func main() {
	debug.SetGCPercent(-1)
	for i := 0; i < nHeader; i++ {
		h := &withHeader{leaf: &small{v: i}}
		if i > 0 {
			h.next = headers[i-1]
		}
		headers = append(headers, h)
	}
	// Small objects beyond the ones in headers: a chain in an interface.
	var chain []*small
	for i := 0; i < nSmall-nHeader; i++ {
		chain = append(chain, &small{v: i})
	}
	iface = chain
	for i := 0; i < nLarge; i++ {
		larges[i] = &large{p: headers[i]}
	}
	for i := range onDemands {
		o := &onDemand{}
		o.ptrs[19999] = &onDemandLeaf{}
		onDemands[i] = o
	}
	many = make([]*manyLeaf, nMany)
	for i := range many {
		many[i] = &manyLeaf{v: i}
	}
	for i := 0; i < nGarbage; i++ {
		sink = append(sink, &garbage{p: headers[0]})
	}
	sink = nil
	for i := 0; i < nFinal; i++ {
		f := &finalized{kept: &keptByFinalizer{}}
		runtime.SetFinalizer(f, func(*finalized) {})
	}
	addr := make(chan uintptr)
	go func() {
		p := newStackOnly()
		addr <- uintptr(unsafe.Pointer(&p))
		select {}
	}()
	// The test reads the stack variable p as a root from this address.
	fmt.Printf("stack %#x\n", <-addr)
	fmt.Println("ready")
	os.Stdout.Sync()
	time.Sleep(time.Hour)
}
