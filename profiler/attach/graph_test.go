//go:build linux && amd64

package attach

import (
	"context"
	"debug/elf"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/leakhunt/leakhunt/profiler/heapgraph"
)

// inUseSpans lists the in-use heap spans through runtime.mheap_.allspans —
// another way than the capture's (the arenas' page bitmaps) — as [start, end).
func inUseSpans(t *testing.T, in *heapgraph.Input, tgt *target, gl *graphLayout) [][2]uint64 {
	t.Helper()
	mh, err := structType(tgt.bi, "runtime.mheap")
	if err != nil {
		t.Fatal(err)
	}
	f, err := fieldOffset(mh, "allspans")
	if err != nil {
		t.Fatal(err)
	}
	hdr := in.Mem.Bytes(gl.mheap+uint64(f), 16)
	if hdr == nil {
		t.Fatal("mheap_.allspans not in the image")
	}
	ptr, n := le.Uint64(hdr), le.Uint64(hdr[8:])
	arr := in.Mem.Bytes(ptr, n*8)
	if arr == nil {
		t.Fatalf("allspans array (%d spans at %#x) not in the image", n, ptr)
	}
	var out [][2]uint64
	for i := uint64(0); i < n; i++ {
		s := le.Uint64(arr[i*8:])
		b := in.Mem.Bytes(s, uint64(max(gl.spanState, gl.spanStart, gl.spanNpages))+8)
		if b == nil {
			t.Fatalf("span %#x not in the image", s)
		}
		if b[gl.spanState] == mSpanInUse {
			start := u64(b, gl.spanStart)
			out = append(out, [2]uint64{start, start + u64(b, gl.spanNpages)*pageSize})
		}
	}
	return out
}

// checkHolder finds main.holder's local variable "local" among the stack
// roots and follows the chain it points to through the image, up to the
// node named "held by holder".
func checkHolder(t *testing.T, in *heapgraph.Input) {
	t.Helper()
	var v *heapgraph.StackVar
	for i := range in.Stack {
		if in.Stack[i].Func == "main.holder" && in.Stack[i].Name == "local" {
			v = &in.Stack[i]
		}
	}
	if v == nil {
		var names []string
		for _, s := range in.Stack {
			if strings.HasPrefix(s.Func, "main.") {
				names = append(names, s.Func+":"+s.Name)
			}
		}
		t.Fatalf("no stack root main.holder:local among %d roots; main ones: %q", len(in.Stack), names)
	}
	if v.Type == 0 || v.Size != 8 {
		t.Errorf("main.holder:local has DWARF type %#x, size %d; want a pointer type", v.Type, v.Size)
	}
	p, ok := in.Mem.Uint64(v.Addr)
	if !ok {
		t.Fatalf("the stack slot of local (%#x) is not in the image", v.Addr)
	}
	// node{next *node; payload []byte; name string}: 48 bytes.
	for i := 0; i < 100; i++ {
		b := in.Mem.Bytes(p, 48)
		if b == nil {
			t.Fatalf("node %d of the chain (%#x) is not in the image", i, p)
		}
		if le.Uint64(b[16:]) != 64 {
			t.Fatalf("node %d: payload length %d, want 64", i, le.Uint64(b[16:]))
		}
		p = le.Uint64(b)
	}
	b := in.Mem.Bytes(p, 48)
	if b == nil {
		t.Fatalf("the named node (%#x) is not in the image", p)
	}
	// The name is a constant: in the executable's read-only data.
	name := in.Mem.Bytes(le.Uint64(b[32:]), le.Uint64(b[40:]))
	if name == nil {
		name = exeBytes(t, in.Exe, in.Bias, le.Uint64(b[32:]), le.Uint64(b[40:]))
	}
	if string(name) != "held by holder" || le.Uint64(b[16:]) != 4096 {
		t.Fatalf("the last node is named %q with a %d-byte payload", name, le.Uint64(b[16:]))
	}
}

