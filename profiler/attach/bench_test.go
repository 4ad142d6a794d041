//go:build linux && amd64

package attach

import (
	"context"
	"sort"
	"testing"
	"time"
)

// BenchmarkStopped measures how long a capture stops a process with 10,000
// goroutines and over 5,000 memory-profile buckets, and how long the whole
// capture takes. It reports the median stopped time as stopped-ms (and the
// shortest as min-stopped-ms): a loaded machine adds scheduling noise.
//
//	go test ./profiler/attach -run '^$' -bench Stopped -benchtime 10x
func BenchmarkStopped(b *testing.B) {
	p := startB(b, fixtureBin(b, "go1.26"), "-goroutines", "10000", "-buckets", "5000", "-rate", "1")
	var stopped []time.Duration
	var goroutines, samples int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s, err := Capture(context.Background(), p.pid, Options{})
		if err != nil {
			b.Fatal(err)
		}
		stopped = append(stopped, s.Capture.Stopped)
		goroutines, samples = len(s.Goroutines), len(s.Heap.Sample)
	}
	b.StopTimer()
	sort.Slice(stopped, func(i, j int) bool { return stopped[i] < stopped[j] })
	b.ReportMetric(float64(stopped[len(stopped)/2].Microseconds())/1000, "stopped-ms")
	b.ReportMetric(float64(stopped[0].Microseconds())/1000, "min-stopped-ms")
	b.ReportMetric(float64(goroutines), "goroutines")
	b.ReportMetric(float64(samples), "heap-samples")
}
