// Command containers keeps objects alive through each kind of Go container
// — a map, slices, an array, a slice of slices, interfaces (any and a method
// interface, holding pointers and values), closures, buffered channels,
// generic types and embedded structs — and leaves garbage of the same types
// allocated but unreachable. It prints what a heap walk must find (package
// expect) and blocks. The collector is off from the start, so the heap is
// never swept: objects are allocated but no GC cycle ever marked them.
package main

import (
	"fmt"
	"runtime/debug"
	"unsafe"

	"github.com/leakhunt/leakhunt/profiler/refs/testdata/progs/expect"
)

type session struct {
	id   int64
	user *sessUser
	pad  [4]int64
}

type sessUser struct {
	name string
	age  int64
	pad  [3]int64
}

type inlineVal struct {
	p *inlineTarget
	n int64
}

type inlineTarget struct{ a, b, c int64 }

type sliceItem struct {
	a, b, c int64
	next    *sliceItem
}

type arrItem struct {
	p *int64
	n int64
}

type gridCell struct {
	ref *gridRef
	n   int64
}

type gridRef struct{ a, b, c int64 }

type anyPtr struct {
	p *int64
	a [3]int64
}

type anyVal struct {
	p *int64
	a [3]int64
}

type shape interface{ area() int64 }

type circle struct {
	r     int64
	owner *circleOwner
}

type circleOwner struct{ a, b int64 }

type square struct {
	side  int64
	owner *squareOwner
}

type squareOwner struct{ a, b int64 }

func (c *circle) area() int64 { return 3 * c.r * c.r }
func (s square) area() int64  { return s.side * s.side }

type captured struct {
	n   int64
	pad [3]int64
}

type queued struct {
	n   int64
	pad [3]int64
}

type job struct {
	payload *jobPayload
	n       int64
}

type jobPayload struct{ a [5]int64 }

// Box and List are generic; their instantiations are distinct types.
type Box[T any] struct {
	v T
	n int64
}

type boxElem struct{ a [3]int64 }

type List[T any] struct {
	head *lnode[T]
	n    int64
}

type lnode[T any] struct {
	v    T
	next *lnode[T]
}

type listItem struct{ a [5]int64 }

type base struct {
	owner *baseOwner
	id    int64
}

type derived struct {
	base
	extra *derivedExtra
	n     int64
}

type baseOwner struct{ a, b int64 }

type derivedExtra struct{ a, b, c int64 }

// hdrObj is over 512 bytes with pointers: it carries a malloc header.
type hdrObj struct {
	child *hdrChild
	pad   [74]int64
}

type hdrChild struct{ a, b int64 }

// bigObj is a large object: its type is in its span.
type bigObj struct {
	child *bigChild
	pad   [5000]int64
}

type bigChild struct{ a, b int64 }

// interiorObj is reached only through a pointer into its middle, whose
// static type (*int64) says nothing of it: it is over 512 bytes with
// pointers, so its malloc header names its type.
type interiorObj struct {
	a, b int64
	c    [4]int64
	p    *int64
	pad  [70]int64
}

// subElem objects are held by a backing array of which a package variable
// keeps only a window: the whole array, and all of them, stay alive.
type subElem struct {
	id  int64
	pad [2]int64
}

// blobByte is a byte of a large object without pointers.
type blobByte byte

// hiddenObj's only reference is a uintptr, which the collector ignores.
type hiddenObj struct {
	id  int64
	pad [11]int64
}

var (
	interior *int64
	window   []*subElem
	blob     []blobByte
	hidden   uintptr

	sessions map[string]*session
	byID     map[int64]inlineVal
	items    []*sliceItem
	fixed    [64]*arrItem
	grid     [][]gridCell
	anys     []any
	shapes   []shape
	handlers []func() int64
	queue    chan *queued
	jobs     chan job
	boxes    []*Box[*boxElem]
	list     *List[*listItem]
	deriveds []*derived
	headered []*hdrObj
	big      *bigObj
)

const (
	nSessions = 1000
	nByID     = 300
	nItems    = 777
	nRows     = 20
	nCols     = 30
	nAnyPtr   = 50
	nAnyVal   = 40
	nCircles  = 30
	nSquares  = 20
	nHandlers = 25
	nQueued   = 40
	nJobs     = 10
	nBoxes    = 15
	nList     = 35
	nDerived  = 12
	nHeadered = 9
)

//go:noinline
func makeHandler(obj *captured) func() int64 { return func() int64 { return obj.n } }

