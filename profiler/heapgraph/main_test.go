package heapgraph

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests run real Go programs from testdata, built by both Go versions,
// dump their cores with leakhunt and rebuild their heaps.

var (
	tmpDir   string
	leakhunt string // the leakhunt binary, built once
	buildMu  sync.Mutex
	built    = map[string]string{}
	builtErr = map[string]error{}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "heapgraph-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tmpDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// toolchains are the Go versions targets are built with.
var toolchains = []string{"local", "go1.27.3"}

// buildProg builds testdata/prog with toolchain (once per test binary).
func buildProg(t testing.TB, prog, toolchain string, extra ...string) string {
	t.Helper()
	key := prog + "/" + toolchain + "/" + strings.Join(extra, " ")
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[key]; ok {
		return p
	}
	if err, ok := builtErr[key]; ok {
		t.Fatal(err)
	}
	out := filepath.Join(tmpDir, strings.NewReplacer("/", "_", " ", "_", "=", "_", "+", "_").Replace(key))
	args := append([]string{"build", "-o", out}, extra...)
	args = append(args, ".")
	cmd := exec.Command("go", args...)
	cmd.Dir = filepath.Join("testdata", prog)
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	// A toolchain may name a GOEXPERIMENT: "local+nogreenteagc".
	tc, exp, _ := strings.Cut(toolchain, "+")
	cmd.Env = append(cmd.Env, "GOTOOLCHAIN="+tc)
	if exp != "" {
		cmd.Env = append(cmd.Env, "GOEXPERIMENT="+exp)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		builtErr[key] = fmt.Errorf("build %s with %s: %v\n%s", prog, toolchain, err, b)
		t.Fatal(builtErr[key])
	}
	built[key] = out
	return out
}

// leakhuntBin builds cmd/leakhunt once.
func leakhuntBin(t testing.TB) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if leakhunt != "" {
		return leakhunt
	}
	if p := os.Getenv("HEAPGRAPH_LEAKHUNT"); p != "" {
		// A prebuilt leakhunt, for running these tests outside the module.
		leakhunt = p
		return p
	}
	out := filepath.Join(tmpDir, "leakhunt")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/leakhunt")
	cmd.Dir = "../.."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build leakhunt: %v\n%s", err, b)
	}
	leakhunt = out
	return out
}

// startProg runs bin until it prints "ready"; it is killed at the end of
// the test. The lines it printed before are returned.
func startProg(t testing.TB, bin string, env ...string) (*exec.Cmd, []string) {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	ready := make(chan error, 1)
	var lines []string
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready <- nil
				return
			}
			lines = append(lines, sc.Text())
		}
		ready <- fmt.Errorf("%s exited before it was ready", bin)
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("%s did not get ready", bin)
	}
	return cmd, lines
}

// dumpCore writes a core of pid with leakhunt.
func dumpCore(t testing.TB, pid int) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "core")
	cmd := exec.Command(leakhuntBin(t), "core", fmt.Sprint(pid), "-o", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("leakhunt core %d: %v\n%s", pid, err, b)
	}
	return out
}

// buildFromCore opens a core of bin and builds its graph, with the given
// stack variables as roots.
func buildFromCore(t testing.TB, corePath, bin string, stack ...StackVar) *Graph {
	t.Helper()
	c, err := OpenCore(corePath)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bias, err := c.Bias(bin)
	if err != nil {
		t.Fatal(err)
	}
	g, err := Build(context.Background(), &Input{Mem: c.Mem, Exe: bin, Bias: bias, GoVersion: runtime.Version(), Stack: stack})
	if err != nil {
		t.Fatal(err)
	}
	return g
}
