// Command churn keeps exactly nKeep objects reachable while it allocates
// garbage as fast as it can, so that the garbage collector is always
// running: a core taken at any moment is likely mid-mark or mid-sweep.
package main

import (
	"fmt"
	"os"
	"runtime/debug"
)

// keep is held by kept, nKeep of them, through the whole run.
type keep struct {
	a    [70]int
	next *keep
}

// churned is garbage, allocated and dropped in a loop.
type churned struct {
	a [70]int
	p *keep
}

const nKeep = 5000

var (
	kept []*keep
	sink *churned
)

func main() {
	debug.SetGCPercent(10)
	for i := 0; i < nKeep; i++ {
		k := &keep{}
		if i > 0 {
			k.next = kept[i-1]
		}
		kept = append(kept, k)
	}
	// Ballast so that each cycle has work to mark and spans to sweep.
	ballast := make([][]byte, 0, 1000)
	for i := 0; i < 1000; i++ {
		ballast = append(ballast, make([]byte, 4096))
	}
	fmt.Println("ready")
	os.Stdout.Sync()
	for i := 0; ; i++ {
		for j := 0; j < 64; j++ {
			sink = &churned{p: kept[(i+j)%nKeep]}
		}
		if len(ballast) > 0 && i%100000 == 0 {
			ballast[i/100000%len(ballast)] = make([]byte, 4096)
		}
	}
}
