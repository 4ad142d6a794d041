//go:build linux && amd64

package attach

import (
	"context"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"
)

// BenchmarkGraphStopped measures how long a heap-graph capture stops a
// process holding LEAKHUNT_GRAPH_MB MiB (default 256) of small objects, how
// much it copies and how long the whole capture (the walk included) takes.
// It reports the median stopped time as stopped-ms, the copy alone as
// copying-ms, the bytes copied as copied-MiB and the capture as total-s.
//
//	LEAKHUNT_GRAPH_MB=1100 go test ./profiler/attach -run '^$' -bench GraphStopped -benchtime 5x
func BenchmarkGraphStopped(b *testing.B) {
	mb := 256
	if v, err := strconv.Atoi(os.Getenv("LEAKHUNT_GRAPH_MB")); err == nil {
		mb = v
	}
	p := startB(b, fixtureBin(b, "graph"), "-mb", strconv.Itoa(mb))
	var stopped, copying, total []time.Duration
	var copied uint64
	var objects int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		g, gc, err := CaptureGraph(context.Background(), p.pid, Options{})
		if err != nil {
			b.Fatal(err)
		}
		objects = len(g.Addr)
		total = append(total, gc.Duration)
		stopped = append(stopped, gc.Stopped)
		copying = append(copying, gc.Copying)
		copied = gc.CopiedBytes
	}
	b.StopTimer()
	med := func(ds []time.Duration) float64 {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return float64(ds[len(ds)/2].Microseconds()) / 1000
	}
	b.ReportMetric(med(stopped), "stopped-ms")
	b.ReportMetric(med(copying), "copying-ms")
	b.ReportMetric(float64(copied)/(1<<20), "copied-MiB")
	b.ReportMetric(med(total)/1000, "total-s")
	b.ReportMetric(float64(objects), "objects")
}
