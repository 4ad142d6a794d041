//go:build linux && amd64

package refs_test

import (
	"context"
	"debug/elf"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leakhunt/leakhunt/profiler/attach"
	"github.com/leakhunt/leakhunt/profiler/heapgraph"
	"github.com/leakhunt/leakhunt/profiler/refs"
	"github.com/leakhunt/leakhunt/profiler/refs/testdata/progs/expect"
)

// The end-to-end tests run the programs under testdata/progs, each of which
// builds an object graph it knows and announces what a heap walk must find
// (package expect), capture their heaps from the live process and from a
// core file, analyse them, and check every count, size, root and chain
// exactly: against the program's own expectations (is the walk right?) and
// against an independent reachability computation over the captured graph
// (are the analysis's dominators, shared objects and tables right?).

// dumpPaths logs every root path of the programs' own types, to see what
// an analysis found: go test -run TestExact -v -args -dumppaths.
var dumpPaths = flag.Bool("dumppaths", false, "log the root paths of the test programs' types")

// target is one build of a test program.
type target struct {
	name      string // the subtest's name
	prog      string // the program, under testdata/progs
	toolchain string // GOTOOLCHAIN; "" for the installed Go
	noprof    bool   // built with -tags noprof: the memory profiler is off
	pie       bool   // built with -buildmode=pie: loaded at a bias
	goVersion string // what runtime.Version() starts with
}

var targets = []target{
	{name: "containers/go1.26", prog: "containers", goVersion: "go1.26"},
	{name: "containers/go1.27", prog: "containers", toolchain: "go1.27.3", goVersion: "go1.27"},
	{name: "containers/go1.26-pie", prog: "containers", pie: true, goVersion: "go1.26"},
	{name: "noprof/go1.26", prog: "containers", noprof: true, goVersion: "go1.26"},
	{name: "noprof/go1.27", prog: "containers", toolchain: "go1.27.3", noprof: true, goVersion: "go1.27"},
	{name: "cycles/go1.26", prog: "cycles", goVersion: "go1.26"},
	{name: "cycles/go1.27", prog: "cycles", toolchain: "go1.27.3", goVersion: "go1.27"},
	{name: "finalizers/go1.26", prog: "finalizers", goVersion: "go1.26"},
	{name: "finalizers/go1.27", prog: "finalizers", toolchain: "go1.27.3", goVersion: "go1.27"},
	{name: "midgc/go1.26", prog: "midgc", goVersion: "go1.26"},
	{name: "midgc/go1.27", prog: "midgc", toolchain: "go1.27.3", goVersion: "go1.27"},
}

// buildTargets builds every target into dir, all at once.
func buildTargets(t *testing.T, dir string) (bins map[string]string, errs map[string]error) {
	t.Helper()
	bins, errs = map[string]string{}, map[string]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, tg := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := filepath.Join(dir, fmt.Sprintf("prog%d-%s", i, tg.prog))
			args := []string{"build", "-o", out}
			if tg.noprof {
				args = append(args, "-tags", "noprof")
			}
			if tg.pie {
				args = append(args, "-buildmode=pie")
			}
			args = append(args, "./testdata/progs/"+tg.prog)
			cmd := exec.Command("go", args...)
			cmd.Env = append(os.Environ(), "GOFLAGS=")
			if tg.toolchain != "" {
				cmd.Env = append(cmd.Env, "GOTOOLCHAIN="+tg.toolchain)
			}
			msg, err := cmd.CombinedOutput()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[tg.name] = fmt.Errorf("go %s: %v: %s", strings.Join(args, " "), err, msg)
				return
			}
			bins[tg.name] = out
		}()
	}
	wg.Wait()
	return bins, errs
}

// TestExact captures each program's heap from its PID and from a core file
// and checks the analysis exactly.
func TestExact(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and attaches to eleven programs")
	}
	began := time.Now()
	bins, errs := buildTargets(t, t.TempDir())
	t.Logf("built %d programs in %v", len(bins), time.Since(began).Round(time.Millisecond))
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			t.Parallel()
			bin := bins[tg.name]
			if bin == "" {
				if tg.toolchain != "" && strings.Contains(errs[tg.name].Error(), "toolchain") {
					t.Skipf("no %s toolchain: %v", tg.toolchain, errs[tg.name])
				}
				t.Fatal(errs[tg.name])
			}
			p := start(t, bin)
			checkProgram(t, tg, bin, p.want)
			if tg.prog == "midgc" {
				testMidGC(t, p, bin)
				return
			}
			t.Run("pid", func(t *testing.T) {
				g, gc, err := attach.CaptureGraph(context.Background(), p.pid, attach.Options{})
				p.assertRunning(t)
				if err != nil {
					t.Fatalf("capture process %d (%s): %v", p.pid, tg.name, err)
				}
				verify(t, p.want, g, gc)
			})
			t.Run("core", func(t *testing.T) {
				core := filepath.Join(t.TempDir(), "core")
				if _, err := attach.WriteCore(context.Background(), p.pid, core, false); err != nil {
					p.assertRunning(t)
					t.Fatalf("write a core of process %d (%s): %v", p.pid, tg.name, err)
				}
				p.assertRunning(t)
				g, gc, err := attach.CaptureGraphCore(context.Background(), core, bin, attach.Options{})
				if err != nil {
					t.Fatalf("read the core of process %d (%s): %v", p.pid, tg.name, err)
				}
				verify(t, p.want, g, gc)
			})
			p.assertRunning(t)
		})
	}
}

