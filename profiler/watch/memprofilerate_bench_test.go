package watch_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leakhunt/leakhunt/profiler/watch"
)

// BenchmarkMemProfileRate measures what a finer heap sampling rate costs a
// program leakhunt starts. Each round runs the same allocation workload in
// fresh processes (this test binary, started as a child) at the runtime's
// default rate (512 KiB) and at leakhunt's (64 KiB), in the order A B B A so
// that a drifting machine load falls on both alike. It reports the wall time
// per operation at each rate, timed by the children themselves (process
// start-up is not counted), how much longer the finer rate took
// ("%slower"), and how much more CPU time the child processes used in all
// ("%cpu-more": user and system time, the GC's workers included; it includes
// the children's start-up, the same at both rates, and it is less disturbed
// than wall time by other work on the machine).
//
// Workloads: "small" is allocation and little else (objects of 16 B to
// 1 KiB, one in 64 kept for a while), the worst case for sampling; "service"
// is what a request handler does (build a record, encode it as JSON, split
// and join strings), the usual case. Both run with 32 MiB of live heap, as a
// small service has, so that the garbage collector runs as often as it would
// there (a near-empty heap is collected every 4 MiB allocated).
//
// The cost is a price per sampled allocation (its stack is recorded, and its
// record updated when it is freed), so it grows with the allocation rate:
// "ns/extra-sample" is the extra CPU time divided by the extra samples the
// finer rate took (14 more per MiB allocated).
//
//	go test -run '^$' -bench MemProfileRate -count 5 ./profiler/watch
func BenchmarkMemProfileRate(b *testing.B) {
	for _, w := range []string{"small", "service"} {
		b.Run(w, func(b *testing.B) {
			var base, fine, baseCPU, fineCPU time.Duration
			var allocated uint64
			for _, rate := range []int{watch.RuntimeMemProfileRate, watch.DefaultMemProfileRate, watch.DefaultMemProfileRate, watch.RuntimeMemProfileRate} {
				d, cpu, n := runAllocChild(b, w, b.N, rate)
				if rate == watch.RuntimeMemProfileRate {
					base += d
					baseCPU += cpu
					allocated += n
				} else {
					fine += d
					fineCPU += cpu
				}
			}
			b.ReportMetric(float64(base)/2/float64(b.N), "ns/op@512KiB")
			b.ReportMetric(float64(fine)/2/float64(b.N), "ns/op@64KiB")
			b.ReportMetric(100*(float64(fine)/float64(base)-1), "%slower")
			b.ReportMetric(100*(float64(fineCPU)/float64(baseCPU)-1), "%cpu-more")
			b.ReportMetric(float64(allocated)/base.Seconds()/(1<<20), "MiB/s-allocated@512KiB")
			// Both rounds at each rate allocated about the same: allocated/2
			// bytes per child.
			extra := float64(allocated) * (1.0/watch.DefaultMemProfileRate - 1.0/watch.RuntimeMemProfileRate)
			b.ReportMetric(float64(fineCPU-baseCPU)/extra, "ns/extra-sample")
			b.ReportMetric(float64(fine)/2/float64(b.N), "ns/op") // what a program under leakhunt sees
		})
	}
}

// runAllocChild runs workload n times in a child at the given rate and
// returns how long the workload took, the CPU time the child used, and how
// many bytes the workload allocated.
func runAllocChild(b *testing.B, workload string, n, rate int) (wall, cpu time.Duration, allocated uint64) {
	b.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = watch.WithMemProfileRate(append(envWithout(), fmt.Sprintf("%s=alloc %s %d", childEnv, workload, n)), rate)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("allocation child: %v", err)
	}
	var gotRate int
	var ns int64
	var bytes uint64
	if _, err := fmt.Sscanf(string(out), "rate %d ns %d bytes %d", &gotRate, &ns, &bytes); err != nil {
		b.Fatalf("allocation child printed %q: %v", out, err)
	}
	if gotRate != rate {
		b.Fatalf("allocation child ran at rate %d, want %d", gotRate, rate)
	}
	return time.Duration(ns), cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), bytes
}

// allocChild runs in the child: WORKLOAD N. It prints the rate it runs at,
// how long the workload took and how many bytes it allocated.
func allocChild(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "alloc child: want WORKLOAD N")
		return 2
	}
	n, err := strconv.Atoi(args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "alloc child:", err)
		return 2
	}
	var op func(i int)
	switch args[0] {
	case "small":
		op = smallOp
	case "service":
		op = serviceOp
	default:
		fmt.Fprintf(os.Stderr, "alloc child: no workload %q\n", args[0])
		return 2
	}
	for i := range ballast {
		ballast[i] = make([]byte, 128<<10)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	deep(16, func() {
		for i := range n {
			op(i)
		}
	})
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	w := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(w, "rate %d ns %d bytes %d\n", runtime.MemProfileRate, elapsed.Nanoseconds(), after.TotalAlloc-before.TotalAlloc)
	w.Flush()
	return 0
}

// deep calls f from depth frames down: a sampled allocation records its
// stack, and a service's stacks are deeper than a benchmark loop's.
//
//go:noinline
func deep(depth int, f func()) {
	if depth == 0 {
		f()
		return
	}
	deep(depth-1, f)
}

var (
	ballast [256][]byte  // 32 MiB of live heap
	kept    [4096][]byte // one small object in 64 stays alive for a while
	sinkStr string
	sinkN   int
)

// smallOp allocates 16 objects of 16 B to 1 KiB.
func smallOp(i int) {
	for j := range 16 {
		b := make([]byte, 16+(i*16+j)*37%1009)
		if (i*16+j)%64 == 0 {
			kept[(i*16+j)/64%len(kept)] = b
		}
		sinkN += len(b)
	}
}

type record struct {
	ID    int               `json:"id"`
	Name  string            `json:"name"`
	Tags  []string          `json:"tags"`
	Attrs map[string]string `json:"attrs"`
}

// serviceOp builds a record, encodes it and splits and joins strings.
func serviceOp(i int) {
	r := record{ID: i, Name: "user-" + strconv.Itoa(i), Tags: strings.Fields("a b c d e f"), Attrs: map[string]string{"k": strings.Repeat("v", i%200)}}
	data, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	parts := make([]string, 0, 8)
	for j := range 8 {
		parts = append(parts, strings.Repeat("x", 16+(i+j)%512))
	}
	sinkStr = strings.Join(parts, ",") + string(data)
}
