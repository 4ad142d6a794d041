// Command stackroots is the patient of profiler/attach's precise stack
// scanning tests. Two goroutines block:
//
//   - keep holds a keeper the way leakdemo/cache holds its server: the
//     keeper itself lives on keep's stack (it does not escape), a closure
//     on the stack captures a pointer to it, and every — which has the
//     closure as its only reference — blocks. No variable DWARF describes
//     points at the keeper's map: only the runtime's stack objects do.
//     Its map holds exactly nKept *kept objects: all of them are live.
//   - drop builds a chain of exactly nDropped *dropped objects, uses the
//     pointer to it across a call (so it sits in a stack slot) and then
//     never again: when drop blocks the slot still holds the pointer, but
//     the stack maps say it is dead. They are garbage to the collector.
//   - deferHold has nine defers, too many to open-code: each is a defer
//     record on its stack, linked from its g, and the first one's closure,
//     on the stack too, holds the only pointer to a chain of exactly
//     nDeferred *deferred objects.
//   - hold keeps a slice of exactly nHeld *held objects live across its
//     blocking call: one root, named items.
//
// Both types are big enough (over 512 bytes, with pointers) to carry a
// malloc header: their runtime type names them in the heap. The garbage
// collector is off so that the dropped chain stays allocated.
package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"time"
)

const (
	nKept     = 300
	nDropped  = 50
	nHeld     = 20
	nDeferred = 30
)

type kept struct {
	next *kept
	pad  [70]uint64
}

type dropped struct {
	next *dropped
	pad  [70]uint64
}

type held struct {
	next *held
	pad  [70]uint64
}

// hold keeps items live while it blocks.
//
//go:noinline
func hold(ready chan<- string, wait <-chan struct{}, n int) {
	items := make([]*held, n)
	for i := range items {
		items[i] = &held{}
	}
	ready <- "hold"
	<-wait
	for _, h := range items {
		h.pad[0]++
	}
}

type deferred struct {
	next *deferred
	pad  [70]uint64
}

//go:noinline
func deferChain(n int) *deferred {
	var head *deferred
	for i := 0; i < n; i++ {
		head = &deferred{next: head}
	}
	return head
}

//go:noinline
func deferHold(ready chan<- string, wait <-chan struct{}) {
	d := deferChain(nDeferred)
	defer func() { d.pad[0]++ }()
	defer func() {}()
	defer func() {}()
	defer func() {}()
	defer func() {}()
	defer func() {}()
	defer func() {}()
	defer func() {}()
	defer func() {}()
	ready <- "defer"
	<-wait
}

type keeper struct {
	name  string
	items map[int]*kept
}

func (k *keeper) touch(i int) { k.items[i].pad[0]++ }

// every blocks, then calls f: f is its only reference to the keeper.
//
//go:noinline
func every(ready chan<- string, wait <-chan struct{}, f func(int)) {
	ready <- "keep"
	<-wait
	f(1)
}

// keep builds a keeper on its stack and hands every a closure over it.
func keep(ready chan<- string, wait <-chan struct{}) {
	k := keeper{name: "keeper", items: make(map[int]*kept)}
	for i := 0; i < nKept; i++ {
		k.items[i] = &kept{}
	}
	every(ready, wait, func(i int) { k.touch(i) })
}

//go:noinline
func chain(n int) *dropped {
	var head *dropped
	for i := 0; i < n; i++ {
		head = &dropped{next: head}
	}
	return head
}

//go:noinline
func use(d *dropped) int { return len(d.pad) }

//go:noinline
func pause() { time.Sleep(time.Millisecond) }

// drop keeps its chain in a stack slot across pause, uses it once more and
// blocks with the slot dead.
//
//go:noinline
func drop(ready chan<- string, wait <-chan struct{}) {
	head := chain(nDropped)
	pause()
	use(head)
	ready <- "drop"
	<-wait
}

func main() {
	debug.SetGCPercent(-1)
	ready, wait := make(chan string), make(chan struct{})
	go keep(ready, wait)
	go drop(ready, wait)
	go hold(ready, wait, nHeld)
	go deferHold(ready, wait)
	<-ready
	<-ready
	<-ready
	<-ready
	fmt.Printf("ready %d -\n", os.Getpid())
	for {
		time.Sleep(time.Hour)
	}
}
