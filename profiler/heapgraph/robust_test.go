package heapgraph

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// countsCore starts the counts program built by toolchain, dumps its core
// and returns the core, the binary and the address of its stack variable.
func countsCore(t *testing.T, toolchain string) (core, bin string, stackAddr uint64) {
	t.Helper()
	bin = buildProg(t, "counts", toolchain)
	cmd, lines := startProg(t, bin)
	for _, l := range lines {
		fmt.Sscanf(l, "stack %v", &stackAddr)
	}
	if stackAddr == 0 {
		t.Fatalf("counts printed no stack address: %q", lines)
	}
	return dumpCore(t, cmd.Process.Pid), bin, stackAddr
}

// TestDamagedSpanSizes gives real spans of a real core absurd sizes (a
// span of 48 GB, one of 2^40 pages): Build must skip them, say so, and
// allocate no more than a few times the image, not what the sizes claim.
func TestDamagedSpanSizes(t *testing.T) {
	t.Parallel()
	core, bin, _ := countsCore(t, "local")
	c, err := OpenCore(core)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	x, err := openExe(bin, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer x.close()
	l, err := readLayout(x.dw)
	if err != nil {
		t.Fatal(err)
	}
	var rs []Region
	var imgBytes uint64
	for _, r := range c.Mem.Regions() {
		rs = append(rs, Region{Addr: r.Addr, Data: append([]byte(nil), r.Data...)})
		imgBytes += uint64(len(r.Data))
	}
	img := NewImage(rs)
	m := mem{img: img}
	mheap, _ := x.sym("runtime.mheap_")
	arr, _ := m.u64(mheap + uint64(l.mheapAllspans))
	n, _ := m.u64(mheap + uint64(l.mheapAllspans) + 8)
	damaged := 0
	for i := uint64(0); i < n && damaged < 6; i++ {
		sp, _ := m.u64(arr + i*8)
		st := img.Bytes(sp+uint64(l.spanState), 1)
		np := img.Bytes(sp+uint64(l.spanNpages), 8)
		if st == nil || np == nil || st[0] != mSpanInUse {
			continue
		}
		// Writable: the copy's bytes alias rs.
		switch damaged % 3 {
		case 0:
			binary.LittleEndian.PutUint64(np, 48<<30/pageSize) // 48 GB
		case 1:
			binary.LittleEndian.PutUint64(np, 1<<40)
		case 2:
			// A span overlapping the heap's others: its start moved into
			// the middle of the previous span.
			start := img.Bytes(sp+uint64(l.spanStart), 8)
			binary.LittleEndian.PutUint64(start, binary.LittleEndian.Uint64(start)-pageSize)
		}
		damaged++
	}
	if damaged == 0 {
		t.Fatal("found no in-use span to damage")
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	g, err := Build(context.Background(), &Input{Mem: img, Exe: bin})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Logf("Build: %v", err)
	} else {
		t.Logf("%d damaged spans: %d objects, notes %q", damaged, len(g.Addr), g.Stats.Notes)
		if !strings.Contains(strings.Join(g.Stats.Notes, "\n"), "could not be read") {
			t.Errorf("no note says spans were skipped: %q", g.Stats.Notes)
		}
	}
	// Other tests run in parallel: the bound is loose, far below 48 GB.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8*imgBytes+1<<30 {
		t.Errorf("Build allocated %d MB for an image of %d MB", alloc>>20, imgBytes>>20)
	}
}