func main() {
	debug.SetGCPercent(-1)
	e := build()
	garbage(e)
	hide(e)
	expect.Announce(e)
	expect.Hold()
}

// fields is "next" n times.
func fields(first string, n int, last ...string) []string {
	f := []string{first}
	for i := 0; i < n; i++ {
		f = append(f, "next")
	}
	return append(f, last...)
}

//go:noinline
func build() *expect.Expect {
	e := &expect.Expect{Program: "containers", Arrays: map[string]expect.Count{}}
	ret := func(root string, objs map[string]int) {
		e.Retained = append(e.Retained, expect.Retained{Root: root, Objects: objs})
	}
	// total sets the whole of what the last root added retains.
	total := func(objects int, bytes uint64) {
		e.Retained[len(e.Retained)-1].Total = &expect.Count{Objects: objects, Bytes: bytes}
	}
	path := func(root, typ string, n int, has ...string) {
		e.Paths = append(e.Paths, expect.Path{Root: root, Type: typ, Objects: n, Has: has})
	}

	// A map of pointers, and a map whose values hold pointers inline.
	sessions = make(map[string]*session)
	for i := 0; i < nSessions; i++ {
		sessions[fmt.Sprintf("s%04d", i)] = &session{id: int64(i), user: &sessUser{name: fmt.Sprintf("u%d", i), age: int64(i)}}
	}
	e.Add("main.session", nSessions, expect.SlotOf(&session{}, true))
	e.Add("main.sessUser", nSessions, expect.SlotOf(&sessUser{}, true))
	path("main.sessions", "main.session", nSessions, "map value")
	path("main.sessions", "main.sessUser", nSessions, "map value", "user")
	ret("main.sessions", map[string]int{"main.session": nSessions, "main.sessUser": nSessions})
	s := sessions["s0007"]
	e.Why = append(e.Why, expect.Why{Case: "map", Addr: expect.Addr(s.user), Type: "main.sessUser", Root: "main.sessions", Fields: []string{"user"}})

	byID = make(map[int64]inlineVal)
	for i := 0; i < nByID; i++ {
		byID[int64(i)] = inlineVal{p: &inlineTarget{a: int64(i)}, n: int64(i)}
	}
	e.Add("main.inlineTarget", nByID, expect.SlotOf(&inlineTarget{}, false))
	path("main.byID", "main.inlineTarget", nByID, "map value", "p")
	ret("main.byID", map[string]int{"main.inlineTarget": nByID})
	e.Why = append(e.Why, expect.Why{Case: "map-inline", Addr: expect.Addr(byID[42].p), Type: "main.inlineTarget", Root: "main.byID", Fields: []string{"p"}})

	// A slice of pointers (its backing array carries a malloc header).
	items = make([]*sliceItem, nItems)
	for i := range items {
		items[i] = &sliceItem{a: int64(i)}
	}
	e.Add("main.sliceItem", nItems, expect.SlotOf(&sliceItem{}, true))
	e.Arrays["*main.sliceItem"] = expect.Count{Objects: 1, Bytes: expect.Slot(nItems*8, true)}
	path("main.items", "main.sliceItem", nItems)
	ret("main.items", map[string]int{"main.sliceItem": nItems})
	total(1+nItems, expect.Slot(uintptr(cap(items))*8, true)+nItems*expect.SlotOf(items[0], true))
	e.Why = append(e.Why, expect.Why{Case: "slice", Addr: expect.Addr(items[500]), Type: "main.sliceItem", Root: "main.items", Fields: []string{"[500]"}, Hops: 2})

	// An array of pointers in bss.
	for i := range fixed {
		fixed[i] = &arrItem{n: int64(i)}
	}
	e.Add("main.arrItem", len(fixed), expect.SlotOf(&arrItem{}, true))
	path("main.fixed", "main.arrItem", len(fixed))
	ret("main.fixed", map[string]int{"main.arrItem": len(fixed)})
	total(len(fixed), uint64(len(fixed))*expect.SlotOf(fixed[0], true))
	e.Why = append(e.Why, expect.Why{Case: "array", Addr: expect.Addr(fixed[40]), Type: "main.arrItem", Root: "main.fixed", Fields: []string{"[40]"}, Hops: 1})

	// A slice of slices of structs holding pointers.
	grid = make([][]gridCell, nRows)
	for i := range grid {
		grid[i] = make([]gridCell, nCols)
		for j := range grid[i] {
			grid[i][j] = gridCell{ref: &gridRef{a: int64(i), b: int64(j)}, n: int64(j)}
		}
	}
	e.Add("main.gridRef", nRows*nCols, expect.SlotOf(&gridRef{}, false))
	e.Arrays["main.gridCell"] = expect.Count{Objects: nRows, Bytes: nRows * expect.Slot(nCols*16, true)}
	e.Arrays["[]main.gridCell"] = expect.Count{Objects: 1, Bytes: expect.Slot(nRows*24, true)}
	path("main.grid", "main.gridRef", nRows*nCols, "ref")
	ret("main.grid", map[string]int{"main.gridRef": nRows * nCols})
	total(1+nRows+nRows*nCols, expect.Slot(nRows*24, true)+nRows*expect.Slot(nCols*16, true)+nRows*nCols*expect.SlotOf(&gridRef{}, false))
	e.Why = append(e.Why, expect.Why{Case: "slice-of-slices", Addr: expect.Addr(grid[3][7].ref), Type: "main.gridRef", Root: "main.grid", Fields: []string{"[3]", "[7]", "ref"}, Hops: 3})

	// Interfaces: any holding pointers and values, a method interface
	// holding pointers and values.
	anys = make([]any, 0, nAnyPtr+nAnyVal)
	for i := 0; i < nAnyPtr; i++ {
		anys = append(anys, &anyPtr{a: [3]int64{int64(i)}})
	}
	for i := 0; i < nAnyVal; i++ {
		anys = append(anys, anyVal{a: [3]int64{int64(i)}})
	}
	e.Add("main.anyPtr", nAnyPtr, expect.SlotOf(&anyPtr{}, true))
	e.Add("main.anyVal", nAnyVal, expect.SlotOf(&anyVal{}, true))
	e.Arrays["interface {}"] = expect.Count{Objects: 1, Bytes: expect.Slot((nAnyPtr+nAnyVal)*16, true)}
	path("main.anys", "main.anyPtr", nAnyPtr)
	path("main.anys", "main.anyVal", nAnyVal)
	ret("main.anys", map[string]int{"main.anyPtr": nAnyPtr, "main.anyVal": nAnyVal})
	total(1+nAnyPtr+nAnyVal, expect.Slot(uintptr(cap(anys))*16, true)+nAnyPtr*expect.SlotOf(&anyPtr{}, true)+nAnyVal*expect.SlotOf(&anyVal{}, true))
	e.Why = append(e.Why, expect.Why{Case: "any-pointer", Addr: expect.Addr(anys[10].(*anyPtr)), Type: "main.anyPtr", Root: "main.anys", Fields: []string{"[10]"}, Hops: 2})
	shapes = make([]shape, 0, nCircles+nSquares)
	for i := 0; i < nCircles; i++ {
		shapes = append(shapes, &circle{r: int64(i), owner: &circleOwner{a: int64(i)}})
	}
	for i := 0; i < nSquares; i++ {
		shapes = append(shapes, square{side: int64(i), owner: &squareOwner{a: int64(i)}})
	}
	e.Add("main.circle", nCircles, expect.SlotOf(&circle{}, true))
	e.Add("main.circleOwner", nCircles, expect.SlotOf(&circleOwner{}, false))
	e.Add("main.square", nSquares, expect.SlotOf(&square{}, true))
	e.Add("main.squareOwner", nSquares, expect.SlotOf(&squareOwner{}, false))
	path("main.shapes", "main.circle", nCircles)
	path("main.shapes", "main.circleOwner", nCircles, "owner")
	path("main.shapes", "main.square", nSquares)
	path("main.shapes", "main.squareOwner", nSquares, "owner")
	ret("main.shapes", map[string]int{"main.circle": nCircles, "main.circleOwner": nCircles, "main.square": nSquares, "main.squareOwner": nSquares})
	total(1+2*nCircles+2*nSquares, expect.Slot(uintptr(cap(shapes))*16, true)+nCircles*(expect.SlotOf(&circle{}, true)+expect.SlotOf(&circleOwner{}, false))+nSquares*(expect.SlotOf(&square{}, true)+expect.SlotOf(&squareOwner{}, false)))
	e.Why = append(e.Why,
		expect.Why{Case: "iface-pointer", Addr: expect.Addr(shapes[5].(*circle).owner), Type: "main.circleOwner", Root: "main.shapes", Fields: []string{"[5]", "owner"}, Hops: 3},
		expect.Why{Case: "iface-value", Addr: expect.Addr(shapes[nCircles+5].(square).owner), Type: "main.squareOwner", Root: "main.shapes", Fields: []string{"[35]", "owner"}, Hops: 3})

	// Closures capturing pointers.
	handlers = make([]func() int64, nHandlers)
	var c4 *captured
	for i := range handlers {
		c := &captured{n: int64(i)}
		if i == 4 {
			c4 = c
		}
		handlers[i] = makeHandler(c)
	}
	e.Add("main.captured", nHandlers, expect.SlotOf(&captured{}, false))
	// The closure's context: its function and the captured pointer.
	e.Add("main.makeHandler.func1 (closure)", nHandlers, expect.Slot(16, true))
	path("main.handlers", "main.captured", nHandlers, "obj")
	ret("main.handlers", map[string]int{"main.captured": nHandlers, "main.makeHandler.func1 (closure)": nHandlers})
	total(1+2*nHandlers, expect.Slot(uintptr(cap(handlers))*8, true)+nHandlers*(expect.Slot(16, true)+expect.SlotOf(&captured{}, false)))
	e.Why = append(e.Why, expect.Why{Case: "closure", Addr: expect.Addr(c4), Type: "main.captured", Root: "main.handlers", Fields: []string{"[4]", "obj"}, Hops: 3})

	// Buffered channels holding pointers and values with pointers.
	queue = make(chan *queued, 64)
	var q13 *queued
	for i := 0; i < nQueued; i++ {
		q := &queued{n: int64(i)}
		if i == 13 {
			q13 = q
		}
		queue <- q
	}
	e.Add("main.queued", nQueued, expect.SlotOf(&queued{}, false))
	path("main.queue", "main.queued", nQueued)
	ret("main.queue", map[string]int{"main.queued": nQueued})
	e.Why = append(e.Why, expect.Why{Case: "chan-pointer", Addr: expect.Addr(q13), Type: "main.queued", Root: "main.queue", Fields: []string{"[13]"}, Hops: 3})
	jobs = make(chan job, 16)
	var p3 *jobPayload
	for i := 0; i < nJobs; i++ {
		p := &jobPayload{a: [5]int64{int64(i)}}
		if i == 3 {
			p3 = p
		}
		jobs <- job{payload: p, n: int64(i)}
	}
	e.Add("main.jobPayload", nJobs, expect.SlotOf(&jobPayload{}, false))
	path("main.jobs", "main.jobPayload", nJobs, "payload")
	ret("main.jobs", map[string]int{"main.jobPayload": nJobs})
	e.Why = append(e.Why, expect.Why{Case: "chan-value", Addr: expect.Addr(p3), Type: "main.jobPayload", Root: "main.jobs", Fields: []string{"[3]", "payload"}, Hops: 3})

	// Generic types.
	boxes = make([]*Box[*boxElem], nBoxes)
	for i := range boxes {
		boxes[i] = &Box[*boxElem]{v: &boxElem{a: [3]int64{int64(i)}}, n: int64(i)}
	}
	e.Add("main.Box[*main.boxElem]", nBoxes, expect.SlotOf(&Box[*boxElem]{}, true))
	e.Add("main.boxElem", nBoxes, expect.SlotOf(&boxElem{}, false))
	path("main.boxes", "main.boxElem", nBoxes, "v")
	ret("main.boxes", map[string]int{"main.Box[*main.boxElem]": nBoxes, "main.boxElem": nBoxes})
	total(1+2*nBoxes, expect.Slot(uintptr(cap(boxes))*8, true)+nBoxes*(expect.SlotOf(boxes[0], true)+expect.SlotOf(&boxElem{}, false)))
	e.Why = append(e.Why, expect.Why{Case: "generic-box", Addr: expect.Addr(boxes[9].v), Type: "main.boxElem", Root: "main.boxes", Fields: []string{"[9]", "v"}, Hops: 3})
	list = &List[*listItem]{}
	var tail *lnode[*listItem]
	for i := 0; i < nList; i++ {
		n := &lnode[*listItem]{v: &listItem{a: [5]int64{int64(i)}}}
		if tail == nil {
			list.head = n
		} else {
			tail.next = n
		}
		tail = n
		list.n++
	}
	e.Add("main.List[*main.listItem]", 1, expect.SlotOf(list, true))
	e.Add("main.lnode[*main.listItem]", nList, expect.SlotOf(tail, true))
	e.Add("main.listItem", nList, expect.SlotOf(&listItem{}, false))
	ret("main.list", map[string]int{"main.List[*main.listItem]": 1, "main.lnode[*main.listItem]": nList, "main.listItem": nList})
	total(1+2*nList, expect.SlotOf(list, true)+nList*(expect.SlotOf(tail, true)+expect.SlotOf(&listItem{}, false)))
	e.Why = append(e.Why, expect.Why{Case: "generic-list", Addr: expect.Addr(tail.v), Type: "main.listItem", Root: "main.list", Fields: fields("head", nList-1, "v"), Hops: nList + 2})

	// Embedded structs.
	deriveds = make([]*derived, nDerived)
	for i := range deriveds {
		deriveds[i] = &derived{base: base{owner: &baseOwner{a: int64(i)}, id: int64(i)}, extra: &derivedExtra{a: int64(i)}}
	}
	e.Add("main.derived", nDerived, expect.SlotOf(&derived{}, true))
	e.Add("main.baseOwner", nDerived, expect.SlotOf(&baseOwner{}, false))
	e.Add("main.derivedExtra", nDerived, expect.SlotOf(&derivedExtra{}, false))
	path("main.deriveds", "main.baseOwner", nDerived, "owner")
	path("main.deriveds", "main.derivedExtra", nDerived, "extra")
	ret("main.deriveds", map[string]int{"main.derived": nDerived, "main.baseOwner": nDerived, "main.derivedExtra": nDerived})
	total(1+3*nDerived, expect.Slot(uintptr(cap(deriveds))*8, true)+nDerived*(expect.SlotOf(&derived{}, true)+expect.SlotOf(&baseOwner{}, false)+expect.SlotOf(&derivedExtra{}, false)))
	e.Why = append(e.Why, expect.Why{Case: "embedded", Addr: expect.Addr(deriveds[6].owner), Type: "main.baseOwner", Root: "main.deriveds", Fields: []string{"[6]", "owner"}, Hops: 3})

	// Objects with a malloc header, and a large object.
	headered = make([]*hdrObj, nHeadered)
	for i := range headered {
		headered[i] = &hdrObj{child: &hdrChild{a: int64(i)}}
	}
	e.Add("main.hdrObj", nHeadered, expect.SlotOf(&hdrObj{}, true))
	e.Add("main.hdrChild", nHeadered, expect.SlotOf(&hdrChild{}, false))
	path("main.headered", "main.hdrChild", nHeadered, "child")
	ret("main.headered", map[string]int{"main.hdrObj": nHeadered, "main.hdrChild": nHeadered})
	total(1+2*nHeadered, expect.Slot(uintptr(cap(headered))*8, true)+nHeadered*(expect.SlotOf(&hdrObj{}, true)+expect.SlotOf(&hdrChild{}, false)))
	e.Why = append(e.Why, expect.Why{Case: "malloc-header", Addr: expect.Addr(headered[2].child), Type: "main.hdrChild", Root: "main.headered", Fields: []string{"[2]", "child"}, Hops: 3})
	big = &bigObj{child: &bigChild{a: 1}}
	e.Add("main.bigObj", 1, expect.SlotOf(big, true))
	e.Add("main.bigChild", 1, expect.SlotOf(&bigChild{}, false))
	ret("main.big", map[string]int{"main.bigObj": 1, "main.bigChild": 1})
	total(2, expect.SlotOf(big, true)+expect.SlotOf(big.child, false))
	e.Why = append(e.Why, expect.Why{Case: "large-object", Addr: expect.Addr(big.child), Type: "main.bigChild", Root: "main.big", Fields: []string{"child"}, Hops: 2})

	// A pointer into the middle of an object keeps all of it alive.
	io := &interiorObj{a: 1}
	interior = &io.c[2]
	e.Add("main.interiorObj", 1, expect.SlotOf(io, true))
	ret("main.interior", map[string]int{"main.interiorObj": 1})
	total(1, expect.SlotOf(io, true))
	e.Why = append(e.Why, expect.Why{Case: "interior-pointer", Addr: expect.Addr(io), Type: "main.interiorObj", Root: "main.interior", Hops: 1})

	// A window of a slice keeps its whole backing array alive, and every
	// object the array points to, inside the window or not.
	arr := make([]*subElem, 100)
	for i := range arr {
		arr[i] = &subElem{id: int64(i)}
	}
	window = arr[40:50]
	e.Add("main.subElem", len(arr), expect.SlotOf(arr[0], false))
	e.Arrays["*main.subElem"] = expect.Count{Objects: 1, Bytes: expect.Slot(100*8, true)}
	ret("main.window", map[string]int{"main.subElem": len(arr)})
	total(1+len(arr), expect.Slot(100*8, true)+uint64(len(arr))*expect.SlotOf(arr[0], false))
	e.Why = append(e.Why, expect.Why{Case: "outside-window", Addr: expect.Addr(arr[3]), Type: "main.subElem", Root: "main.window", Fields: []string{"[3]"}, Hops: 2})

	// A large object without pointers.
	blob = make([]blobByte, 1<<20)
	e.Arrays["main.blobByte"] = expect.Count{Objects: 1, Bytes: expect.Slot(1<<20, false)}
	ret("main.blob", map[string]int{})
	total(1, expect.Slot(1<<20, false))
	return e
}

