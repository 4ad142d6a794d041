// Command midgc keeps a fixed object graph alive while one goroutine
// allocates as fast as it can with GOGC at 5, so the collector is running
// most of the time: a process stopped at a random moment is usually in the
// middle of a GC cycle (marking, or sweeping what the last cycle freed).
// The fixed part's counts never change; the churn's objects (main.churnNode)
// come and go and are not counted. It prints what a heap walk must find
// (package expect) and blocks its main goroutine.
package main

import (
	"runtime"
	"runtime/debug"

	"github.com/leakhunt/leakhunt/profiler/refs/testdata/progs/expect"
)

type stableVal struct {
	id   int64
	peer *stablePeer
	pad  [2]int64
}

type stablePeer struct{ a, b, c int64 }

type ballastNode struct {
	next *ballastNode
	id   int64
}

type churnNode struct {
	next *churnNode
	pad  [2]int64
}

var (
	stable   map[int64]*stableVal
	ballast  *ballastNode
	stableL  []*stableVal
	churning int64
)

const (
	nStable  = 2000
	nBallast = 100000
)

// churn allocates lists of churnNode and drops them, forever.
func churn() {
	var keep *churnNode
	for i := 0; ; i++ {
		var l *churnNode
		for j := 0; j < 64; j++ {
			l = &churnNode{next: l}
		}
		keep = l // the last list stays reachable from this frame
		if i%1024 == 0 {
			runtime.Gosched()
		}
		churning++
		runtime.KeepAlive(keep)
	}
}

func main() {
	e := build()
	debug.SetGCPercent(5)
	go churn()
	expect.Announce(e)
	expect.Hold()
}

//go:noinline
func build() *expect.Expect {
	e := &expect.Expect{Program: "midgc"}
	stable = make(map[int64]*stableVal)
	stableL = make([]*stableVal, 0, nStable/2)
	for i := 0; i < nStable; i++ {
		v := &stableVal{id: int64(i), peer: &stablePeer{a: int64(i)}}
		stable[int64(i)] = v
		if i%2 == 0 {
			stableL = append(stableL, v) // shared by main.stable and main.stableL
		}
	}
	e.Add("main.stableVal", nStable, expect.SlotOf(&stableVal{}, true))
	e.Add("main.stablePeer", nStable, expect.SlotOf(&stablePeer{}, false))
	e.Retained = append(e.Retained,
		expect.Retained{Root: "main.stable", Objects: map[string]int{"main.stableVal": nStable / 2, "main.stablePeer": nStable / 2}},
		expect.Retained{Root: "main.stableL", Objects: map[string]int{"main.stableVal": 0, "main.stablePeer": 0}})
	e.Shared = append(e.Shared,
		expect.Shared{Type: "main.stableVal", Objects: nStable / 2, Roots: []string{"main.stable", "main.stableL"}},
		expect.Shared{Type: "main.stablePeer", Objects: nStable / 2, Roots: []string{"main.stable", "main.stableL"}})
	e.Paths = append(e.Paths,
		expect.Path{Root: "main.stable", Type: "main.stableVal", Objects: nStable / 2, Has: []string{"map value"}},
		expect.Path{Root: "main.stable", Type: "main.stablePeer", Objects: nStable / 2, Has: []string{"map value", "peer"}},
		expect.Path{Root: "shared by main.stable, main.stableL", Type: "main.stableVal", Objects: nStable / 2},
		expect.Path{Root: "shared by main.stable, main.stableL", Type: "main.stablePeer", Objects: nStable / 2, Has: []string{"peer"}})
	e.Why = append(e.Why, expect.Why{Case: "stable-map", Addr: expect.Addr(stable[1].peer), Type: "main.stablePeer", Root: "main.stable", Fields: []string{"peer"}})

	for i := 0; i < nBallast; i++ {
		ballast = &ballastNode{next: ballast, id: int64(i)}
	}
	e.Add("main.ballastNode", nBallast, expect.SlotOf(ballast, true))
	e.Retained = append(e.Retained, expect.Retained{Root: "main.ballast", Objects: map[string]int{"main.ballastNode": nBallast},
		Total: &expect.Count{Objects: nBallast, Bytes: nBallast * expect.SlotOf(ballast, true)}})
	n := ballast
	for i := 0; i < 20; i++ {
		n = n.next
	}
	f := []string{}
	for i := 0; i < 20; i++ {
		f = append(f, "next")
	}
	e.Why = append(e.Why, expect.Why{Case: "ballast", Addr: expect.Addr(n), Type: "main.ballastNode", Root: "main.ballast", Fields: f, Hops: 21})
	e.Stable = []string{"main.stableVal", "main.stablePeer", "main.ballastNode"}
	return e
}
