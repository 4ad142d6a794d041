package heapgraph

import (
	"context"
	"testing"
)

// BenchmarkBuild builds the graph of testdata/bigheap from a core. The heap
// is small by default; for the 1.1 GB, 11 M-object figure run
//
//	BIGHEAP_OBJECTS=11000000 BIGHEAP_MB=1100 go test -run - -bench Build -benchtime 3x ./profiler/heapgraph
func BenchmarkBuild(b *testing.B) {
	bin := buildProg(b, "bigheap", "local")
	cmd, _ := startProg(b, bin)
	core := dumpCore(b, cmd.Process.Pid)
	cmd.Process.Kill()
	c, err := OpenCore(core)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	in := &Input{Mem: c.Mem, Exe: bin}
	var g *Graph
	b.ReportAllocs()
	for b.Loop() {
		g, err = Build(context.Background(), in)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(g.Stats.Reachable), "objects")
	b.ReportMetric(float64(len(g.To)), "edges")
	b.ReportMetric(float64(g.Stats.ReachableBytes)/(1<<20), "heap-MiB")
}
