//go:build linux && amd64

package attach

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as a helper process that attaches to a target and
// then misbehaves while the target is stopped (hangs, panics, waits for a
// signal), so the safety tests can kill or interrupt a real attacher.
const helperEnv = "LEAKHUNT_ATTACH_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode))
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// runHelper attaches to the PID in LEAKHUNT_ATTACH_PID and, while the target
// is stopped, prints "stopped" and then does what mode says.
func runHelper(mode string) int {
	pid, _ := strconv.Atoi(os.Getenv("LEAKHUNT_ATTACH_PID"))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := Options{whileStopped: func(ctx context.Context) {
		fmt.Println("stopped")
		switch mode {
		case "hang":
			select {}
		case "panic":
			panic("helper: panic while the target is stopped")
		case "signal":
			select {
			case <-ctx.Done():
			case <-time.After(30 * time.Second):
			}
		}
	}}
	if m, ok := strings.CutPrefix(mode, "rate-"); ok {
		mode = m
		if _, err := setRate(ctx, pid, 65536, rateWrite{}, opts.whileStopped); err != nil {
			fmt.Println("error:", err)
			return 1
		}
		fmt.Println("set")
		return 0
	}
	var err error
	if strings.HasPrefix(mode, "graph-") {
		mode = strings.TrimPrefix(mode, "graph-")
		_, _, done, gerr := graphInput(ctx, pid, opts)
		if gerr == nil {
			done()
		}
		err = gerr
	} else {
		_, err = Capture(ctx, pid, opts)
	}
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println("captured")
	return 0
}

var (
	binDir   string
	binOnce  sync.Once
	binErr   error
	binaries = map[string]string{}
)

// fixtureBuild is one way of building a test program.
type fixtureBuild struct {
	name      string
	pkg       string // under testdata
	toolchain string // GOTOOLCHAIN, "" for the default
	flags     []string
}

var fixtureBuilds = []fixtureBuild{
	{name: "go1.26", pkg: "fixture"},
	{name: "go1.26-pie", pkg: "fixture", flags: []string{"-buildmode=pie"}},
	{name: "go1.27", pkg: "fixture", toolchain: "go1.27.3"},
	{name: "go1.27-pie", pkg: "fixture", toolchain: "go1.27.3", flags: []string{"-buildmode=pie"}},
	{name: "nodwarf", pkg: "fixture", flags: []string{"-ldflags=-w"}},
	{name: "noprof", pkg: "noprof"},
	{name: "nosym", pkg: "noprof", flags: []string{"-ldflags=-s"}},
	{name: "graph", pkg: "graph"},
	{name: "graph-go1.27", pkg: "graph", toolchain: "go1.27.3"},
	{name: "graph-pie", pkg: "graph", flags: []string{"-buildmode=pie"}},
}

// fixtureBin returns the path of a fixture build, building all of them (in
// parallel) the first time.
func fixtureBin(t testing.TB, name string) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "leakhunt-attach-test")
		if binErr != nil {
			return
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var errs []string
		for _, b := range fixtureBuilds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out := filepath.Join(binDir, b.name)
				args := append([]string{"build", "-o", out}, b.flags...)
				args = append(args, "./testdata/"+b.pkg)
				cmd := exec.Command("go", args...)
				cmd.Env = os.Environ()
				if b.toolchain != "" {
					cmd.Env = append(cmd.Env, "GOTOOLCHAIN="+b.toolchain)
				}
				msg, err := cmd.CombinedOutput()
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, fmt.Sprintf("%s: %v: %s", b.name, err, msg))
					return
				}
				binaries[b.name] = out
			}()
		}
		wg.Wait()
		if len(errs) > 0 {
			binErr = fmt.Errorf("build fixtures: %s", strings.Join(errs, "; "))
		}
	})
	if p := binaries[name]; p != "" {
		return p
	}
	if strings.HasPrefix(name, "go1.27") {
		t.Skipf("the Go 1.27 toolchain (GOTOOLCHAIN=go1.27.3) could not build the fixture: %v", binErr)
	}
	t.Fatalf("fixture %s not built: %v", name, binErr)
	return ""
}