// exeBytes reads n bytes at run-time address addr from an executable's
// loadable segments.
func exeBytes(t *testing.T, exe string, bias, addr, n uint64) []byte {
	t.Helper()
	f, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && addr >= p.Vaddr+bias && addr+n <= p.Vaddr+bias+p.Filesz {
			b := make([]byte, n)
			if _, err := p.ReadAt(b, int64(addr-p.Vaddr-bias)); err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	return nil
}

// checkSpans checks that the image holds every in-use span whole.
func checkSpans(t *testing.T, in *heapgraph.Input, tgt *target, gl *graphLayout) {
	t.Helper()
	spans := inUseSpans(t, in, tgt, gl)
	if len(spans) < 10 {
		t.Fatalf("only %d in-use spans", len(spans))
	}
	for _, s := range spans {
		if in.Mem.Bytes(s[0], s[1]-s[0]) == nil {
			t.Errorf("in-use span [%#x, %#x) is not wholly in the image", s[0], s[1])
		}
	}
}

func TestGraphInput(t *testing.T) {
	t.Parallel()
	for _, fix := range []string{"graph", "graph-go1.27", "go1.26-pie"} {
		t.Run(fix, func(t *testing.T) {
			t.Parallel()
			p := start(t, fixtureBin(t, fix))
			in, gc, done, err := graphInput(context.Background(), p.pid, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer done()
			assertRunning(t, p)
			t.Logf("stopped %v (copying %v), copied %d KiB, %d stack vars, %d stack ranges, notes %q",
				gc.Stopped, gc.Copying, gc.CopiedBytes>>10, len(in.Stack), len(in.StackRanges), gc.Notes)
			if gc.Stopped <= 0 || gc.Copying <= 0 || gc.Copying > gc.Stopped || gc.CopiedBytes == 0 {
				t.Errorf("stopped %v, copying %v, copied %d bytes", gc.Stopped, gc.Copying, gc.CopiedBytes)
			}
			if gc.Target.PID != p.pid || !strings.HasPrefix(gc.Target.GoVersion, "go1.2") {
				t.Errorf("target %+v", gc.Target)
			}
			tgt, err := inspect(p.pid)
			if err != nil {
				t.Fatal(err)
			}
			defer tgt.close()
			gl, err := readGraphLayout(tgt)
			if err != nil {
				t.Fatal(err)
			}
			checkSpans(t, in, tgt, gl)
			if strings.HasPrefix(fix, "graph") {
				checkHolder(t, in)
				// The fixture never imports runtime/pprof: its memory
				// profiler is off, which the heap walk does not need.
				if rate, ok := in.Mem.Uint64(tgt.l.sym["runtime.MemProfileRate"]); !ok || rate != 0 {
					t.Errorf("runtime.MemProfileRate %d (%v), want 0", rate, ok)
				}
			}
		})
	}
}

func TestGraphCore(t *testing.T) {
	t.Parallel()
	p := start(t, fixtureBin(t, "graph"))
	path := filepath.Join(t.TempDir(), "graph.core")
	if _, err := WriteCore(context.Background(), p.pid, path, false); err != nil {
		t.Fatal(err)
	}
	assertRunning(t, p)
	in, gc, done, err := graphCoreInput(context.Background(), path, "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	t.Logf("core: %d MiB image, %d stack vars, notes %q", gc.CopiedBytes>>20, len(in.Stack), gc.Notes)
	if gc.Target.PID != p.pid || gc.Stopped != 0 {
		t.Errorf("target %+v, stopped %v", gc.Target, gc.Stopped)
	}
	checkHolder(t, in)
	tgt, err := inspect(p.pid)
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.close()
	gl, err := readGraphLayout(tgt)
	if err != nil {
		t.Fatal(err)
	}
	checkSpans(t, in, tgt, gl)
	if _, _, err := CaptureGraphCore(context.Background(), path, fixtureBin(t, "go1.26-pie"), Options{}); !errors.Is(err, ErrCoreMismatch) {
		t.Errorf("core with the wrong executable: %v", err)
	}
}

// checkGraph checks the graph of the graph fixture: its 102 nodes (one in
// main.global, a chain of 101 below main.holder's local variable), and the
// big object in main.boxed with its one leaf.
func checkGraph(t *testing.T, g *heapgraph.Graph) {
	t.Helper()
	count := map[string]int{}
	for _, ty := range g.Type {
		count[g.Types[ty].Name]++
	}
	if count["main.node"] != chainNodes+1 || count["main.bigNode"] != 1 || count["main.leaf"] != 1 {
		t.Errorf("%d main.node, %d main.bigNode, %d main.leaf; want %d, 1, 1; stats %+v",
			count["main.node"], count["main.bigNode"], count["main.leaf"], chainNodes+1, g.Stats)
	}
	found := false
	for i, r := range g.Roots {
		if r.Kind == heapgraph.RootStack && strings.HasSuffix(r.Name, "main.holder: local") {
			found = g.RootOut[i+1]-g.RootOut[i] == 1
		}
	}
	if !found {
		t.Errorf("no root main.holder: local with one pointer among %d roots", len(g.Roots))
	}
}

// chainNodes is the graph fixture's chain: chainLen nodes and the named one.
const chainNodes = 101

// TestCaptureGraph walks the fixture's heap from its PID and from a core
// `leakhunt core` wrote (for a position-independent build, the core must
// carry the relocated read-only data its type descriptors live in).
func TestCaptureGraph(t *testing.T) {
	t.Parallel()
	for _, fix := range []string{"graph", "graph-go1.27", "graph-pie"} {
		t.Run(fix, func(t *testing.T) {
			t.Parallel()
			p := start(t, fixtureBin(t, fix))
			g, gc, err := CaptureGraph(context.Background(), p.pid, Options{})
			assertRunning(t, p)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d objects, %d roots; stopped %v, copied %d KiB, took %v", len(g.Addr), len(g.Roots), gc.Stopped, gc.CopiedBytes>>10, gc.Duration)
			checkGraph(t, g)
			path := filepath.Join(t.TempDir(), "core")
			if _, err := WriteCore(context.Background(), p.pid, path, false); err != nil {
				t.Fatal(err)
			}
			g, gc, err = CaptureGraphCore(context.Background(), path, "", Options{})
			if err != nil {
				t.Fatal(err)
			}
			if gc.Stopped != 0 || gc.Target.PID != p.pid {
				t.Errorf("from a core: stopped %v, target %+v", gc.Stopped, gc.Target)
			}
			checkGraph(t, g)
		})
	}
}

// TestGraphSafety checks that the target runs on, untraced, whatever
// happens to a heap-graph capture while it is stopped.
func TestGraphSafety(t *testing.T) {
	t.Parallel()
	t.Run("cancel while stopped", func(t *testing.T) {
		t.Parallel()
		p := start(t, fixtureBin(t, "graph"))
		ctx, cancel := context.WithCancel(context.Background())
		_, _, err := CaptureGraph(ctx, p.pid, Options{whileStopped: func(context.Context) { cancel() }})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
		assertRunning(t, p)
	})
	t.Run("target dies while stopped", func(t *testing.T) {
		t.Parallel()
		p := start(t, fixtureBin(t, "graph"))
		// The process dies while stopped: the capture returns (from what
		// was copied) or says the process exited; it never hangs.
		_, _, err := CaptureGraph(context.Background(), p.pid, Options{whileStopped: func(context.Context) {
			syscall.Kill(p.pid, syscall.SIGKILL)
		}})
		if err != nil && !errors.Is(err, ErrExited) {
			t.Fatalf("got %v", err)
		}
	})
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			p := start(t, fixtureBin(t, "graph"))
			h := startHelper(t, "graph-signal", p.pid)
			assertStopped(t, p.pid)
			h.cmd.Process.Signal(sig)
			<-h.done
			if !strings.Contains(h.out.String(), "canceled") || h.cmd.ProcessState.ExitCode() != 1 {
				t.Errorf("helper exited %d after saying %q", h.cmd.ProcessState.ExitCode(), h.out)
			}
			assertRunning(t, p)
		})
	}
	t.Run("panic", func(t *testing.T) {
		t.Parallel()
		p := start(t, fixtureBin(t, "graph"))
		h := startHelper(t, "graph-panic", p.pid)
		<-h.done
		if h.cmd.ProcessState.ExitCode() != 2 {
			t.Errorf("helper exit status %d, want 2 (panic)", h.cmd.ProcessState.ExitCode())
		}
		assertRunning(t, p)
	})
	t.Run("SIGKILL", func(t *testing.T) {
		t.Parallel()
		p := start(t, fixtureBin(t, "graph"))
		h := startHelper(t, "graph-hang", p.pid)
		assertStopped(t, p.pid)
		h.cmd.Process.Kill()
		<-h.done
		assertRunning(t, p)
	})
}

