//go:build linux && amd64

package attach

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/leakhunt/leakhunt/profiler/heapgraph"
)

// The stackroots fixture's counts (testdata/stackroots).
const (
	stackKept     = 300
	stackDropped  = 50
	stackHeld     = 20
	stackDeferred = 30
)

var (
	stackBinsOnce sync.Once
	stackBins     = map[string]string{}
	stackBinsErr  = map[string]error{}
)

// stackFixture builds testdata/stackroots with the default toolchain
// ("go1.26") and with Go 1.27.3, once per test binary.
func stackFixture(t *testing.T, version string) string {
	t.Helper()
	fixtureBin(t, "graph") // makes binDir, removed by TestMain
	stackBinsOnce.Do(func() {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, v := range []string{"go1.26", "go1.27"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out := filepath.Join(binDir, "stackroots-"+v)
				cmd := exec.Command("go", "build", "-o", out, "./testdata/stackroots")
				cmd.Env = os.Environ()
				if v == "go1.27" {
					cmd.Env = append(cmd.Env, "GOTOOLCHAIN=go1.27.3")
				}
				msg, err := cmd.CombinedOutput()
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					stackBinsErr[v] = fmt.Errorf("build stackroots with %s: %v: %s", v, err, msg)
					return
				}
				stackBins[v] = out
			}()
		}
		wg.Wait()
	})
	if p := stackBins[version]; p != "" {
		return p
	}
	if version == "go1.27" {
		t.Skipf("the Go 1.27 toolchain could not build the fixture: %v", stackBinsErr[version])
	}
	t.Fatal(stackBinsErr[version])
	return ""
}

// countTypes counts a graph's objects per type name.
func countTypes(g *heapgraph.Graph) map[string]int {
	n := map[string]int{}
	for _, ty := range g.Type {
		n[g.Types[ty].Name]++
	}
	return n
}

// retainedBy returns the names of the roots with a pointer to an object of
// type typ.
func rootsOf(g *heapgraph.Graph, typ string) []string {
	var out []string
	for r := range g.Roots {
		for e := g.RootOut[r]; e < g.RootOut[r+1]; e++ {
			if g.Types[g.Type[g.RootTo[e]]].Name == typ {
				out = append(out, g.Roots[r].Name)
				break
			}
		}
	}
	return out
}

// checkStackRoots checks the stackroots fixture's graph built from in:
// precisely, the kept objects (reached only through stack objects) are all
// there and the dropped ones (held only by a dead slot) are not; scanned
// conservatively, the dead slot does hold the dropped chain — which proves
// the precise count is not 0 by accident.
func checkStackRoots(t *testing.T, in *heapgraph.Input) {
	t.Helper()
	if len(in.Frames) == 0 {
		t.Fatal("the capture has no stack frames")
	}
	g, err := heapgraph.Build(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	n := countTypes(g)
	t.Logf("precise: %d main.kept, %d main.dropped, %d objects, %d roots; notes %q", n["main.kept"], n["main.dropped"], len(g.Addr), len(g.Roots), g.Stats.Notes)
	if n["main.kept"] != stackKept {
		t.Errorf("%d main.kept objects reachable, want %d (held through the stack closure of main.keep)", n["main.kept"], stackKept)
	}
	if n["main.dropped"] != 0 {
		t.Errorf("%d main.dropped objects reachable, want 0 (held only by a dead stack slot of main.drop); roots %q", n["main.dropped"], rootsOf(g, "main.dropped"))
	}
	// The map's tables are retained by a root of main.keep's frame.
	var keepRoots []string
	for _, r := range g.Roots {
		if r.Kind == heapgraph.RootStack && strings.Contains(r.Name, " main.keep: ") {
			keepRoots = append(keepRoots, r.Name)
		}
	}
	// The keeper on main.keep's stack is named through the closure that
	// captured it (k) and its field (items), and typed: its map is.
	if len(keepRoots) != 1 || !strings.HasSuffix(keepRoots[0], " main.keep: k.items") {
		t.Errorf("roots of main.keep %q, want one, k.items", keepRoots)
	}
	if n["[]map.group[int]*main.kept (backing array)"] == 0 {
		t.Errorf("the map's groups are not typed []map.group[int]*main.kept (through the stack object k.items, a map header)")
	}
	// main.deferHold's chain: reached from the g's defer list through
	// defer records and a closure on the stack.
	if n["main.deferred"] != stackDeferred {
		t.Errorf("%d main.deferred objects, want %d (held by a stack-allocated deferred closure)", n["main.deferred"], stackDeferred)
	}
	t.Logf("roots of main.deferred: %q", rootsOf(g, "main.deferred"))
	// main.hold's items: one root, all its objects.
	if n["main.held"] != stackHeld {
		t.Errorf("%d main.held objects, want %d", n["main.held"], stackHeld)
	}
	if rs := rootsOf(g, "[]*main.held (backing array)"); len(rs) != 1 || !strings.HasSuffix(rs[0], " main.hold: items") {
		t.Errorf("roots of main.hold's slice %q, want one, items", rs)
	}
	// No root is a piece of a variable the compiler split.
	for _, r := range g.Roots {
		if r.Kind != heapgraph.RootStack {
			continue
		}
		_, v, _ := strings.Cut(r.Name, ": ")
		for _, piece := range []string{".ptr", ".len", ".cap", ".data", ".itab", ".type"} {
			if strings.HasSuffix(v, piece) {
				t.Errorf("root %q names a piece of a variable", r.Name)
			}
		}
	}

	// The same stacks scanned whole: the dead slot's chain is there.
	cons := *in
	cons.Frames = nil
	cons.Stack = nil
	cons.StackRanges = nil
	for _, f := range in.Frames {
		if f.Func == "main.drop" || f.Func == "main.every" || f.Func == "main.keep" {
			cons.StackRanges = append(cons.StackRanges, heapgraph.StackRange{Goroutine: f.Goroutine, Func: f.Func, Lo: f.SP, Hi: f.FP})
		}
	}
	cg, err := heapgraph.Build(context.Background(), &cons)
	if err != nil {
		t.Fatal(err)
	}
	cn := countTypes(cg)
	t.Logf("conservative: %d main.kept, %d main.dropped", cn["main.kept"], cn["main.dropped"])
	if cn["main.dropped"] != stackDropped {
		t.Errorf("scanned conservatively, main.drop's frame reaches %d main.dropped, want %d: the fixture no longer leaves the dead pointer in its frame", cn["main.dropped"], stackDropped)
	}
}

// TestPreciseStackRoots checks the precise stack scan on a live process
// and on its core, built by Go 1.26 and 1.27.
func TestPreciseStackRoots(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"go1.26", "go1.27"} {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			p := start(t, stackFixture(t, v))
			in, _, done, err := graphInput(context.Background(), p.pid, Options{})
			if err != nil {
				t.Fatal(err)
			}
			assertRunning(t, p)
			t.Run("pid", func(t *testing.T) { checkStackRoots(t, in) })
			done()
			path := filepath.Join(t.TempDir(), "core")
			if _, err := WriteCore(context.Background(), p.pid, path, false); err != nil {
				t.Fatal(err)
			}
			assertRunning(t, p)
			cin, _, cdone, err := graphCoreInput(context.Background(), path, "", Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer cdone()
			t.Run("core", func(t *testing.T) { checkStackRoots(t, cin) })
		})
	}
}