// proc is a started test program.
type testProc struct {
	pid    int
	addr   string // its net/http/pprof address, "" when none
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs a fixture binary and waits for its "ready PID ADDR" line. The
// process is killed when the test ends.
func start(t *testing.T, bin string, args ...string) *testProc { return startB(t, bin, args...) }

func startB(t testing.TB, bin string, args ...string) *testProc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	// Die with the test binary even when a timeout skips the cleanups.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &testProc{cmd: cmd, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.pid = cmd.Process.Pid
	// No goroutine may sit in cmd.Wait while the test attaches: the target is
	// our child, and a parent's wait consumes its ptrace stops. Poll for the
	// zombie instead, then reap it.
	go func() {
		for {
			if st := threadState(p.pid, p.pid); st == 0 || st == 'Z' || st == 'X' {
				cmd.Wait()
				close(p.done)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	line, err := readLine(stdout, 60*time.Second)
	if err != nil {
		t.Fatalf("%s did not start: %v; stderr: %s", bin, err, p.stderr)
	}
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "ready" {
		t.Fatalf("%s printed %q", bin, line)
	}
	if f[2] != "-" {
		p.addr = f[2]
	}
	go io.Copy(io.Discard, stdout)
	return p
}

// helper is a running attacher.
type helper struct {
	cmd  *exec.Cmd
	out  *syncBuffer // what it printed after "stopped"
	done chan struct{}
}

// startHelper starts the test binary as an attaching helper in the given mode
// and waits until it reports the target stopped.
func startHelper(t *testing.T, mode string, target int) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, "LEAKHUNT_ATTACH_PID="+strconv.Itoa(target))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	r := bufio.NewReader(stdout)
	first := make(chan string, 1)
	go func() {
		line, _ := r.ReadString('\n')
		first <- strings.TrimSpace(line)
		io.Copy(h.out, r) // all of it before Wait closes the pipe
		cmd.Wait()
		close(h.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-h.done
	})
	select {
	case line := <-first:
		if line != "stopped" {
			t.Fatalf("helper did not attach: %q; stderr: %s", line, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("helper did not attach; stderr: %s", stderr.String())
	}
	return h
}

func readLine(r io.Reader, timeout time.Duration) (string, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReader(r)
	}
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		s, err := br.ReadString('\n')
		ch <- res{strings.TrimSpace(s), err}
	}()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-time.After(timeout):
		return "", fmt.Errorf("no line within %s", timeout)
	}
}

// threadStates returns the state letter of each thread of pid (/proc/PID/task/TID/stat).
func threadStates(t *testing.T, pid int) map[int]string {
	t.Helper()
	states := map[int]string{}
	tids, err := taskIDs(pid)
	if err != nil {
		t.Fatalf("process %d: %v", pid, err)
	}
	for _, tid := range tids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid))
		if err != nil {
			continue
		}
		s := string(data)
		if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
			states[tid] = s[i+2 : i+3]
		}
	}
	return states
}

// assertRunning checks that pid is alive, traced by nobody and that none of
// its threads is stopped; when the process serves pprof it must answer too.
func assertRunning(t *testing.T, p *testProc) {
	t.Helper()
	select {
	case <-p.done:
		t.Fatalf("process %d exited; stderr: %s", p.pid, p.stderr)
	default:
	}
	if tr := tracerPID(p.pid); tr != 0 {
		t.Fatalf("process %d is still traced by %d", p.pid, tr)
	}
	for tid, st := range threadStates(t, p.pid) {
		if st == "t" || st == "T" {
			t.Fatalf("thread %d of process %d is stopped (state %s)", tid, p.pid, st)
		}
	}
	if p.addr != "" {
		c := http.Client{Timeout: 10 * time.Second}
		resp, err := c.Get("http://" + p.addr + "/debug/pprof/cmdline")
		if err != nil {
			t.Fatalf("process %d does not answer: %v", p.pid, err)
		}
		resp.Body.Close()
	}
}

// exitedPID is the PID of a process that has run and exited (and been
// reaped): no process has it, until the kernel hands it out again.
func exitedPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// notGoPID is the PID of a running process that is not a Go program
// (sleep), ended when the test ends.
func notGoPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd.Process.Pid
}
