//go:build linux && amd64

package attach

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/leakhunt/leakhunt/profiler/goroutines"
	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

func fetch(t *testing.T, addr, path string) []byte {
	t.Helper()
	c := http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get("http://" + addr + "/debug/pprof/" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// sampleKey names a heap sample by its stack (function and line of every
// frame, inlined ones included) and its block size.
func sampleKey(s *profile.Sample) string {
	var b strings.Builder
	for _, l := range s.Location {
		for _, ln := range l.Line {
			fmt.Fprintf(&b, "%s:%d;", ln.Function.Name, ln.Line)
		}
		b.WriteString("|")
	}
	fmt.Fprintf(&b, " bytes=%v", s.NumLabel["bytes"])
	return b.String()
}

func samplesByKey(p *profile.Profile) map[string][]int64 {
	m := map[string][]int64{}
	for _, s := range p.Sample {
		k := sampleKey(s)
		if v, ok := m[k]; ok {
			for i := range v {
				v[i] += s.Value[i]
			}
			continue
		}
		m[k] = append([]int64(nil), s.Value...)
	}
	return m
}

// TestHeapMatchesEndpoint compares the heap profile read from the runtime's
// buckets with what /debug/pprof/heap of the same process returns.
func TestHeapMatchesEndpoint(t *testing.T) {
	t.Parallel()
	p := start(t, fixtureBin(t, "go1.26"), "-addr", "127.0.0.1:0", "-buckets", "500", "-goroutines", "40", "-rate", "1")
	// The endpoint first: the buckets its own request creates then exist in
	// both profiles (with zero values: the request's allocations are not
	// published before the next GC).
	want, err := profile.ParseData(fetch(t, p.addr, "heap"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Capture(context.Background(), p.pid, Options{})
	if err != nil {
		t.Fatal(err)
	}
	assertRunning(t, p)
	if *s.Capture.MemProfileRate != 1 {
		t.Errorf("MemProfileRate %d, want 1", *s.Capture.MemProfileRate)
	}
	if s.Heap.Period != want.Period {
		t.Errorf("period %d, endpoint %d", s.Heap.Period, want.Period)
	}
	for i, st := range want.SampleType {
		if s.Heap.SampleType[i].Type != st.Type || s.Heap.SampleType[i].Unit != st.Unit {
			t.Errorf("sample type %d: %v, endpoint %v", i, s.Heap.SampleType[i], st)
		}
	}
	if err := s.Heap.CheckValid(); err != nil {
		t.Fatalf("invalid profile: %v", err)
	}
	got, exp := samplesByKey(s.Heap), samplesByKey(want)
	same, differ, missing := 0, 0, 0
	for k, v := range exp {
		g, ok := got[k]
		switch {
		case !ok:
			missing++
			t.Logf("endpoint only: %s %v", k, v)
		case fmt.Sprint(g) != fmt.Sprint(v):
			differ++
			t.Logf("values differ: %s: attach %v, endpoint %v", k, g, v)
		default:
			same++
		}
	}
	extra, zero := 0, 0
	for k, v := range got {
		if _, ok := exp[k]; !ok {
			// Buckets the endpoint's request created after it read the
			// profile: allocations not yet published, so all zero.
			if fmt.Sprint(v) == "[0 0 0 0]" {
				zero++
				continue
			}
			extra++
			t.Logf("attach only: %s %v", k, v)
		}
	}
	t.Logf("heap profile: %d samples identical, %d differ in values, %d only in the endpoint's, %d only in ours (+%d empty ones created by the endpoint's request), of %d", same, differ, missing, extra, zero, len(exp))
	if len(exp) < 500 {
		t.Fatalf("endpoint profile has only %d stacks: the fixture did not allocate as planned", len(exp))
	}
	// The endpoint's own request may add a bucket or two (its allocations
	// land in a future cycle, but a GC could publish them): allow 1%.
	if bad := differ + missing + extra; bad*100 > len(exp) {
		t.Errorf("%d of %d stacks do not match", bad, len(exp))
	}
	// Inlined frames are lines of one location, as runtime/pprof writes them.
	inlined := false
	for _, l := range s.Heap.Location {
		if len(l.Line) >= 2 && l.Line[0].Function.Name == "main.mk" && l.Line[1].Function.Name == "main.leafA" {
			inlined = true
		}
	}
	if !inlined {
		t.Error("no location with main.mk inlined into main.leafA")
	}
}

// TestGoroutinesMatchDump compares goroutines read by PID with the debug=2
// dump of the same process.
func TestGoroutinesMatchDump(t *testing.T) {
	t.Parallel()
	p := start(t, fixtureBin(t, "go1.26"), "-addr", "127.0.0.1:0", "-goroutines", "40")
	s, err := Capture(context.Background(), p.pid, Options{Locals: true})
	if err != nil {
		t.Fatal(err)
	}
	assertRunning(t, p)
	dump, err := goroutines.ParseDump(bytes.NewReader(fetch(t, p.addr, "goroutine?debug=2")))
	if err != nil {
		t.Fatal(err)
	}
	byID := map[int64]snapshot.Goroutine{}
	for _, g := range dump {
		byID[g.ID] = g
	}
	frames := func(fs []snapshot.Frame) string {
		var b strings.Builder
		for _, f := range fs {
			fmt.Fprintf(&b, "%s %s:%d\n", f.Function, f.File, f.Line)
		}
		return b.String()
	}
	compared := 0
	states := map[string]int{}
	for _, g := range s.Goroutines {
		states[g.State]++
		d, ok := byID[g.ID]
		if !ok {
			continue
		}
		compared++
		if g.State != d.State {
			t.Errorf("goroutine %d: state %q, dump %q", g.ID, g.State, d.State)
		}
		if frames(g.Frames) != frames(d.Frames) {
			t.Errorf("goroutine %d frames:\n%s\ndump:\n%s", g.ID, frames(g.Frames), frames(d.Frames))
		}
		if (g.CreatedBy == nil) != (d.CreatedBy == nil) || g.CreatedBy != nil && (g.CreatedBy.Function != d.CreatedBy.Function || g.CreatedBy.Line != d.CreatedBy.Line) {
			t.Errorf("goroutine %d: created by %+v, dump %+v", g.ID, g.CreatedBy, d.CreatedBy)
		}
		if g.CreatorID != d.CreatorID {
			t.Errorf("goroutine %d: creator %d, dump %d", g.ID, g.CreatorID, d.CreatorID)
		}
	}
	// Every goroutine seen by attach is in the dump; the dump's others serve
	// HTTP connections made after the capture (this one, assertRunning's).
	if compared != len(s.Goroutines) || compared < 40 {
		t.Errorf("compared %d goroutines; dump has %d, attach %d", compared, len(dump), len(s.Goroutines))
	}
	ours := map[int64]bool{}
	for _, g := range s.Goroutines {
		ours[g.ID] = true
	}
	for _, d := range dump {
		if !ours[d.ID] && (d.CreatedBy == nil || !strings.HasPrefix(d.CreatedBy.Function, "net/http.")) {
			t.Errorf("goroutine %d of the dump not seen by attach:\n%s", d.ID, frames(d.Frames))
		}
	}
	for _, st := range []string{"chan receive", "select", "sync.Mutex.Lock", "IO wait", "sleep", "select (no cases)"} {
		if states[st] == 0 {
			t.Errorf("no goroutine in state %q: %v", st, states)
		}
	}
	// Locals: blockRecv's argument is a channel.
	found := false
	for _, g := range s.Goroutines {
		for _, f := range g.Frames {
			if f.Function != "main.blockRecv" {
				continue
			}
			for _, v := range f.Vars {
				if v.Name == "c" && v.Arg && strings.Contains(v.Type, "chan int") {
					found = true
				}
			}
		}
	}
	if !found {
		t.Error("no argument c of type chan int in any main.blockRecv frame")
	}
	t.Logf("compared %d goroutines; states %v", compared, states)
}

// TestMemStatsMatchEndpoint compares memory statistics with runtime.ReadMemStats'
// as the endpoint prints them.
func TestMemStatsMatchEndpoint(t *testing.T) {
	t.Parallel()
	p := start(t, fixtureBin(t, "go1.26"), "-addr", "127.0.0.1:0")
	s, err := Capture(context.Background(), p.pid, Options{})
	if err != nil {
		t.Fatal(err)
	}
	text := string(fetch(t, p.addr, "heap?debug=1"))
	want := map[string]uint64{}
	for _, line := range strings.Split(text, "\n") {
		var name string
		var v uint64
		if n, _ := fmt.Sscanf(strings.TrimPrefix(line, "# "), "%s = %d", &name, &v); n == 2 {
			want[name] = v
		}
	}
	ms := s.MemStats
	if ms == nil {
		t.Fatal("no memstats")
	}
	if uint64(ms.NumGC) != want["NumGC"] {
		t.Errorf("NumGC %d, endpoint %d", ms.NumGC, want["NumGC"])
	}

	// The endpoint's request allocates: allow what a request can add.
	near := func(name string, got uint64) {
		w := want[name]
		if got < w/2 || got > w*2 || w == 0 {
			t.Errorf("%s %d, endpoint %d", name, got, w)
		}
	}
	near("HeapAlloc", ms.HeapAlloc)
	near("HeapSys", ms.HeapSys)
	near("HeapInuse", ms.HeapInuse)
	near("Sys", ms.Sys)
	near("Mallocs", ms.Mallocs)
	t.Logf("attach %+v", *ms)
}

// TestVersions captures the fixture built by Go 1.26 and 1.27, PIE and not.
func TestVersions(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"go1.26", "go1.26-pie", "go1.27", "go1.27-pie"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := start(t, fixtureBin(t, name), "-goroutines", "20")
			s, err := Capture(context.Background(), p.pid, Options{})
			if err != nil {
				t.Fatal(err)
			}
			assertRunning(t, p)
			if s.Heap == nil {
				t.Fatalf("no heap profile; notes %q", s.Capture.Notes)
			}
			want := strings.TrimSuffix(name, "-pie")
			if !strings.HasPrefix(s.Target.GoVersion, want) {
				t.Errorf("Go version %q, want %s", s.Target.GoVersion, want)
			}
			blocked := 0
			for _, g := range s.Goroutines {
				if len(g.Frames) > 0 && g.Frames[0].Function == "main.blockRecv" && g.State == "chan receive" {
					blocked++
				}
			}
			if blocked != 5 {
				t.Errorf("%d goroutines in main.blockRecv [chan receive], want 5", blocked)
			}
			leafB := false
			for _, smp := range s.Heap.Sample {
				if len(smp.Location) > 0 && smp.Location[0].Line[0].Function.Name == "main.leafB" && smp.Value[3] > 0 {
					leafB = true
				}
			}
			if !leafB {
				t.Error("no in-use heap sample allocated by main.leafB")
			}
			if s.MemStats == nil || s.MemStats.NumGC < 2 || s.MemStats.HeapAlloc == 0 {
				t.Errorf("memstats %+v", s.MemStats)
			}
			if s.Process == nil || s.Process.RSS == 0 || s.Capture.Stopped <= 0 || s.Target.BuildInfo == "" {
				t.Errorf("process %+v, stopped %v, build info %q", s.Process, s.Capture.Stopped, s.Target.BuildInfo)
			}
		})
	}
}

// TestCore writes a core of a running fixture, reads it back, and checks it
// against a live capture.
func TestCore(t *testing.T) {
	t.Parallel()
	bin := fixtureBin(t, "go1.26")
	p := start(t, bin, "-goroutines", "20")
	dir := t.TempDir()
	path := filepath.Join(dir, "fixture.core")
	st, err := WriteCore(context.Background(), p.pid, path, false)
	if err != nil {
		t.Fatal(err)
	}
	assertRunning(t, p)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || uint64(fi.Size()) < st.Bytes {
		t.Errorf("core mode %v size %d, %d bytes of memory", fi.Mode(), fi.Size(), st.Bytes)
	}
	t.Logf("core: %d MiB in %d segments, stopped %v", st.Bytes>>20, st.Segments, st.Stopped)
	if _, err := WriteCore(context.Background(), p.pid, path, false); err == nil {
		t.Error("WriteCore replaced an existing file without overwrite")
	}
	live, err := Capture(context.Background(), p.pid, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := CaptureCore(context.Background(), path, "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Capture.Source != snapshot.SourceCore || s.Target.PID != p.pid {
		t.Errorf("source %s, pid %d", s.Capture.Source, s.Target.PID)
	}
	key := func(gs []snapshot.Goroutine) []string {
		var out []string
		for _, g := range gs {
			fn := ""
			if len(g.Frames) > 0 {
				fn = g.Frames[0].Function
			}
			out = append(out, fmt.Sprintf("%d %s %s", g.ID, g.State, fn))
		}
		sort.Strings(out)
		return out
	}
	if a, b := strings.Join(key(s.Goroutines), "\n"), strings.Join(key(live.Goroutines), "\n"); a != b {
		t.Errorf("core goroutines:\n%s\nlive:\n%s", a, b)
	}
	if len(s.Heap.Sample) != len(live.Heap.Sample) || s.MemStats.NumGC != live.MemStats.NumGC {
		t.Errorf("core: %d samples, NumGC %d; live: %d, %d", len(s.Heap.Sample), s.MemStats.NumGC, len(live.Heap.Sample), live.MemStats.NumGC)
	}
	if !hasNote(s, "last GC") {
		t.Errorf("no note on wait durations: %q", s.Capture.Notes)
	}
	// The wrong executable is refused.
	if _, err := CaptureCore(context.Background(), path, fixtureBin(t, "go1.26-pie"), Options{}); !errors.Is(err, ErrCoreMismatch) {
		t.Errorf("core with the wrong executable: %v", err)
	}
	if _, err := CaptureCore(context.Background(), path, filepath.Join(dir, "nothing"), Options{}); !errors.Is(err, ErrNoExecutable) {
		t.Errorf("core with a missing executable: %v", err)
	}
}

func hasNote(s *snapshot.Snapshot, sub string) bool {
	for _, n := range s.Capture.Notes {
		if strings.Contains(n, sub) {
			return true
		}
	}
	return false
}

// TestProfilerOff checks the detection of a disabled memory profiler and the
// consented write that switches it on.
func TestProfilerOff(t *testing.T) {
	t.Parallel()
	p := start(t, fixtureBin(t, "noprof"))
	s, err := Capture(context.Background(), p.pid, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if *s.Capture.MemProfileRate != 0 || !hasNote(s, "memory profiler is off") {
		t.Fatalf("rate %d, notes %q", *s.Capture.MemProfileRate, s.Capture.Notes)
	}
	s, err = Capture(context.Background(), p.pid, Options{EnableProfiling: true})
	if err != nil {
		t.Fatal(err)
	}
	if !hasNote(s, "leakhunt set it to 524288") {
		t.Fatalf("notes %q", s.Capture.Notes)
	}
	assertRunning(t, p)
	// The program keeps allocating: samples appear.
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err = Capture(context.Background(), p.pid, Options{})
		if err != nil {
			t.Fatal(err)
		}
		grow := false
		for _, smp := range s.Heap.Sample {
			if len(smp.Location) > 0 && smp.Location[0].Line[0].Function.Name == "main.grow" {
				grow = true
			}
		}
		if *s.Capture.MemProfileRate == EnabledProfileRate && grow {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no main.grow sample after enabling: rate %d, %d samples", *s.Capture.MemProfileRate, len(s.Heap.Sample))
		}
		time.Sleep(200 * time.Millisecond)
	}
	assertRunning(t, p)
}

// TestErrors provokes the errors a user can meet.
func TestErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("no such PID", func(t *testing.T) {
		_, err := Capture(ctx, exitedPID(t), Options{})
		if !errors.Is(err, ErrNoProcess) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("not Go", func(t *testing.T) {
		_, err := Capture(ctx, notGoPID(t), Options{})
		if !errors.Is(err, ErrNotGo) || !strings.Contains(err.Error(), "sleep") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("no DWARF", func(t *testing.T) {
		p := start(t, fixtureBin(t, "nodwarf"))
		_, err := Capture(ctx, p.pid, Options{})
		if !errors.Is(err, ErrNoDWARF) || !strings.Contains(err.Error(), "-ldflags=-w") {
			t.Fatalf("got %v", err)
		}
		assertRunning(t, p)
	})
	t.Run("already traced", func(t *testing.T) {
		p := start(t, fixtureBin(t, "go1.26"))
		h := startHelper(t, "hang", p.pid)
		_, err := Capture(ctx, p.pid, Options{})
		if !errors.Is(err, ErrTraced) || !strings.Contains(err.Error(), fmt.Sprint(h.cmd.Process.Pid)) {
			t.Fatalf("got %v", err)
		}
		h.cmd.Process.Kill()
		<-h.done
		assertRunning(t, p)
	})
	t.Run("unsupported Go version", func(t *testing.T) {
		err := checkGoVersion("process 1 (x)", "go1.24.3")
		if !errors.Is(err, ErrGoVersion) || !strings.Contains(err.Error(), "Go 1.25 to 1.27") {
			t.Fatalf("got %v", err)
		}
		if err := checkGoVersion("x", "go1.26.8"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("exits while attached", func(t *testing.T) {
		p := start(t, fixtureBin(t, "go1.26"))
		// The process dies while stopped: the capture still returns (from
		// what was copied) or says the process exited; it never hangs.
		_, err := Capture(ctx, p.pid, Options{whileStopped: func(context.Context) {
			syscall.Kill(p.pid, syscall.SIGKILL)
		}})
		if err != nil && !errors.Is(err, ErrExited) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("error while stopped", func(t *testing.T) {
		p := start(t, fixtureBin(t, "go1.26"))
		cctx, cancel := context.WithCancel(ctx)
		_, err := Capture(cctx, p.pid, Options{whileStopped: func(context.Context) { cancel() }})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
		assertRunning(t, p)
	})
}

// TestSafety kills, interrupts and crashes a real attacher while the target
// is stopped, and checks that the target runs on unharmed.
func TestSafety(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			p := start(t, fixtureBin(t, "go1.26"), "-addr", "127.0.0.1:0")
			h := startHelper(t, "signal", p.pid)
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
		p := start(t, fixtureBin(t, "go1.26"), "-addr", "127.0.0.1:0")
		h := startHelper(t, "panic", p.pid)
		<-h.done
		if h.cmd.ProcessState.ExitCode() != 2 {
			t.Errorf("helper exit status %d, want 2 (panic)", h.cmd.ProcessState.ExitCode())
		}
		assertRunning(t, p)
	})
	t.Run("SIGKILL then target panics", func(t *testing.T) {
		t.Parallel()
		p := start(t, fixtureBin(t, "go1.26"), "-addr", "127.0.0.1:0")
		h := startHelper(t, "hang", p.pid)
		assertStopped(t, p.pid)
		h.cmd.Process.Kill()
		<-h.done
		assertRunning(t, p)
		// Its next crash must be its own panic, not a leftover breakpoint.
		syscall.Kill(p.pid, syscall.SIGUSR1)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			t.Fatal("target did not panic")
		}
		stderr := p.stderr.String()
		if !strings.Contains(stderr, "panic: fixture: panic requested") || !strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "trace/breakpoint trap") {
			t.Errorf("target's stderr:\n%s", stderr)
		}
		if code := p.cmd.ProcessState.ExitCode(); code != 2 {
			t.Errorf("target exit status %d, want 2", code)
		}
	})
}

// assertStopped checks that every thread of pid is in a tracing stop: the
// helper really is attached when the test hurts it.
func assertStopped(t *testing.T, pid int) {
	t.Helper()
	for tid, st := range threadStates(t, pid) {
		if st != "t" {
			t.Fatalf("thread %d of %d in state %s while attached", tid, pid, st)
		}
	}
}
