// Command noprof never references runtime/pprof, so the linker leaves its
// memory profiler off (runtime.MemProfileRate is 0): the case leakhunt must
// detect and explain.
package main

import (
	"fmt"
	"os"
	"runtime"
	"time"
)

var retained [][]byte

//go:noinline
func grow() { retained = append(retained, make([]byte, 1<<16)) }

func main() {
	for i := 0; i < 64; i++ {
		grow()
	}
	runtime.GC()
	fmt.Printf("ready %d -\n", os.Getpid())
	for {
		// Keep allocating so a profiler switched on later has samples to take.
		grow()
		if len(retained) > 256 {
			retained = retained[:64]
		}
		time.Sleep(10 * time.Millisecond)
	}
}
