// Command cycles builds the graphs that trip a naive heap walk: a ring of
// nodes (a cycle), objects shared by two package variables (each counted
// once, retained by neither), a diamond inside one root (retained by it),
// objects only goroutines' stack variables reach, one object shared by a
// package variable and a goroutine's variable, and unreachable garbage of
// the same types — an unreachable ring among it. The live graph is built,
// then collected twice (the heap is swept), then the collector is switched
// off and the garbage made, so it stays allocated. The program prints what
// a heap walk must find (package expect) and blocks.
package main

import (
	"runtime"
	"runtime/debug"

	"github.com/leakhunt/leakhunt/profiler/refs/testdata/progs/expect"
)

type ringNode struct {
	next *ringNode
	id   int64
	pad  [2]int64
}

type side struct {
	shared []*sharedObj
	own    []*ownObj
}

type sharedObj struct {
	child *sharedChild
	id    int64
}

type sharedChild struct{ a, b, c int64 }

type ownObj struct {
	id  int64
	pad [3]int64
}

type dTop struct{ l, r *dMid }

type dMid struct {
	b *dBottom
	n int64
}

type dBottom struct{ a, b, c, d int64 }

type stackItem struct {
	id   int64
	next *stackItem
	pad  [2]int64
}

// workItem objects are held by the frames of many goroutines running one
// function: together they retain them.
type workItem struct {
	id  int64
	pad [3]int64
}

type stackSingle struct {
	id  int64
	pad [5]int64
}

// staleObj is garbage whose address is left in dead stack slots.
type staleObj struct {
	id  int64
	pad [9]int64
}

type stackShared struct {
	id  int64
	pad [7]int64
}

var (
	ring            *ringNode
	left, right     *side
	diamond         *dTop
	sharedWithStack *stackShared
	block           = make(chan struct{})
)

const (
	nRing      = 100
	nShared    = 10
	nOwnLeft   = 5
	nOwnRight  = 6
	nStackItem = 33
)

type holderInfo struct {
	gid            int64
	item7, single  uint64
	sharedFromHere uint64
}

//go:noinline
func newStackSingle() *stackSingle { return &stackSingle{id: 1} }

// holder keeps objects that nothing but its own variables reach.
//
//go:noinline
func holder(n int, started chan<- holderInfo) {
	items := make([]*stackItem, n)
	for i := range items {
		items[i] = &stackItem{id: int64(i)}
	}
	single := newStackSingle()
	started <- holderInfo{gid: expect.GoroutineID(), item7: expect.Addr(items[7]), single: expect.Addr(single)}
	<-block
	runtime.KeepAlive(items)
	runtime.KeepAlive(single)
}

// worker holds n workItems in its variable buf.
//
//go:noinline
func worker(n int, started chan<- holderInfo) {
	buf := make([]*workItem, n)
	for i := range buf {
		buf[i] = &workItem{id: int64(i)}
	}
	started <- holderInfo{gid: expect.GoroutineID(), item7: expect.Addr(buf[2])}
	<-block
	runtime.KeepAlive(buf)
}

// sharer holds, in a variable, an object a package variable holds too.
//
//go:noinline
func sharer(started chan<- holderInfo) {
	mine := sharedWithStack
	started <- holderInfo{gid: expect.GoroutineID(), sharedFromHere: expect.Addr(mine)}
	<-block
	runtime.KeepAlive(mine)
}

// fill leaves p in every slot of a 512-byte frame, below its caller's
// frame: the slots the runtime's frames reuse when the caller blocks. They
// are dead: the collector, reading the frames' stack maps, ignores them.
//
//go:noinline
func fill(p *staleObj) uint64 {
	var slots [64]*staleObj
	for i := range slots {
		slots[i] = p
	}
	sinkSlots(&slots)
	return expect.Addr(p)
}

//go:noinline
func sinkSlots(s *[64]*staleObj) {
	for _, p := range s {
		staleSum += p.id
	}
}