//go:noinline
func newHidden() *hiddenObj { return &hiddenObj{id: 5} }

// hide keeps an object's address in a uintptr only: it is garbage.
//
//go:noinline
func hide(e *expect.Expect) {
	h := newHidden()
	escape(h)
	hidden = uintptr(unsafe.Pointer(h))
	e.Types["main.hiddenObj"] = expect.Count{}
	e.Garbage["main.hiddenObj"] = 1
	e.GarbageAddrs = append(e.GarbageAddrs, uint64(hidden))
}

// drop is where garbage passes through on its way to being unreachable:
// storing it here makes it escape to the heap; drop is cleared at once.
var drop any

//go:noinline
func escape(x any) {
	drop = x
	drop = nil
}

// garbage allocates objects of the counted types and drops them: they stay
// allocated (the collector is off) but nothing reaches them.
//
//go:noinline
func garbage(e *expect.Expect) {
	e.Garbage = map[string]int{}
	m := make(map[string]*session)
	for i := 0; i < 200; i++ {
		m[fmt.Sprint(i)] = &session{user: &sessUser{}}
	}
	e.GarbageAddrs = append(e.GarbageAddrs, expect.Addr(m["7"]), expect.Addr(m["7"].user))
	escape(m)
	e.Garbage["main.session"] = 200
	e.Garbage["main.sessUser"] = 200
	var it []*sliceItem
	for i := 0; i < 100; i++ {
		it = append(it, &sliceItem{a: int64(i)})
	}
	e.GarbageAddrs = append(e.GarbageAddrs, expect.Addr(it[3]))
	escape(it)
	e.Garbage["main.sliceItem"] = 100
	var a []any
	for i := 0; i < 50; i++ {
		a = append(a, anyVal{a: [3]int64{int64(i)}}, &anyPtr{})
	}
	escape(a)
	e.Garbage["main.anyVal"] = 50
	e.Garbage["main.anyPtr"] = 50
	var hs []func() int64
	for i := 0; i < 20; i++ {
		hs = append(hs, makeHandler(&captured{n: int64(i)}))
	}
	escape(hs)
	e.Garbage["main.captured"] = 20
	e.Garbage["main.makeHandler.func1 (closure)"] = 20
	ch := make(chan *queued, 10)
	for i := 0; i < 10; i++ {
		ch <- &queued{}
	}
	escape(ch)
	e.Garbage["main.queued"] = 10
	l := &List[*listItem]{}
	for i := 0; i < 10; i++ {
		l.head = &lnode[*listItem]{v: &listItem{}, next: l.head}
	}
	e.GarbageAddrs = append(e.GarbageAddrs, expect.Addr(l.head), expect.Addr(l.head.v))
	escape(l)
	e.Garbage["main.List[*main.listItem]"] = 1
	e.Garbage["main.lnode[*main.listItem]"] = 10
	e.Garbage["main.listItem"] = 10
	var hd []*hdrObj
	for i := 0; i < 5; i++ {
		hd = append(hd, &hdrObj{child: &hdrChild{}})
	}
	e.GarbageAddrs = append(e.GarbageAddrs, expect.Addr(hd[1]), expect.Addr(hd[1].child))
	escape(hd)
	e.Garbage["main.hdrObj"] = 5
	e.Garbage["main.hdrChild"] = 5
	b := &bigObj{child: &bigChild{}}
	e.GarbageAddrs = append(e.GarbageAddrs, expect.Addr(b), expect.Addr(b.child))
	escape(b)
	e.Garbage["main.bigObj"] = 1
	e.Garbage["main.bigChild"] = 1
}
