// Package expect is shared by the test programs of profiler/refs's
// end-to-end tests: each program builds an object graph whose shape it knows,
// computes from its own data what a heap walk must find (objects and bytes
// per type, what each root retains, which objects are shared, the chain of
// fields leading to one object of each case) and announces it on one ready
// line, "ready " followed by the JSON of an Expect, before it blocks.
//
// Every counted type is used by one case only, so exact counts do not depend
// on what the runtime allocates for itself.
package expect

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// Expect is what a program announces.
type Expect struct {
	Program        string
	PID            int
	Go             string // runtime.Version()
	MemProfileRate int    // runtime.MemProfileRate: 0 when the linker left the profiler out
	// Types: the exact number of reachable objects of each type, and their
	// bytes (slot sizes); Bytes is 0 when it is not checked.
	Types map[string]Count
	// Arrays: reachable backing arrays by element type ("main.gridCell"
	// counts the "[30]main.gridCell" arrays), however the walker spells them.
	Arrays map[string]Count `json:",omitempty"`
	// Retained: what a root keeps alive on its own (its dominated objects).
	Retained []Retained
	// Shared: objects reachable from several roots, retained by none of them.
	Shared []Shared `json:",omitempty"`
	// Paths: root paths that hold all of a collection's objects in one row
	// (indices and map keys dropped).
	Paths []Path `json:",omitempty"`
	// Why: the chain of references from a root to one object.
	Why []Why
	// Garbage: objects of counted types left allocated but unreachable
	// (the program keeps the collector from freeing them); none may count.
	Garbage map[string]int `json:",omitempty"`
	// GarbageAddrs are some of the garbage objects: no walk may reach them.
	GarbageAddrs []uint64 `json:",omitempty"`
	// Goroutines names the goroutines holding stack-only objects: name → ID.
	Goroutines map[string]int64 `json:",omitempty"`
	// Stable lists the types whose counts stay fixed while the program
	// keeps allocating other objects (mid-GC program); empty means all.
	Stable []string `json:",omitempty"`
}

// Count is a number of objects and their bytes.
type Count struct {
	Objects int
	Bytes   uint64 `json:",omitempty"`
}

// Retained says that a root keeps alive, on its own, exactly Objects[T]
// objects of each listed type.
type Retained struct {
	// Root is a package variable ("main.sessions"), or for a goroutine's
	// variable Func and Var ("main.holder", "items") with Goroutine naming
	// an entry of Expect.Goroutines.
	Root      string `json:",omitempty"`
	Goroutine string `json:",omitempty"`
	Func      string `json:",omitempty"`
	Var       string `json:",omitempty"`
	Objects   map[string]int
	// Roots, when set, is how many roots go by this name (the frames of
	// that many goroutines running one function); Root is then the name
	// as the analysis writes it ("goroutine * main.worker: buf").
	Roots int `json:",omitempty"`
	// Total, when set, is everything the root retains: its retained
	// objects and bytes, exactly.
	Total *Count `json:",omitempty"`
}

// Path says that exactly one root path below Root (a package variable or,
// for a goroutine's variable, "goroutine * FUNC: VAR") holds objects of
// Type, Objects of them, and that its steps mention Has, in order.
type Path struct {
	Root    string
	Type    string
	Objects int
	Has     []string `json:",omitempty"`
}

// Shared says that Objects objects of Type are reachable from each of Roots
// (package variables, or "goroutine NAME FUNC VAR") and retained by none.
type Shared struct {
	Type    string
	Objects int
	Roots   []string
}

// Why describes the shortest chain from a root to the object at Addr.
type Why struct {
	Case string
	Addr uint64
	Type string
	// Root as in Retained.
	Root      string `json:",omitempty"`
	Goroutine string `json:",omitempty"`
	Func      string `json:",omitempty"`
	Var       string `json:",omitempty"`
	// RootKind, when set, is the kind of root the chain must start at
	// ("finalizer": a finalizer or cleanup); Root is then not checked.
	RootKind string `json:",omitempty"`
	// Fields must appear, in this order, among the chain's labels.
	Fields []string
	// Hops is the exact number of references from the root to the
	// object (0: not checked, for chains through map internals).
	Hops int `json:",omitempty"`
}

// Addr is the address of the object p points to.
func Addr[T any](p *T) uint64 { return uint64(uintptr(unsafe.Pointer(p))) }

// sizeClasses are the runtime's size classes (internal/runtime/gc, the
// same in Go 1.26 and 1.27).
var sizeClasses = []uint64{8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256, 288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792, 2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728, 10240, 10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768}

const (
	maxSmall        = 32768
	mallocHeader    = 8
	minHeaderedSize = 512 // objects with pointers above this carry a malloc header
	pageSize        = 8192
)

// Slot is the heap slot the allocator gives an object of size bytes: its
// size class, with the malloc header objects with pointers larger than 512
// bytes carry, or whole pages for a large object.
func Slot(size uintptr, pointers bool) uint64 {
	n := uint64(size)
	if pointers && n > minHeaderedSize {
		n += mallocHeader
	}
	if n <= maxSmall {
		for _, c := range sizeClasses {
			if n <= c {
				return c
			}
		}
	}
	n = uint64(size) // large objects keep their type in the span, no header
	return (n + pageSize - 1) / pageSize * pageSize
}

// SlotOf is Slot for the type of *p.
func SlotOf[T any](p *T, pointers bool) uint64 { return Slot(unsafe.Sizeof(*p), pointers) }

// Add counts n objects of type name, each in a slot of the given size.
func (e *Expect) Add(name string, n int, slot uint64) {
	if e.Types == nil {
		e.Types = map[string]Count{}
	}
	c := e.Types[name]
	c.Objects += n
	c.Bytes += uint64(n) * slot
	e.Types[name] = c
}

// GoroutineID returns the calling goroutine's ID.
func GoroutineID() int64 {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	f := strings.Fields(string(buf))
	if len(f) < 2 || f[0] != "goroutine" {
		panic(fmt.Sprintf("expect: cannot read the goroutine ID from %q", buf))
	}
	id, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		panic(err)
	}
	return id
}

// Announce fills in the process's facts and prints the ready line.
func Announce(e *Expect) {
	e.PID = os.Getpid()
	e.Go = runtime.Version()
	e.MemProfileRate = runtime.MemProfileRate
	b, err := json.Marshal(e)
	if err != nil {
		panic(err)
	}
	os.Stdout.Write(append(append([]byte("ready "), b...), '\n'))
}

// Hold blocks forever. A sleeping goroutine keeps the runtime from
// declaring a deadlock, which a bare select{} in the last goroutine would.
func Hold() {
	for {
		time.Sleep(time.Hour)
	}
}
