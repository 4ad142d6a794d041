// Package proof holds what the leakdemo tests use to measure a leak with the
// runtime itself: live heap after a forced GC, goroutine counts, RSS. It is
// for tests only and is not embedded with the demos.
package proof

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// MiB is a mebibyte.
const MiB = 1 << 20

// Heap returns the bytes of live heap objects after two forced GCs (the
// second one runs the finalizers and sweeps what the first freed).
func Heap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// Growth is Heap() now minus base, and 0 when the heap shrank.
func Growth(base uint64) uint64 {
	if h := Heap(); h > base {
		return h - base
	}
	return 0
}

// Goroutines waits up to 10 s for runtime.NumGoroutine to fall to at most
// want, and returns the last count seen. It is a deadline, not a timing
// assertion: goroutines that exit do so at their own pace.
func Goroutines(want int) int {
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// RSS returns this process's resident set size from /proc/self/status.
func RSS(t testing.TB) uint64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("RSS needs /proc: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("parse VmRSS %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// Size formats n bytes for test logs.
func Size(n uint64) string {
	return fmt.Sprintf("%.2f MiB", float64(n)/MiB)
}
