// Command finq is a heapgraph test target for what only finalizers and
// cleanups keep alive: objects captured by finalizer closures, cleanup
// arguments, and objects whose finalizers are queued but cannot run (the
// finalizer goroutine is blocked in another finalizer). Every such object
// is too small for a malloc header: only DWARF typing through the
// finalizer and cleanup records can type it. It prints "ready" and waits.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"time"
	"weak"
)

type finObj struct {
	p  *int
	id int
}

// captured is reached only from finalizer closures.
type captured struct {
	p  *int
	id int
}

type cleanupOwner struct {
	p  *int
	id int
}

// cleanupArg is reached only from cleanups' arguments.
type cleanupArg struct {
	p  *int
	id int
}

// queuedObj is an object whose finalizer is queued; queuedLeaf is reached
// only through it.
type queuedObj struct {
	leaf *queuedLeaf
	id   int
}

type queuedLeaf struct {
	p  *int
	id int
}

type blockObj struct{ p *int }

// weakTarget has a weak pointer to it: the runtime's handle for it is
// kept alive by the weak handle special.
type weakTarget struct {
	p  *int
	id int
}

const (
	nFin     = 3
	nCleanup = 2
	nQueued  = 4
)

var (
	held    []*finObj
	weakObj *weakTarget
	weakPtr weak.Pointer[weakTarget]
	owners  []*cleanupOwner
	sum     int
	block   = make(chan struct{})
	started = make(chan struct{})
)

func main() {
	debug.SetGCPercent(-1)
	for i := 0; i < nFin; i++ {
		c := &captured{id: i}
		o := &finObj{id: i}
		runtime.SetFinalizer(o, func(*finObj) { sum += c.id })
		held = append(held, o)
	}
	for i := 0; i < nCleanup; i++ {
		o := &cleanupOwner{id: i}
		runtime.AddCleanup(o, func(a *cleanupArg) { sum += a.id }, &cleanupArg{id: i})
		owners = append(owners, o)
	}
	// A composite literal in a package variable's initialiser would be
	// static data, where weak pointers need no handle: a heap object.
	weakObj = &weakTarget{id: 1}
	weakPtr = weak.Make(weakObj)
	// Block the finalizer goroutine in a finalizer that never returns.
	blockFinalizers()
	runtime.GC()
	<-started
	queue()
	runtime.GC()
	runtime.GC()
	fmt.Println("ready")
	os.Stdout.Sync()
	time.Sleep(time.Hour)
}

//go:noinline
func blockFinalizers() {
	b := &blockObj{}
	runtime.SetFinalizer(b, func(*blockObj) {
		close(started)
		<-block
	})
}

//go:noinline
func queue() {
	for i := 0; i < nQueued; i++ {
		q := &queuedObj{leaf: &queuedLeaf{id: i}, id: i}
		runtime.SetFinalizer(q, func(q *queuedObj) { sum += q.id })
	}
}
