// Command statics is a heapgraph test target for package variables
// initialised with composite literals: the linker lays the literal out as
// a static object in data or bss, and the variable points to it there. The
// heap objects the static objects hold must be reached through the
// variables that point to them. It prints "ready" and waits.
package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"time"
)

type session struct {
	id   int
	name *string
}

// registry is a static object: sessions points to it.
type registry struct {
	byID  map[int]*session
	count int
	next  *chain
}

// chain is a static object a static object points to.
type chain struct {
	items []*chainItem
	tag   int
}

type chainItem struct {
	id  int
	pad *int
}

type handler struct {
	name string
	hits []*hit
}

type hit struct {
	n   int
	ptr *int
}

const (
	nSessions = 12
	nItems    = 5
	nHits     = 3
)

var (
	sessions = &registry{byID: map[int]*session{}, next: &chain{tag: 1}}
	// handlers' backing array is static: a slice of composite literals.
	handlers = []*handler{{name: "a"}, {name: "b"}}
)

func main() {
	debug.SetGCPercent(-1)
	for i := 0; i < nSessions; i++ {
		s := "s" + strconv.Itoa(i)
		sessions.byID[i] = &session{id: i, name: &s}
	}
	for i := 0; i < nItems; i++ {
		sessions.next.items = append(sessions.next.items, &chainItem{id: i})
	}
	for i := 0; i < nHits; i++ {
		handlers[1].hits = append(handlers[1].hits, &hit{n: i})
	}
	fmt.Printf("registry %p\n", sessions)
	fmt.Printf("handler %p\n", handlers[1])
	fmt.Println("ready")
	os.Stdout.Sync()
	time.Sleep(time.Hour)
}
