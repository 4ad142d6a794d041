package watch_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/leakhunt/leakhunt/profiler/snapshot"
	"github.com/leakhunt/leakhunt/profiler/source"
	"github.com/leakhunt/leakhunt/profiler/verdict"
	"github.com/leakhunt/leakhunt/profiler/watch"
)

var (
	buildOnce sync.Once
	leakerBin string
	buildErr  error
)

// leaker builds testdata/leaker once per test binary.
func leaker(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "leaker")
		if err != nil {
			buildErr = err
			return
		}
		leakerBin = filepath.Join(dir, "leaker")
		out, err := exec.Command("go", "build", "-o", leakerBin, "./testdata/leaker").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build leaker: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return leakerBin
}

func TestMain(m *testing.M) {
	if os.Getenv(parentEnv) != "" {
		beParent()
		return
	}
	code := m.Run()
	if leakerBin != "" {
		os.RemoveAll(filepath.Dir(leakerBin))
	}
	os.Exit(code)
}

var urlRE = regexp.MustCompile(`pprof: (http://127\.0\.0\.1:[0-9]+/debug/pprof/)`)

// startLeaker runs the fixture in mode and returns its pprof URL. It is
// stopped when the test ends.
func startLeaker(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(leaker(t), args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
			go func() {
				for sc.Scan() {
				}
			}()
			return m[1]
		}
	}
	t.Fatalf("leaker %v printed no pprof URL", args)
	return ""
}

// captureFrom captures url as leakhunt watch does.
func captureFrom(t *testing.T, url string) watch.CaptureFunc {
	tg, err := source.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	return func(ctx context.Context) (*snapshot.Snapshot, error) {
		return source.Capture(ctx, tg, source.Options{GC: true, NoLeakCheck: true, Timeout: 10 * time.Second})
	}
}

// markedLine finds the line of the fixture's source that carries marker.
func markedLine(t *testing.T, marker string) int {
	data, err := os.ReadFile("testdata/leaker/main.go")
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, "// "+marker) {
			return i + 1
		}
	}
	t.Fatalf("no %s in the fixture", marker)
	return 0
}

// noWarmUp judges heap growth without the 40 s a heap verdict waits by
// default for a warm-up to show its plateau: these watches last seconds
// (docs/verdicts.md, "Heap: the warm-up allowance").
const noWarmUp = -1