var staleSum int64

//go:noinline
func newStale() *staleObj {
	o := &staleObj{id: 1}
	escape(o)
	return o
}

// staler makes a staleObj, leaves its address in dead stack slots and
// blocks: nothing live reaches the object.
//
//go:noinline
func staler(addr chan<- uint64) {
	a := fill(newStale())
	addr <- a
	<-block
}

func main() {
	e := build()
	runtime.GC()
	runtime.GC()
	debug.SetGCPercent(-1)
	garbage(e)
	expect.Announce(e)
	expect.Hold()
}

//go:noinline
func build() *expect.Expect {
	e := &expect.Expect{Program: "cycles", Goroutines: map[string]int64{}}

	// A ring: every node reachable from main.ring, each counted once.
	ring = &ringNode{id: 0}
	n := ring
	var n57 *ringNode
	for i := 1; i < nRing; i++ {
		n.next = &ringNode{id: int64(i)}
		n = n.next
		if i == 57 {
			n57 = n
		}
	}
	n.next = ring
	e.Add("main.ringNode", nRing, expect.SlotOf(ring, true))
	e.Retained = append(e.Retained, expect.Retained{Root: "main.ring", Objects: map[string]int{"main.ringNode": nRing},
		Total: &expect.Count{Objects: nRing, Bytes: nRing * expect.SlotOf(ring, true)}})
	f := []string{}
	for i := 0; i < 57; i++ {
		f = append(f, "next")
	}
	e.Why = append(e.Why, expect.Why{Case: "ring", Addr: expect.Addr(n57), Type: "main.ringNode", Root: "main.ring", Fields: f, Hops: 58})

	// Two roots sharing objects, each with objects of its own.
	shared := make([]*sharedObj, nShared)
	for i := range shared {
		shared[i] = &sharedObj{child: &sharedChild{a: int64(i)}, id: int64(i)}
	}
	left = &side{shared: append([]*sharedObj(nil), shared...)}
	right = &side{shared: append([]*sharedObj(nil), shared...)}
	for i := 0; i < nOwnLeft; i++ {
		left.own = append(left.own, &ownObj{id: int64(i)})
	}
	for i := 0; i < nOwnRight; i++ {
		right.own = append(right.own, &ownObj{id: int64(i)})
	}
	e.Add("main.side", 2, expect.SlotOf(left, true))
	e.Add("main.sharedObj", nShared, expect.SlotOf(shared[0], true))
	e.Add("main.sharedChild", nShared, expect.SlotOf(shared[0].child, false))
	e.Add("main.ownObj", nOwnLeft+nOwnRight, expect.SlotOf(left.own[0], false))
	e.Retained = append(e.Retained,
		expect.Retained{Root: "main.left", Objects: map[string]int{"main.side": 1, "main.ownObj": nOwnLeft, "main.sharedObj": 0, "main.sharedChild": 0}, Total: sideTotal(left)},
		expect.Retained{Root: "main.right", Objects: map[string]int{"main.side": 1, "main.ownObj": nOwnRight, "main.sharedObj": 0, "main.sharedChild": 0}, Total: sideTotal(right)})
	e.Paths = append(e.Paths,
		expect.Path{Root: "main.left", Type: "main.ownObj", Objects: nOwnLeft, Has: []string{"own"}},
		expect.Path{Root: "main.right", Type: "main.ownObj", Objects: nOwnRight, Has: []string{"own"}},
		expect.Path{Root: "shared by main.left, main.right", Type: "main.sharedObj", Objects: nShared},
		expect.Path{Root: "shared by main.left, main.right", Type: "main.sharedChild", Objects: nShared, Has: []string{"child"}})
	e.Shared = append(e.Shared,
		expect.Shared{Type: "main.sharedObj", Objects: nShared, Roots: []string{"main.left", "main.right"}},
		expect.Shared{Type: "main.sharedChild", Objects: nShared, Roots: []string{"main.left", "main.right"}})
	e.Why = append(e.Why, expect.Why{Case: "shared", Addr: expect.Addr(shared[4].child), Type: "main.sharedChild", Root: "main.left|main.right", Fields: []string{"shared", "[4]", "child"}, Hops: 4})

	// A diamond inside one root: the bottom is reached twice, by one root.
	bottom := &dBottom{a: 1}
	diamond = &dTop{l: &dMid{b: bottom}, r: &dMid{b: bottom, n: 1}}
	e.Add("main.dTop", 1, expect.SlotOf(diamond, true))
	e.Add("main.dMid", 2, expect.SlotOf(diamond.l, true))
	e.Add("main.dBottom", 1, expect.SlotOf(bottom, false))
	e.Retained = append(e.Retained, expect.Retained{Root: "main.diamond", Objects: map[string]int{"main.dTop": 1, "main.dMid": 2, "main.dBottom": 1},
		Total: &expect.Count{Objects: 4, Bytes: expect.SlotOf(diamond, true) + 2*expect.SlotOf(diamond.l, true) + expect.SlotOf(bottom, false)}})
	e.Why = append(e.Why, expect.Why{Case: "diamond", Addr: expect.Addr(bottom), Type: "main.dBottom", Root: "main.diamond", Fields: []string{"b"}, Hops: 3})

	// Objects only goroutines' variables reach.
	started := make(chan holderInfo)
	go holder(nStackItem, started)
	h := <-started
	e.Goroutines["holder"] = h.gid
	e.Add("main.stackItem", nStackItem, expect.SlotOf(&stackItem{}, true))
	e.Add("main.stackSingle", 1, expect.SlotOf(&stackSingle{}, false))
	e.Retained = append(e.Retained,
		expect.Retained{Goroutine: "holder", Func: "main.holder", Var: "items", Objects: map[string]int{"main.stackItem": nStackItem},
			Total: &expect.Count{Objects: 1 + nStackItem, Bytes: expect.Slot(nStackItem*8, true) + nStackItem*expect.SlotOf(&stackItem{}, true)}},
		expect.Retained{Goroutine: "holder", Func: "main.holder", Var: "single", Objects: map[string]int{"main.stackSingle": 1},
			Total: &expect.Count{Objects: 1, Bytes: expect.SlotOf(&stackSingle{}, false)}})
	e.Paths = append(e.Paths, expect.Path{Root: "goroutine * main.holder: items", Type: "main.stackItem", Objects: nStackItem})
	e.Why = append(e.Why,
		expect.Why{Case: "stack-slice", Addr: h.item7, Type: "main.stackItem", Goroutine: "holder", Func: "main.holder", Var: "items", Fields: []string{"[7]"}, Hops: 2},
		expect.Why{Case: "stack-pointer", Addr: h.single, Type: "main.stackSingle", Goroutine: "holder", Func: "main.holder", Var: "single", Hops: 1})

	// The frames of many goroutines running one function.
	const nWorkers, perWorker = 20, 5
	for i := 0; i < nWorkers; i++ {
		go worker(perWorker, started)
		w := <-started
		if i == 7 {
			e.Goroutines["worker7"] = w.gid
			e.Why = append(e.Why, expect.Why{Case: "many-frames", Addr: w.item7, Type: "main.workItem", Goroutine: "worker7", Func: "main.worker", Var: "buf", Fields: []string{"[2]"}, Hops: 2})
		}
	}
	e.Add("main.workItem", nWorkers*perWorker, expect.SlotOf(&workItem{}, false))
	e.Retained = append(e.Retained, expect.Retained{Root: "goroutine * main.worker: buf", Roots: nWorkers, Objects: map[string]int{"main.workItem": nWorkers * perWorker},
		Total: &expect.Count{Objects: nWorkers * (1 + perWorker), Bytes: nWorkers * (expect.Slot(perWorker*8, true) + perWorker*expect.SlotOf(&workItem{}, false))}})
	e.Paths = append(e.Paths, expect.Path{Root: "goroutine * main.worker: buf", Type: "main.workItem", Objects: nWorkers * perWorker})

	// One object held by a package variable and a goroutine's variable.
	sharedWithStack = &stackShared{id: 9}
	go sharer(started)
	s := <-started
	e.Goroutines["sharer"] = s.gid
	e.Add("main.stackShared", 1, expect.SlotOf(sharedWithStack, false))
	e.Retained = append(e.Retained, expect.Retained{Root: "main.sharedWithStack", Objects: map[string]int{"main.stackShared": 0}})
	e.Shared = append(e.Shared, expect.Shared{Type: "main.stackShared", Objects: 1, Roots: []string{"main.sharedWithStack", "goroutine sharer main.sharer mine"}})
	return e
}

