// Package heapgen generates large synthetic Go heap profiles for benchmarks
// and tests; see the genprofile command for what they look like.
package heapgen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/google/pprof/profile"
)

// Generate returns a heap profile of n samples. The same arguments give the
// same profile; grow > 0 gives the later profile of a pair, its leaking sites
// grown by the factor 1+grow.
func Generate(n int, seed uint64, grow float64) *profile.Profile { return generate(n, seed, grow) }

// rate is runtime.MemProfileRate's default, the heap profile's period.
const rate = 512 * 1024

const (
	nFuncs  = 2600
	nLocs   = 4200
	nLayers = 44 // call depth layers: callers in layer i call into layer i+1..i+3
)

var packages = []struct{ path, file string }{
	{"main", "/home/dev/src/acme/api/main.go"},
	{"github.com/acme/api/internal/server", "/home/dev/src/acme/api/internal/server/%s.go"},
	{"github.com/acme/api/internal/store", "/home/dev/src/acme/api/internal/store/%s.go"},
	{"github.com/acme/api/internal/cache", "/home/dev/src/acme/api/internal/cache/%s.go"},
	{"github.com/acme/api/internal/auth", "/home/dev/src/acme/api/internal/auth/%s.go"},
	{"github.com/acme/api/pkg/codec", "/home/dev/src/acme/api/pkg/codec/%s.go"},
	{"github.com/acme/api/pkg/metrics", "/home/dev/src/acme/api/pkg/metrics/%s.go"},
	{"github.com/jackc/pgx/v5/pgconn", "/home/dev/go/pkg/mod/github.com/jackc/pgx/v5@v5.7.1/pgconn/%s.go"},
	{"google.golang.org/grpc", "/home/dev/go/pkg/mod/google.golang.org/grpc@v1.68.0/%s.go"},
	{"google.golang.org/protobuf/internal/impl", "/home/dev/go/pkg/mod/google.golang.org/protobuf@v1.35.2/internal/impl/%s.go"},
	{"go.uber.org/zap/zapcore", "/home/dev/go/pkg/mod/go.uber.org/zap@v1.27.0/zapcore/%s.go"},
	{"net/http", "/usr/local/go/src/net/http/%s.go"},
	{"encoding/json", "/usr/local/go/src/encoding/json/%s.go"},
	{"bufio", "/usr/local/go/src/bufio/%s.go"},
	{"bytes", "/usr/local/go/src/bytes/%s.go"},
	{"strings", "/usr/local/go/src/strings/%s.go"},
	{"compress/flate", "/usr/local/go/src/compress/flate/%s.go"},
	{"crypto/tls", "/usr/local/go/src/crypto/tls/%s.go"},
	{"reflect", "/usr/local/go/src/reflect/%s.go"},
	{"sync", "/usr/local/go/src/sync/%s.go"},
}

var (
	fileWords = []string{"server", "handler", "conn", "decode", "encode", "cache", "pool", "query", "rows", "stream", "buffer", "session", "router", "middleware", "batch", "index", "table", "scan", "writer", "reader"}
	types     = []string{"Server", "Conn", "Decoder", "Encoder", "Cache", "Pool", "Store", "Session", "Router", "Batch", "Index", "Table", "Writer", "Reader", "Client", "Stream", "entry", "shard", "state", "frame"}
	verbs     = []string{"handle", "serve", "decode", "encode", "read", "write", "flush", "grow", "alloc", "load", "store", "lookup", "insert", "scan", "parse", "marshal", "unmarshal", "dispatch", "process", "append"}
	nouns     = []string{"Request", "Response", "Header", "Body", "Row", "Frame", "Entry", "Batch", "Value", "Key", "Token", "Message", "Buffer", "Chunk", "Record", "Field", "Slice", "Map", "Event", "Span"}
)

type gen struct {
	rng   *rand.Rand
	p     *profile.Profile
	funcs []*profile.Function
	layer [][]*profile.Location // locations by call depth layer
	calls map[uint64][]*profile.Location
}

func generate(nSamples int, seed uint64, grow float64) *profile.Profile {
	g := &gen{rng: rand.New(rand.NewPCG(seed, 0x6c65616b68756e74)), calls: make(map[uint64][]*profile.Location)}
	g.p = &profile.Profile{
		SampleType: []*profile.ValueType{
			{Type: "alloc_objects", Unit: "count"}, {Type: "alloc_space", Unit: "bytes"},
			{Type: "inuse_objects", Unit: "count"}, {Type: "inuse_space", Unit: "bytes"},
		},
		PeriodType:    &profile.ValueType{Type: "space", Unit: "bytes"},
		Period:        rate,
		TimeNanos:     1_764_000_000_000_000_000,
		DurationNanos: 0,
	}
	m := &profile.Mapping{ID: 1, Start: 0x400000, Limit: 0x1e00000, File: "/usr/local/bin/api-server", BuildID: "3b1d5f0c9e2a4d7f8a6b0c1d2e3f4a5b6c7d8e9f", HasFunctions: true}
	g.p.Mapping = []*profile.Mapping{m}
	g.makeFunctions()
	g.makeLocations(m)
	stacks := g.makeStacks(nSamples)
	g.makeSamples(nSamples, stacks, grow)
	if err := g.p.CheckValid(); err != nil {
		panic(err) // a bug in this generator
	}
	return g.p
}

