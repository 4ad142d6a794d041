// Command finalizers keeps objects alive through the runtime's specials
// only: a finalizer's closure captures a main.finCaptured, and a cleanup's
// argument is a main.cleanupArg; nothing else reaches either. The objects
// the finalizer and the cleanup are attached to are held by package
// variables. It prints what a heap walk must find (package expect): the
// counts, and chains that start at a finalizer root. The collector is off,
// so neither ever runs.
package main

import (
	"runtime"
	"runtime/debug"

	"github.com/leakhunt/leakhunt/profiler/refs/testdata/progs/expect"
)

type finObj struct {
	id  int64
	pad [3]int64
}

type finCaptured struct {
	id  int64
	pad [5]int64
}

type cleanupOwner struct {
	id  int64
	pad [7]int64
}

type cleanupArg struct {
	id  int64
	pad [9]int64
}

var (
	finHeld     *finObj
	cleanupHeld *cleanupOwner
	sum         int64
)

func main() {
	debug.SetGCPercent(-1)
	e := build()
	expect.Announce(e)
	expect.Hold()
}

//go:noinline
func build() *expect.Expect {
	e := &expect.Expect{Program: "finalizers"}
	finHeld = &finObj{id: 1}
	fc := &finCaptured{id: 2}
	runtime.SetFinalizer(finHeld, func(o *finObj) { sum += fc.id })
	cleanupHeld = &cleanupOwner{id: 3}
	ca := &cleanupArg{id: 4}
	runtime.AddCleanup(cleanupHeld, func(a *cleanupArg) { sum += a.id }, ca)
	e.Add("main.finObj", 1, expect.SlotOf(finHeld, false))
	e.Add("main.finCaptured", 1, expect.SlotOf(fc, false))
	e.Add("main.cleanupOwner", 1, expect.SlotOf(cleanupHeld, false))
	e.Add("main.cleanupArg", 1, expect.SlotOf(ca, false))
	e.Retained = append(e.Retained,
		expect.Retained{Root: "main.finHeld", Objects: map[string]int{"main.finObj": 1, "main.finCaptured": 0},
			Total: &expect.Count{Objects: 1, Bytes: expect.SlotOf(finHeld, false)}},
		expect.Retained{Root: "main.cleanupHeld", Objects: map[string]int{"main.cleanupOwner": 1, "main.cleanupArg": 0},
			Total: &expect.Count{Objects: 1, Bytes: expect.SlotOf(cleanupHeld, false)}})
	e.Why = append(e.Why,
		expect.Why{Case: "finalizer", Addr: expect.Addr(fc), Type: "main.finCaptured", RootKind: "finalizer"},
		expect.Why{Case: "cleanup", Addr: expect.Addr(ca), Type: "main.cleanupArg", RootKind: "finalizer"},
		expect.Why{Case: "finalized", Addr: expect.Addr(finHeld), Type: "main.finObj", Root: "main.finHeld", Hops: 1})
	return e
}