// sideTotal is what a side retains on its own: itself, its two backing
// arrays and its own objects (the shared objects are not its alone).
func sideTotal(s *side) *expect.Count {
	return &expect.Count{
		Objects: 3 + len(s.own),
		Bytes: expect.SlotOf(s, true) + expect.Slot(uintptr(cap(s.shared))*8, true) +
			expect.Slot(uintptr(cap(s.own))*8, true) + uint64(len(s.own))*expect.SlotOf(s.own[0], false),
	}
}

// drop is where garbage passes through on its way to being unreachable:
// storing it here makes it escape to the heap; drop is cleared at once.
var drop any

//go:noinline
func escape(x any) {
	drop = x
	drop = nil
}

// garbage allocates objects of the counted types and drops them.
//
//go:noinline
func garbage(e *expect.Expect) {
	e.Garbage = map[string]int{}
	// An unreachable ring: no reference count ever drops to zero here.
	r := &ringNode{id: -1}
	n := r
	for i := 1; i < 50; i++ {
		n.next = &ringNode{id: int64(-i)}
		n = n.next
	}
	n.next = r
	e.GarbageAddrs = append(e.GarbageAddrs, expect.Addr(r), expect.Addr(n))
	escape(r)
	e.Garbage["main.ringNode"] = 50
	s := &side{}
	for i := 0; i < 20; i++ {
		s.shared = append(s.shared, &sharedObj{child: &sharedChild{}})
		s.own = append(s.own, &ownObj{})
	}
	e.GarbageAddrs = append(e.GarbageAddrs, expect.Addr(s), expect.Addr(s.shared[5]), expect.Addr(s.shared[5].child))
	escape(s)
	e.Garbage["main.side"] = 1
	e.Garbage["main.sharedObj"] = 20
	e.Garbage["main.sharedChild"] = 20
	e.Garbage["main.ownObj"] = 20
	b := &dBottom{}
	escape(&dTop{l: &dMid{b: b}, r: &dMid{b: b}})
	e.Garbage["main.dTop"] = 1
	e.Garbage["main.dMid"] = 2
	e.Garbage["main.dBottom"] = 1
	var items []*stackItem
	for i := 0; i < 10; i++ {
		items = append(items, &stackItem{id: int64(i)})
	}
	e.GarbageAddrs = append(e.GarbageAddrs, expect.Addr(items[2]))
	escape(items)
	e.Garbage["main.stackItem"] = 10
	escape(newStackSingle())
	e.Garbage["main.stackSingle"] = 1
	escape(&stackShared{})
	e.Garbage["main.stackShared"] = 1
	// Garbage whose address only dead stack slots of a blocked goroutine
	// (runtime frames among them) still hold.
	addr := make(chan uint64)
	go staler(addr)
	e.GarbageAddrs = append(e.GarbageAddrs, <-addr)
	e.Garbage["main.staleObj"] = 1
	e.Types["main.staleObj"] = expect.Count{}
}
