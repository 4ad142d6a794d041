// Command typer is a heapgraph test target for DWARF typing: every kind of
// typed path the typer follows (maps big and small, slices, arrays,
// strings, interfaces, closures, method values, channels, generics,
// embedded structs) leads to objects of its own small type, in an exact
// number, that only DWARF can type (they are too small for a malloc
// header). It prints "ready" and waits to be captured.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// leaf is what every leaf type is: one pointer (so that its objects are
// scanned), small (so that only DWARF can type them).
type leaf struct {
	p  *int
	id int
}

// The leaf types: one per path the typer follows.
type (
	session    leaf
	smallVal   leaf
	structVal  leaf
	keyObj     leaf
	sliceElem  leaf
	arrayElem  leaf
	efaceElem  leaf
	ifaceElem  leaf
	boxedVal   leaf
	closureVar leaf
	methodRecv leaf
	chanElem   leaf
	genericVal leaf
	embedded   leaf
	bigElem    leaf
	nested     leaf
	stackElem  leaf
	bigValLeaf leaf
	pairB      leaf
	anyElem    leaf
	dynElem    leaf
	regElem    leaf
	queueElem  leaf
	poolElem   leaf
	atomicElem leaf
	syncElem   leaf
)

func (i *ifaceElem) String() string { return "ifaceElem" }
func (i *dynElem) String() string   { return "dynElem" }
func (m *methodRecv) Run() int      { return m.id }

// bigValue is over 128 bytes: a map keeps it out of line, its slots hold
// pointers to copies.
type bigValue struct {
	p   *bigValLeaf
	pad [40]int
}

// pair is an array element with a pointer inside.
type pair struct {
	a int
	b *pairB
}

// Registry is a named map type; Queue a named channel type.
type (
	Registry map[string]*regElem
	Queue    chan *queueElem
)

// entry is a map value held by value: the map's slots hold its pointer.
type entry struct {
	name string
	v    *structVal
}

// Box is generic: its DWARF name is instantiated, "main.Box[...]".
type Box[T any] struct {
	v    T
	next *Box[T]
}

// Inner is embedded in Outer.
type Inner struct {
	e *embedded
	n int
}

type Outer struct {
	Inner
	tail *nested
}

const (
	nSessions  = 1000
	nSmallMap  = 5
	nStructVal = 300
	nKeys      = 7
	nSlice     = 40
	nChan      = 3
	nGeneric   = 4
	nBig       = 100
	nNames     = 6
	nBigVals   = 9
	nAnys      = 3
)

var (
	sessions  = map[string]*session{}
	smallMap  = map[int]*smallVal{}
	byValue   = map[int]entry{}
	byKey     = map[*keyObj]bool{}
	slice     []*sliceElem
	array     [4]*arrayElem
	eface     any
	iface     fmt.Stringer
	boxed     any
	closure   func() int
	method    func() int
	ch        = make(chan *chanElem, 10)
	box       *Box[*genericVal]
	outer     *Outer
	bigSlice  []*bigElem // its backing array has a malloc header
	names     []string
	bigVals   = map[int]bigValue{}
	pairs     [3]pair
	anys      []any
	anyDyn    any
	dyn       fmt.Stringer // its itab is made at run time
	registry  = Registry{}
	queue     = make(Queue, 4)
	pool      sync.Pool
	atomicP   atomic.Pointer[atomicElem]
	keepAlive []any
	// ticker is a runtime.timeTimer: the runtime allocates a time.Ticker
	// as one, with its own timer after the channel.
	ticker = time.NewTicker(time.Hour)
	// syncMap's nodes are reached as internal/sync.node, the header of
	// its entries and indirect nodes.
	syncMap sync.Map
)

const nSync = 20

func main() {
	debug.SetGCPercent(-1)
	for i := 0; i < nSessions; i++ {
		sessions["s"+strconv.Itoa(i)] = &session{id: i}
	}
	for i := 0; i < nSmallMap; i++ {
		smallMap[i] = &smallVal{id: i}
	}
	for i := 0; i < nStructVal; i++ {
		byValue[i] = entry{name: "e", v: &structVal{id: i}}
	}
	for i := 0; i < nKeys; i++ {
		byKey[&keyObj{id: i}] = true
	}
	for i := 0; i < nSlice; i++ {
		slice = append(slice, &sliceElem{id: i})
	}
	for i := range array {
		array[i] = &arrayElem{id: i}
	}
	eface = &efaceElem{}
	iface = &ifaceElem{}
	boxed = boxedVal{p: new(int)} // stored indirectly: a heap copy of the struct
	cv := &closureVar{id: 1}
	closure = func() int { return cv.id }
	method = (&methodRecv{id: 2}).Run
	for i := 0; i < nChan; i++ {
		ch <- &chanElem{id: i}
	}
	for i := 0; i < nGeneric; i++ {
		box = &Box[*genericVal]{v: &genericVal{id: i}, next: box}
	}
	outer = &Outer{Inner: Inner{e: &embedded{}}, tail: &nested{}}
	for i := 0; i < nBig; i++ {
		bigSlice = append(bigSlice, &bigElem{id: i})
	}
	bigSlice = bigSlice[:nBig:nBig]
	for i := 0; i < nNames; i++ {
		names = append(names, fmt.Sprintf("name-%d-%s", i, "abcdefghijklmnopqrstuvwxyz"))
	}
	for i := 0; i < nBigVals; i++ {
		bigVals[i] = bigValue{p: &bigValLeaf{id: i}}
	}
	for i := range pairs {
		pairs[i].b = &pairB{id: i}
	}
	for i := 0; i < nAnys; i++ {
		anys = append(anys, &anyElem{id: i})
	}
	registry["a"], registry["b"] = &regElem{}, &regElem{}
	queue <- &queueElem{}
	anyDyn = &dynElem{}
	dyn = anyDyn.(fmt.Stringer)
	anyDyn = nil
	// A collection would shrink and so move hold's stack: collect first.
	runtime.GC()
	pool.Put(&poolElem{})
	atomicP.Store(&atomicElem{})
	for i := 0; i < nSync; i++ {
		syncMap.Store(i, &syncElem{id: i})
	}
	addr := make(chan uintptr)
	go hold(addr)
	// The test reads hold's variable p as a stack root from this address.
	fmt.Printf("stack %#x\n", <-addr)
	fmt.Println("ready")
	os.Stdout.Sync()
	time.Sleep(time.Hour)
}

// hold keeps a stackElem alive in a local variable only.
func hold(addr chan uintptr) {
	p := newStackElem()
	addr <- uintptr(unsafe.Pointer(&p))
	for {
		time.Sleep(time.Hour)
		runtime.KeepAlive(p)
	}
}

// newStackElem allocates on the heap: the compiler would keep a stackElem
// that does not escape on hold's stack.
//
//go:noinline
func newStackElem() *stackElem { return &stackElem{id: 9} }