// testMidGC captures the mid-GC program while its collector runs: from
// cores, until one was written while the GC was marking (read from the
// core's copy of runtime.gcphase), and from its PID until a capture's notes
// say the GC was marking.
func testMidGC(t *testing.T, p *proc, bin string) {
	t.Run("core", func(t *testing.T) {
		dir := t.TempDir()
		const tries = 15
		var core string
		phase, blacken := uint32(0), uint32(0)
		for i := 1; i <= tries; i++ {
			core = filepath.Join(dir, fmt.Sprintf("core%d", i))
			if _, err := attach.WriteCore(context.Background(), p.pid, core, false); err != nil {
				t.Fatalf("write a core of process %d: %v", p.pid, err)
			}
			p.assertRunning(t)
			var err error
			if phase, err = readCoreUint32(core, bin, "runtime.gcphase"); err != nil {
				t.Fatal(err)
			}
			if blacken, err = readCoreUint32(core, bin, "runtime.gcBlackenEnabled"); err != nil {
				t.Fatal(err)
			}
			if phase == 1 { // _GCmark
				t.Logf("core %d of process %d caught the GC marking (gcphase %d, gcBlackenEnabled %d)", i, p.pid, phase, blacken)
				break
			}
			os.Remove(core)
			if i == tries {
				t.Errorf("none of %d cores of process %d caught the GC marking; checking the last one (gcphase %d)", tries, p.pid, phase)
			}
		}
		g, gc, err := attach.CaptureGraphCore(context.Background(), core, bin, attach.Options{})
		if err != nil {
			t.Fatalf("read the core of process %d: %v", p.pid, err)
		}
		if noted := strings.Contains(strings.Join(append(append([]string(nil), gc.Notes...), g.Stats.Notes...), "\n"), "mark phase"); phase == 1 && !noted {
			t.Errorf("the core's runtime.gcphase is 1 (marking), but no note says the process was stopped in a mark phase: %q %q", gc.Notes, g.Stats.Notes)
		}
		verify(t, p.want, g, gc)
	})
	t.Run("pid", func(t *testing.T) {
		// Until a capture's notes say the GC was marking (at most 12; each
		// stop falls in a mark phase about half the time), checking each.
		const tries = 12
		marking := false
		for i := 1; i <= tries && !marking; i++ {
			g, gc, err := attach.CaptureGraph(context.Background(), p.pid, attach.Options{})
			p.assertRunning(t)
			if err != nil {
				t.Fatalf("capture %d of process %d: %v", i, p.pid, err)
			}
			var gcNotes []string
			for _, n := range append(append([]string(nil), gc.Notes...), g.Stats.Notes...) {
				if strings.Contains(n, "garbage collect") {
					gcNotes = append(gcNotes, n)
					marking = marking || strings.Contains(n, "mark phase")
				}
			}
			t.Logf("capture %d: notes about the GC: %q", i, gcNotes)
			verify(t, p.want, g, gc)
		}
		if !marking {
			t.Errorf("no capture of %d of process %d was noted as stopped in a GC's mark phase", tries, p.pid)
		}
	})
}

// checkProgram checks what the program is: its Go version and whether its
// memory profiler is on, from what it announced and from its symbols.
func checkProgram(t *testing.T, tg target, bin string, e *expect.Expect) {
	t.Helper()
	if !strings.HasPrefix(e.Go, tg.goVersion) {
		t.Errorf("%s runs %s, want %s", tg.name, e.Go, tg.goVersion)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	pprofSyms, memProfile := 0, false
	for _, s := range syms {
		if strings.HasPrefix(s.Name, "runtime/pprof.") {
			pprofSyms++
		}
		if s.Name == "runtime.MemProfile" {
			memProfile = true
		}
	}
	switch {
	case pprofSyms > 0:
		t.Errorf("%s references runtime/pprof (%d symbols)", tg.name, pprofSyms)
	case tg.noprof && (memProfile || e.MemProfileRate != 0):
		t.Errorf("%s: runtime.MemProfile linked in: %v, MemProfileRate %d; want the profiler off", tg.name, memProfile, e.MemProfileRate)
	case !tg.noprof && (!memProfile || e.MemProfileRate != 512*1024):
		t.Errorf("%s: runtime.MemProfile linked in: %v, MemProfileRate %d; want the profiler on", tg.name, memProfile, e.MemProfileRate)
	}
}

// verify analyses a captured graph and checks it against the program's
// expectations and against the oracle.
func verify(t *testing.T, e *expect.Expect, g *heapgraph.Graph, gc *attach.GraphCapture) {
	t.Helper()
	if g == nil {
		t.Fatal("no graph")
	}
	if gc != nil {
		if gc.Target.GoVersion != "" && gc.Target.GoVersion != e.Go {
			t.Errorf("capture says %s, the program runs %s", gc.Target.GoVersion, e.Go)
		}
		t.Logf("%s (PID %d, %s): stopped %v (copying %v), capture %v, %d KiB copied; %d objects reachable of %d allocated, %d typed, %d roots; notes %q",
			e.Program, e.PID, e.Go, gc.Stopped, gc.Copying, gc.Duration, gc.CopiedBytes>>10,
			g.Stats.Reachable, g.Stats.Allocated, g.Stats.Typed, len(g.Roots), append(append([]string(nil), gc.Notes...), g.Stats.Notes...))
	}
	a, err := refs.Analyze(context.Background(), g, refs.Options{})
	if err != nil {
		t.Fatalf("analyse: %v", err)
	}
	o := newOracle(g)
	if *dumpPaths {
		for _, p := range a.Paths {
			if strings.Contains(p.Key(), "main.") {
				t.Logf("PATH %s: %d objects %d bytes (shared %v)", p.Key(), p.Objects, p.Bytes, p.Shared)
			}
		}
	}
	checkAnalysis(t, g, a, o)
	checkTypes(t, e, a)
	checkRoots(t, e, g, a, o)
	checkPaths(t, e, a)
	checkWhy(t, e, g, a)
	checkGarbage(t, e, g, a)
}