func watchFor(t *testing.T, url, dir string, samples int) *watch.Result {
	t.Helper()
	res, err := watch.Run(context.Background(), captureFrom(t, url), watch.Options{
		Interval: 200 * time.Millisecond, Duration: time.Duration(samples-1) * 200 * time.Millisecond, Dir: dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func describe(vs []verdict.Verdict) string {
	var b strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&b, "\n  %s %s conf %.2f: %s", v.Kind, v.Where(), v.Confidence, v.Evidence)
	}
	return b.String()
}

func TestWatchNamesHeapLeak(t *testing.T) {
	t.Parallel()
	url := startLeaker(t, "-mode", "heap")
	dir := filepath.Join(t.TempDir(), "series")
	res := watchFor(t, url, dir, 30)
	// Captures that run late (a loaded machine) end the watch at its
	// duration with fewer samples: enough for a verdict is what matters.
	if res.Stop != watch.StopDone || res.Series.Len() < 10 || res.Series.Len() > 30 {
		t.Fatalf("stop %q after %d samples, want done after up to 30", res.Stop, res.Series.Len())
	}
	vs := verdict.Analyze(res.Series, verdict.Options{Dir: dir, MinHeapSpan: noWarmUp})
	line := markedLine(t, "LEAK-HEAP")
	var found bool
	for _, v := range vs {
		if v.Kind == verdict.Heap && v.Function == "main.leakHeap" && filepath.Base(v.File) == "main.go" && v.Line == line {
			found = true
			if !strings.Contains(v.Source, "LEAK-HEAP") {
				t.Errorf("verdict source line %q, want the marked line", v.Source)
			}
			// 64 KiB every 25 ms is 2.5 MiB/s; the profile is sampled.
			if v.Rate < 1<<20 || v.Rate > 5<<20 {
				t.Errorf("rate %.0f bytes/s, want about 2.6 MB/s", v.Rate)
			}
		} else {
			t.Errorf("unexpected verdict %s %s: %s", v.Kind, v.Where(), v.Evidence)
		}
	}
	if !found {
		t.Fatalf("no heap verdict at main.go:%d; got:%s", line, describe(vs))
	}
	// The series keeps what each site allocated as well as what it holds:
	// the leaking site holds all it allocated since it was first sampled.
	for _, ss := range res.Series.Sites() {
		if ss.Site.Function != "main.leakHeap" || ss.Site.Line != line {
			continue
		}
		n := res.Series.Len()
		if len(ss.AllocBytes) != n || len(ss.AllocObjects) != n {
			t.Fatalf("site has %d/%d allocation values for %d samples", len(ss.AllocBytes), len(ss.AllocObjects), n)
		}
		if a, b := ss.AllocBytes[n-1], ss.Bytes[n-1]; b <= 0 || a < b {
			t.Errorf("site allocated %d bytes and holds %d: want 0 < held ≤ allocated", a, b)
		}
		if !res.Series.InProgram(ss.Site) {
			t.Errorf("the leaking site %+v is not in the program's own code", ss.Site)
		}
	}
	if res.Series.InProgram(watch.Loc{Function: "runtime.mallocgc"}) ||
		res.Series.InProgram(watch.Loc{Function: "bufio.NewWriterSize", File: "/usr/local/go/src/bufio/bufio.go", Line: 599}) {
		t.Errorf("the runtime or the standard library counted as the program's own code")
	}
	checkSeriesDir(t, dir, res.Series)
}

func TestWatchNamesGoroutineLeak(t *testing.T) {
	t.Parallel()
	url := startLeaker(t, "-mode", "goroutine")
	res := watchFor(t, url, "", 30)
	vs := verdict.Analyze(res.Series, verdict.Options{MinHeapSpan: noWarmUp})
	line := markedLine(t, "LEAK-GOROUTINE")
	var found bool
	for _, v := range vs {
		if v.Kind == verdict.Goroutine && v.Line == line {
			found = true
			if v.State != "chan send" || v.CreatedBy == nil || v.CreatedBy.Function != "main.leakGoroutine" {
				t.Errorf("verdict state %q created by %+v, want chan send created in main.leakGoroutine", v.State, v.CreatedBy)
			}
		}
		if v.Kind == verdict.NonGoMemory {
			t.Errorf("unexpected verdict %s: %s", v.Kind, v.Evidence)
		}
	}
	if !found {
		t.Fatalf("no goroutine verdict at main.go:%d; got:%s", line, describe(vs))
	}
}

// TestWatchControls watches a program that warms a bounded cache up to its
// plateau, makes a sawtooth of large temporary buffers and keeps an idle
// worker pool: none of it is a leak.
func TestWatchControls(t *testing.T) {
	t.Parallel()
	url := startLeaker(t, "-mode", "controls")
	res := watchFor(t, url, "", 30)
	if vs := verdict.Analyze(res.Series, verdict.Options{MinHeapSpan: noWarmUp}); len(vs) > 0 {
		t.Fatalf("verdicts on a program that does not leak:%s", describe(vs))
	}
}

func TestWatchTargetExits(t *testing.T) {
	t.Parallel()
	url := startLeaker(t, "-mode", "heap", "-exit-after", "1500ms")
	dir := filepath.Join(t.TempDir(), "series")
	res := watchFor(t, url, dir, 30)
	if res.Stop != watch.StopExited || res.Err == nil {
		t.Fatalf("stop %q (err %v), want %q", res.Stop, res.Err, watch.StopExited)
	}
	if n := res.Series.Len(); n < 2 || n >= 30 {
		t.Fatalf("%d samples, want those taken before the target exited", n)
	}
	idx := checkSeriesDir(t, dir, res.Series)
	if idx.Stop != watch.StopExited {
		t.Errorf("index says stop %q, want %q", idx.Stop, watch.StopExited)
	}
}

func TestWatchInterrupted(t *testing.T) {
	t.Parallel()
	url := startLeaker(t, "-mode", "heap")
	dir := filepath.Join(t.TempDir(), "series")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := watch.Run(ctx, captureFrom(t, url), watch.Options{
		Interval: 100 * time.Millisecond, Duration: time.Minute, Dir: dir,
		// Cancel in the middle of the fourth capture's life.
		OnSample: func(s *watch.Series, smp watch.Sample) {
			if smp.Index == 3 {
				go func() { time.Sleep(120 * time.Millisecond); cancel() }()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stop != watch.StopInterrupted {
		t.Fatalf("stop %q, want interrupted", res.Stop)
	}
	checkSeriesDir(t, dir, res.Series)
}

func TestWatchRefusesUsedDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, watch.IndexFile), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := watch.Run(context.Background(), func(context.Context) (*snapshot.Snapshot, error) {
		t.Fatal("captured into a used directory")
		return nil, nil
	}, watch.Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "already holds a series") {
		t.Fatalf("err %v, want already holds a series", err)
	}
}

// checkSeriesDir checks that dir holds exactly the series: every sample's
// file complete, mode 0600, nothing else but the index, and that LoadDir
// rebuilds the same numbers.
func checkSeriesDir(t *testing.T, dir string, s *watch.Series) *watch.Index {
	t.Helper()
	idx, err := watch.ReadIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(idx.Samples) != s.Len() {
		t.Fatalf("index lists %d samples, the series has %d", len(idx.Samples), s.Len())
	}
	want := map[string]bool{watch.IndexFile: true}
	for i, smp := range idx.Samples {
		if !strings.HasPrefix(smp.File, fmt.Sprintf("%04d-leaker-", i+1)) || !strings.HasSuffix(smp.File, ".lhsnap") {
			t.Errorf("sample %d file %q, want %04d-leaker-TIME.lhsnap", i+1, smp.File, i+1)
		}
		want[smp.File] = true
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !want[e.Name()] {
			t.Errorf("unexpected file %s in the series directory", e.Name())
		}
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %o, want 600", e.Name(), fi.Mode().Perm())
		}
	}
	loaded, _, err := watch.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range s.Samples {
		a, b := s.Samples[i], loaded.Samples[i]
		if a.HeapAlloc != b.HeapAlloc || a.ProfileInuse != b.ProfileInuse || a.Goroutines != b.Goroutines || a.File != b.File {
			t.Errorf("sample %d loaded back as %+v, want %+v", i+1, b, a)
		}
	}
	if len(loaded.Sites()) != len(s.Sites()) || len(loaded.Groups()) != len(s.Groups()) {
		t.Errorf("loaded %d sites and %d groups, want %d and %d", len(loaded.Sites()), len(loaded.Groups()), len(s.Sites()), len(s.Groups()))
	}
	return idx
}

// TestWatchByPID watches the leaking fixture through its PID (no pprof
// endpoint used, no forced garbage collection): the heap profile only
// changes at each GC, and the verdict must come all the same. The target
// must be left running.
func TestWatchByPID(t *testing.T) {
	t.Parallel()
	url := startLeaker(t, "-mode", "heap")
	probe, err := source.Capture(context.Background(), mustParse(t, url), source.Options{Parts: source.PartMemStats, NoLeakCheck: true})
	if err != nil || probe.Target.PID == 0 {
		t.Fatalf("cannot find the fixture's PID: %v", err)
	}
	pid := mustParse(t, fmt.Sprint(probe.Target.PID))
	capture := func(ctx context.Context) (*snapshot.Snapshot, error) {
		return source.Capture(ctx, pid, source.Options{Timeout: 10 * time.Second})
	}
	if _, err := capture(context.Background()); err != nil {
		t.Skipf("cannot attach to a process here: %v", err)
	}
	// Attaching takes longer than an HTTP request: a longer watch.
	res, err := watch.Run(context.Background(), capture, watch.Options{Interval: 500 * time.Millisecond, Duration: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	line := markedLine(t, "LEAK-HEAP")
	vs := verdict.Analyze(res.Series, verdict.Options{MinHeapSpan: noWarmUp})
	found := false
	for _, v := range vs {
		found = found || (v.Kind == verdict.Heap && v.Function == "main.leakHeap" && v.Line == line)
	}
	if !found {
		verdict.Analyze(res.Series, verdict.Options{MinHeapSpan: noWarmUp, Explain: func(k verdict.Kind, site string, tr verdict.Trend, why string) {
			t.Logf("%s %s: %s (%+v)", k, site, why, tr)
		}})
		t.Fatalf("no heap verdict at main.go:%d by PID after %d samples; got:%s", line, res.Series.Len(), describe(vs))
	}
	if _, err := source.Capture(context.Background(), mustParse(t, url), source.Options{Parts: source.PartMemStats, NoLeakCheck: true}); err != nil {
		t.Fatalf("the target no longer answers after the watch: %v", err)
	}
}

func mustParse(t *testing.T, arg string) source.Target {
	tg, err := source.Parse(arg)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}
