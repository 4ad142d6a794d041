// Package heapgraph rebuilds the object graph of a Go process's heap from a
// copy of its memory, the way the garbage collector marks it: roots (package
// variables, goroutine stack frames, finalizers and cleanups), objects (the
// allocated slots of in-use spans) and the pointers between them (the
// runtime's own pointer bitmaps: heap bits, malloc headers, large-object
// types). Objects get types from the runtime type found in their header and
// from DWARF types pushed from the roots through typed pointers.
//
// The package knows no process and no debugger: it reads an Image (a copy of
// memory taken by profiler/attach from a stopped process, or a core file) and
// the executable's DWARF. Analyses over the graph (dominators, retained
// sizes, paths) live in profiler/refs.
package heapgraph

import (
	"debug/dwarf"
	"strings"
)

// Input is everything Build needs: a memory image of the target, its
// executable and the goroutine stack roots found by a debugger.
type Input struct {
	// Mem is the target's memory at one moment.
	Mem *Image
	// Exe is the path of the target's executable (for DWARF, symbols and
	// read-only data); Bias is its load bias (0 unless PIE).
	Exe  string
	Bias uint64
	// GoVersion is the runtime version the target was built with ("go1.26.8").
	GoVersion string
	// Stack holds the variables of every goroutine's frames, as the
	// debugger located them. Frames the debugger found no variables in are
	// listed in StackRanges.
	Stack []StackVar
	// StackRanges are stack areas of frames without variable information
	// (runtime and assembly frames), scanned conservatively.
	StackRanges []StackRange
	// Frames are the physical frames of every goroutine's stack, as the
	// debugger unwound them, innermost first. With Frames, Build scans
	// each frame as the garbage collector does, by the stack maps in the
	// executable's pclntab (live pointer slots, and the stack objects
	// pointers reach), and Stack only names and types the roots it finds;
	// without, Stack's variables are scanned whole.
	Frames []Frame
}

// StackVar is one variable of one goroutine's frame: with Input.Frames it
// names and types the roots the stack maps find; without, it is a root.
type StackVar struct {
	Goroutine int64
	Func      string       // the frame's function
	Name      string       // the variable's name
	Type      dwarf.Offset // its DWARF type in Exe; 0 if unknown
	Addr      uint64       // where it lives (on the stack)
	Size      uint64
}

// StackRange is a stretch of one goroutine's stack with no variable
// information.
type StackRange struct {
	Goroutine int64
	Func      string
	Lo, Hi    uint64
}

// TypeID indexes Graph.Types. NoType is an object whose type is unknown.
type TypeID int32

// NoType is the TypeID of objects whose type could not be found.
const NoType TypeID = 0

// Type is one object type found in the heap.
type Type struct {
	// Name is the Go spelling: "main.session", "[]*main.session" backing
	// arrays are "[N]*main.session" or "[]*main.session (backing array)",
	// map internals "map.group[string]*main.session", closures
	// "main.f.func1 (closure)", unknown types "<unknown, 48 B>".
	Name string
	// DWARF is the type's entry in the executable's DWARF, 0 if none.
	DWARF dwarf.Offset
}

// RootKind says what kind of root a Root is.
type RootKind uint8

// The kinds of roots.
const (
	RootGlobal    RootKind = iota + 1 // a package variable (data or bss)
	RootStack                         // a goroutine frame's variable or stack area
	RootFinalizer                     // a finalizer or cleanup
	RootOther                         // anything else the runtime keeps alive
)

// Root is a place outside the heap that holds pointers into it.
type Root struct {
	Kind RootKind
	// Name says which root in the user's words: "main.sessions",
	// "goroutine 7 main.worker: buf", "finalizer of *os.File". A static
	// object a package variable points to (a composite literal the
	// linker laid out in data or bss: var sessions = &registry{...}) is a
	// root of its own named after the variable, typed as the object, its
	// labels starting with the path from the variable (".next", "[1]");
	// a pointer word of data or bss in no known variable is named after
	// the nearest variable before it: "data word after main.handlers".
	Name      string
	Goroutine int64 // for RootStack
	Type      dwarf.Offset
	Addr      uint64
	Size      uint64
}

// Runtime reports whether the root belongs to the Go runtime rather than
// to the program: a variable of package runtime or internal/runtime/...
// (runtime.allp, runtime.allm, runtime.m0, runtime.allgs), or a frame of
// a runtime function. What only such roots reach (Ps, Ms, goroutine
// descriptors, their profiling buffers) is real heap, counted in the
// totals, but the runtime's own, not the program's.
func (r Root) Runtime() bool {
	name := r.Name
	if r.Kind == RootStack {
		// "goroutine 7 runtime.gopark: gp": the frame's function.
		if rest, ok := strings.CutPrefix(name, "goroutine "); ok {
			if _, fn, ok := strings.Cut(rest, " "); ok {
				name = fn
			}
		}
	} else if r.Kind != RootGlobal {
		return false
	}
	return strings.HasPrefix(name, "runtime.") || strings.HasPrefix(name, "internal/runtime/")
}

// Graph is the heap's object graph. Objects are numbered 0..N-1 in address
// order; roots 0..R-1. Edges are stored in compressed sparse rows.
type Graph struct {
	// Objects, by index, in ascending address order: only those reachable
	// from the roots. Addr is the start of the object's slot (its malloc
	// header, when it has one, is the first word) and Size the slot's size
	// (the size class, or the whole span of a large object).
	Addr []uint64
	Size []uint64
	Type []TypeID
	// Out[i]..Out[i+1] index To and Off for object i's pointers: To is the
	// object pointed to, Off the offset in object i that holds the pointer.
	Out []int64
	To  []int32
	Off []uint32

	Types []Type // Types[NoType] is the unknown type

	Roots []Root
	// RootOut/RootTo/RootOff are the roots' pointers, as for objects.
	RootOut []int64
	RootTo  []int32
	RootOff []uint32

	// Stats says what the walk saw.
	Stats Stats

	labeler func(from int, root bool, off uint32) string
	// rootPrefix is, for roots that are static objects a package
	// variable points to, the path from the variable (nil if none are).
	rootPrefix []string
}

// Stats describes a walk.
type Stats struct {
	Spans            int    // in-use heap spans
	Allocated        int    // allocated object slots, unreachable ones (unswept garbage) included
	AllocatedBytes   uint64 // their bytes
	Reachable        int    // objects reachable from the roots
	ReachableBytes   uint64
	Typed            int // reachable objects with a known type
	UnscannedObjects int // objects whose pointer layout could not be read
	// Notes say what was approximated and why, one line each.
	Notes []string
}

// Label names the pointer at offset off in object (or root, when root is
// true) from: a field path such as ".conns[3]", "map value", "(*main.T)".
// It is empty when the type there is unknown.
func (g *Graph) Label(from int, root bool, off uint32) string {
	if g.labeler == nil {
		return ""
	}
	return g.labeler(from, root, off)
}