func (g *gen) makeFunctions() {
	seen := make(map[string]bool)
	for len(g.funcs) < nFuncs {
		pk := packages[g.rng.IntN(len(packages))]
		var name string
		switch r := g.rng.IntN(10); {
		case r < 4:
			name = fmt.Sprintf("%s.(*%s).%s%s", pk.path, types[g.rng.IntN(len(types))], verbs[g.rng.IntN(len(verbs))], nouns[g.rng.IntN(len(nouns))])
		case r < 6:
			name = fmt.Sprintf("%s.%s%s", pk.path, verbs[g.rng.IntN(len(verbs))], nouns[g.rng.IntN(len(nouns))])
		case r < 8:
			name = fmt.Sprintf("%s.%s%s.func%d", pk.path, verbs[g.rng.IntN(len(verbs))], nouns[g.rng.IntN(len(nouns))], 1+g.rng.IntN(4))
		case r < 9:
			name = fmt.Sprintf("%s.%s[...]", pk.path, verbs[g.rng.IntN(len(verbs))]+nouns[g.rng.IntN(len(nouns))])
		default:
			name = fmt.Sprintf("%s.%s.%s%s", pk.path, types[g.rng.IntN(len(types))], verbs[g.rng.IntN(len(verbs))], nouns[g.rng.IntN(len(nouns))])
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		file := pk.file
		if pk.path != "main" {
			file = fmt.Sprintf(pk.file, fileWords[g.rng.IntN(len(fileWords))])
		}
		f := &profile.Function{ID: uint64(len(g.funcs) + 1), Name: name, SystemName: name, Filename: file, StartLine: int64(10 + g.rng.IntN(900))}
		g.funcs = append(g.funcs, f)
	}
	g.p.Function = g.funcs
}

func (g *gen) line(f *profile.Function) profile.Line {
	return profile.Line{Function: f, Line: f.StartLine + int64(1+g.rng.IntN(60))}
}

func (g *gen) makeLocations(m *profile.Mapping) {
	g.layer = make([][]*profile.Location, nLayers)
	addr := uint64(0x401000)
	for i := 0; i < nLocs; i++ {
		addr += uint64(16 + g.rng.IntN(600))
		l := &profile.Location{ID: uint64(i + 1), Mapping: m, Address: addr}
		// About one location in six has inlined calls: Line[0] is the
		// innermost inlined function, the last line the real caller.
		n := 1
		if g.rng.IntN(6) == 0 {
			n = 2 + g.rng.IntN(2)
		}
		for j := 0; j < n; j++ {
			l.Line = append(l.Line, g.line(g.funcs[g.rng.IntN(len(g.funcs))]))
		}
		g.p.Location = append(g.p.Location, l)
		ly := i % nLayers
		g.layer[ly] = append(g.layer[ly], l)
	}
	// Roots, as a real server's heap shows them.
	goexit := &profile.Function{ID: uint64(len(g.funcs) + 1), Name: "runtime.goexit", SystemName: "runtime.goexit", Filename: "/usr/local/go/src/runtime/asm_amd64.s", StartLine: 1693}
	rmain := &profile.Function{ID: uint64(len(g.funcs) + 2), Name: "runtime.main", SystemName: "runtime.main", Filename: "/usr/local/go/src/runtime/proc.go", StartLine: 147}
	g.funcs = append(g.funcs, goexit, rmain)
	g.p.Function = g.funcs
	id := uint64(len(g.p.Location))
	for _, f := range []*profile.Function{goexit, rmain} {
		id++
		addr += 64
		l := &profile.Location{ID: id, Mapping: m, Address: addr, Line: []profile.Line{{Function: f, Line: f.StartLine + 7}}}
		g.p.Location = append(g.p.Location, l)
	}
}

// stackFrom walks the call graph down from a root, depth frames deep, and
// returns the stack innermost frame first, as profiles store it.
func (g *gen) stackFrom(depth int) []*profile.Location {
	n := len(g.p.Location)
	goexit, rmain := g.p.Location[n-2], g.p.Location[n-1]
	st := []*profile.Location{goexit}
	if g.rng.IntN(8) == 0 {
		st = append(st, rmain)
	}
	ly := 0
	cur := g.layer[0][g.rng.IntN(len(g.layer[0]))]
	st = append(st, cur)
	for len(st) < depth {
		callees := g.calls[cur.ID]
		if callees == nil {
			// Each location calls a handful of others a little deeper.
			k := 2 + g.rng.IntN(5)
			for i := 0; i < k; i++ {
				next := (ly + 1 + g.rng.IntN(3)) % nLayers
				callees = append(callees, g.layer[next][g.rng.IntN(len(g.layer[next]))])
			}
			g.calls[cur.ID] = callees
		}
		// Hot paths: the first callee is taken most often.
		i := 0
		if g.rng.IntN(3) == 0 {
			i = g.rng.IntN(len(callees))
		}
		cur = callees[i]
		ly = int(cur.ID-1) % nLayers
		st = append(st, cur)
	}
	for i, j := 0, len(st)-1; i < j; i, j = i+1, j-1 {
		st[i], st[j] = st[j], st[i]
	}
	return st
}

func (g *gen) makeStacks(nSamples int) [][]*profile.Location {
	n := nSamples / 3
	stacks := make([][]*profile.Location, n)
	for i := range stacks {
		stacks[i] = g.stackFrom(10 + g.rng.IntN(31))
	}
	return stacks
}

// sizes are allocation sizes: Go size classes and odd sizes of appends and strings.
var sizes = []int64{8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256, 288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792, 2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728, 10240, 10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768}

func (g *gen) size() int64 {
	switch r := g.rng.IntN(100); {
	case r < 80:
		return sizes[g.rng.IntN(20)]
	case r < 95:
		return sizes[20+g.rng.IntN(len(sizes)-20)]
	case r < 99:
		return 32768 + int64(g.rng.IntN(1<<20))
	default:
		return 1 + int64(g.rng.IntN(4<<20))
	}
}

// scale is runtime/pprof's scaleHeapSample.
func scale(count, size int64) (int64, int64) {
	if count == 0 || size == 0 {
		return 0, 0
	}
	avg := float64(size) / float64(count)
	s := 1 / (1 - math.Exp(-avg/float64(rate)))
	return int64(float64(count) * s), int64(float64(size) * s)
}

type bucket struct {
	stack       int
	size        int64
	alloc, free int64 // objects
}

func (g *gen) makeSamples(nSamples int, stacks [][]*profile.Location, grow float64) {
	// Zipf-like popularity of stacks: a few sites allocate most.
	zipf := rand.NewZipf(g.rng, 1.1, 8, uint64(len(stacks)-1))
	buckets := make([]bucket, 0, nSamples)
	seen := make(map[[2]int64]bool, nSamples)
	for len(buckets) < nSamples {
		st := int(zipf.Uint64())
		if g.rng.IntN(2) == 0 {
			st = g.rng.IntN(len(stacks))
		}
		sz := g.size()
		if seen[[2]int64{int64(st), sz}] {
			continue // the runtime keeps one bucket per stack and size
		}
		seen[[2]int64{int64(st), sz}] = true
		// Each sampled object stands for about 512 KiB of allocation, so a
		// bucket holds a few samples, and only a few buckets hold live
		// objects: a 760k-bucket profile then shows ~10 GiB in use.
		alloc := 1 + int64(g.rng.ExpFloat64()*3)
		free := alloc
		if g.rng.IntN(30) == 0 {
			free = alloc - 1 - int64(g.rng.IntN(int(alloc)))
		}
		buckets = append(buckets, bucket{stack: st, size: sz, alloc: alloc, free: free})
	}
	if grow > 0 {
		// The later profile: leaking sites (1% of stacks) hold more, some
		// sites freed what they held, and new sites appeared. A separate
		// stream keeps the base profile's choices identical.
		r := rand.New(rand.NewPCG(uint64(len(stacks)), 0x67726f77))
		leak := make(map[int]bool)
		for len(leak) < len(stacks)/100 {
			leak[r.IntN(len(stacks))] = true
		}
		for i := range buckets {
			b := &buckets[i]
			switch {
			case leak[b.stack]:
				live := b.alloc - b.free
				if live == 0 {
					live = 1
				}
				more := int64(math.Ceil(float64(live) * grow))
				b.alloc += more
			case r.IntN(20) == 0:
				b.free = b.alloc // freed since
			case r.IntN(10) == 0:
				live := b.alloc - b.free // churn: allocated and freed again
				b.alloc += 1 + int64(r.IntN(20))
				b.free = b.alloc - live
			}
		}
		for i := 0; i < nSamples/100; i++ {
			st := g.stackFrom(10 + r.IntN(31))
			stacks = append(stacks, st)
			alloc := 1 + int64(r.IntN(3))
			buckets = append(buckets, bucket{stack: len(stacks) - 1, size: sizes[r.IntN(len(sizes))], alloc: alloc, free: alloc - 1})
		}
	}
	// The runtime lists buckets newest first; any fixed order will do.
	sort.SliceStable(buckets, func(i, j int) bool { return buckets[i].stack < buckets[j].stack })
	for _, b := range buckets {
		ao, as := scale(b.alloc, b.alloc*b.size)
		io, is := scale(b.alloc-b.free, (b.alloc-b.free)*b.size)
		s := &profile.Sample{
			Location: stacks[b.stack],
			Value:    []int64{ao, as, io, is},
			NumLabel: map[string][]int64{"bytes": {b.size}},
		}
		g.p.Sample = append(g.p.Sample, s)
	}
}
