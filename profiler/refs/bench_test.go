package refs

import (
	"context"
	"math/rand"
	"os"
	"strconv"
	"testing"

	"github.com/leakhunt/leakhunt/profiler/heapgraph"
)

// randomHeap builds a heap-shaped graph of n objects and about 2n pointers:
// 64 roots each holding a tree of objects (a first pointer to a lower-index
// parent keeps every object reachable), plus random cross pointers that
// make many objects shared.
func randomHeap(n int, seed int64) *heapgraph.Graph {
	rng := rand.New(rand.NewSource(seed))
	const nroots, ntypes = 64, 200
	g := &heapgraph.Graph{Types: make([]heapgraph.Type, ntypes+1)}
	for i := 1; i <= ntypes; i++ {
		g.Types[i].Name = "main.T" + strconv.Itoa(i)
	}
	g.Addr, g.Size, g.Type = make([]uint64, n), make([]uint64, n), make([]heapgraph.TypeID, n)
	out := make([][]int32, n)
	for i := 0; i < n; i++ {
		g.Addr[i] = 0xc000000000 + uint64(i)*64
		g.Size[i] = uint64(16 << rng.Intn(3))
		g.Type[i] = heapgraph.TypeID(rng.Intn(ntypes + 1))
		if i >= nroots {
			p := rng.Intn(i)
			out[p] = append(out[p], int32(i))
		}
	}
	for k := 0; k < n; k++ {
		if rng.Intn(20) == 0 {
			out[rng.Intn(n)] = append(out[rng.Intn(n)], int32(rng.Intn(n)))
		} else {
			i := rng.Intn(n)
			out[i] = append(out[i], int32(i+1+rng.Intn(32))%int32(n))
		}
	}
	g.Out = make([]int64, 1, n+1)
	for _, l := range out {
		for j, t := range l {
			g.To = append(g.To, t)
			g.Off = append(g.Off, uint32(8*j))
		}
		g.Out = append(g.Out, int64(len(g.To)))
	}
	g.RootOut = []int64{0}
	for r := 0; r < nroots; r++ {
		g.Roots = append(g.Roots, heapgraph.Root{Kind: heapgraph.RootGlobal, Name: "main.root" + strconv.Itoa(r)})
		g.RootTo = append(g.RootTo, int32(r))
		g.RootOff = append(g.RootOff, 0)
		g.RootOut = append(g.RootOut, int64(len(g.RootTo)))
	}
	return g
}

// BenchmarkAnalyze analyses a 1M-object heap; LEAKHUNT_BENCH_OBJECTS sets
// another size (the target: 11M objects, about 20M pointers).
func BenchmarkAnalyze(b *testing.B) {
	n := 1 << 20
	if s := os.Getenv("LEAKHUNT_BENCH_OBJECTS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	g := randomHeap(n, 1)
	b.ReportMetric(float64(len(g.To)), "edges")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Analyze(context.Background(), g, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