// TestOddStackVars gives Build stack variables a debugger may report:
// smaller than a word, unaligned, running off the end of the address
// space. Those with a whole word in them are scanned, the others are not
// roots; none may make Build fail. Both Go versions.
func TestOddStackVars(t *testing.T) {
	for _, tc := range toolchains {
		t.Run(tc, func(t *testing.T) {
			t.Parallel()
			core, bin, sa := countsCore(t, tc)
			vars := []StackVar{
				{Name: "byte", Addr: sa + 1, Size: 1},
				{Name: "bool", Addr: sa + 7, Size: 1},
				{Name: "halfword", Addr: sa + 3, Size: 12}, // no whole word
				{Name: "around", Addr: sa - 4, Size: 12},   // p's word at offset 4
				{Name: "word", Addr: sa, Size: 8},
				{Name: "top", Addr: ^uint64(0) - 2, Size: 16},
				{Name: "last", Addr: ^uint64(0) - 15, Size: 16},
				{Name: "empty", Addr: sa, Size: 0},
			}
			for i := range vars {
				vars[i].Goroutine, vars[i].Func = 99, "main.main.func2"
			}
			// The same word as a runtime frame's variable: a runtime root.
			vars = append(vars, StackVar{Goroutine: 99, Func: "runtime.gopark", Name: "rt", Addr: sa, Size: 8})
			g := buildFromCore(t, core, bin, vars...)
			edges := map[string][]uint32{}
			for i, r := range g.Roots {
				if r.Kind != RootStack {
					continue
				}
				name := r.Name[strings.LastIndex(r.Name, " ")+1:]
				if r.Runtime() != (name == "rt") {
					t.Errorf("root %q: Runtime() is %v", r.Name, r.Runtime())
				}
				for e := g.RootOut[i]; e < g.RootOut[i+1]; e++ {
					edges[name] = append(edges[name], g.RootOff[e])
					if n := g.Types[g.Type[g.RootTo[e]]].Name; n != "main.stackOnly" {
						t.Errorf("stack variable %s points to a %s", name, n)
					}
				}
			}
			want := map[string][]uint32{"around": {4}, "rt": {0}, "word": {0}}
			if fmt.Sprint(edges) != fmt.Sprint(want) {
				t.Errorf("stack roots' pointers (offsets by variable): %v, want %v", edges, want)
			}
		})
	}
}

// TestImageOverlap builds images from a real core's regions with
// overlapping copies laid over them: the region earlier in the list wins
// wherever two overlap, whichever starts lower.
func TestImageOverlap(t *testing.T) {
	t.Parallel()
	core, _, _ := countsCore(t, "local")
	c, err := OpenCore(core)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var big Region
	for _, r := range c.Mem.Regions() {
		if len(r.Data) >= 1<<16 {
			big = r
			break
		}
	}
	if big.Data == nil {
		t.Fatal("the core has no region of 64 KiB")
	}
	marked := func(addr uint64, n int, b byte) Region {
		return Region{Addr: addr, Data: bytes.Repeat([]byte{b}, n)}
	}
	lowIn := marked(big.Addr+0x1000, 0x2000, 0xaa)  // inside big
	across := marked(big.Addr+0x2800, 0x1000, 0xbb) // overlaps lowIn's end
	before := marked(big.Addr-0x800, 0x1000, 0xcc)  // straddles big's start
	check := func(img *Image, addr uint64, want byte, what string) {
		t.Helper()
		b := img.Bytes(addr, 1)
		if b == nil || b[0] != want {
			t.Errorf("%s: byte at %#x is %v, want %#x", what, addr, b, want)
		}
	}
	// Earlier wins: lowIn over big, across over lowIn's tail, before over
	// big's start.
	img := NewImage([]Region{across, lowIn, before, big})
	check(img, big.Addr+0x1000, 0xaa, "lowIn over big")
	check(img, big.Addr+0x2800, 0xbb, "across over lowIn")
	check(img, big.Addr+0x37ff, 0xbb, "across over big")
	check(img, big.Addr+0x3800, big.Data[0x3800], "big after across")
	check(img, big.Addr-0x800, 0xcc, "before")
	check(img, big.Addr+0x7ff, 0xcc, "before over big's start")
	check(img, big.Addr+0x800, big.Data[0x800], "big after before")
	// The same regions later than big: big wins everywhere it has bytes.
	img = NewImage([]Region{big, across, lowIn, before})
	for _, off := range []uint64{0, 0x7ff, 0x1000, 0x2800, 0x37ff} {
		check(img, big.Addr+off, big.Data[off], "big first")
	}
	check(img, big.Addr-0x800, 0xcc, "before, below big")
	// Regions come out sorted and disjoint, covering the same bytes.
	var total uint64
	rs := img.Regions()
	for i, r := range rs {
		total += uint64(len(r.Data))
		if i > 0 && r.Addr < rs[i-1].Addr+uint64(len(rs[i-1].Data)) {
			t.Fatalf("regions %d and %d overlap", i-1, i)
		}
	}
	if want := uint64(len(big.Data)) + 0x800; total != want {
		t.Errorf("the image holds %d bytes, want %d", total, want)
	}
	// Whole-word reads across a seam between two winners.
	if b := NewImage([]Region{lowIn, big}).Bytes(big.Addr+0xffc, 8); b != nil {
		t.Errorf("a read across regions returned %x, want nil", b)
	}
}