// TestGraphKernelCore walks the heap in a core the kernel wrote when the
// fixture crashed (GOTRACEBACK=crash, SIGQUIT).
func TestGraphKernelCore(t *testing.T) {
	t.Parallel()
	if pat, err := os.ReadFile("/proc/sys/kernel/core_pattern"); err != nil || strings.TrimSpace(string(pat)) != "core" {
		t.Skipf("the kernel writes cores to %q, not to the crashing process's directory", strings.TrimSpace(string(pat)))
	}
	bin := fixtureBin(t, "graph")
	dir := t.TempDir()
	cmd := exec.Command("sh", "-c", "ulimit -c unlimited && exec \"$0\"", bin)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOTRACEBACK=crash")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := readLine(stdout, 60*time.Second); err != nil || !strings.HasPrefix(line, "ready ") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("fixture said %q: %v", line, err)
	}
	cmd.Process.Signal(syscall.SIGQUIT)
	cmd.Wait()
	path := filepath.Join(dir, "core")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("the kernel wrote no core: %v", err)
	}
	g, gc, err := CaptureGraphCore(context.Background(), path, bin, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if gc.Target.PID != cmd.Process.Pid {
		t.Errorf("core of PID %d, want %d", gc.Target.PID, cmd.Process.Pid)
	}
	checkGraph(t, g)
}
