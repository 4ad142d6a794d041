package dlvscript

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leakhunt/leakhunt/scripts"
)

// The tests do not run in parallel: delve's native backend waits for any
// child of the process (wait4(-1, __WALL)) while a target runs, so two
// sessions in one process can steal each other's ptrace events (an attach
// then hangs), and a session can reap the exit of a fixture it does not
// trace.

// fixtureBin is the patient program, built once per test binary.
var (
	fixtureBin string
	workDir    string
)

func TestMain(m *testing.M) {
	// The test binary doubles as a terminal process for TestTerminal: it
	// attaches to the PID in the environment and runs Terminal on its stdin.
	if pid := os.Getenv("DLVSCRIPT_TEST_TERMINAL"); pid != "" {
		os.Exit(terminalMain(pid))
	}
	dir, err := os.MkdirTemp("", "dlvscript-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workDir = dir
	fixtureBin = filepath.Join(dir, "fixture")
	// main is built without optimisation so that snoop can read every
	// local at every line (optimised code has locals DWARF cannot locate
	// at some instructions; snoop then prints them as unreadable).
	out, err := exec.Command("go", "build", "-gcflags=-N -l", "-o", fixtureBin, "./testdata/fixture").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build fixture: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func terminalMain(pidStr string) int {
	pid, _ := strconv.Atoi(pidStr)
	s, err := Open(context.Background(), Target{PID: pid})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	err = s.Terminal(context.Background(), TerminalOptions{Init: []Script{{Name: scripts.LeakhuntStarName, Source: scripts.LeakhuntStar}}, Out: os.Stdout})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// fixtureLine is the line of the fixture's source holding text.
func fixtureLine(t *testing.T, text string) int {
	t.Helper()
	data, err := os.ReadFile("testdata/fixture/main.go")
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, text) {
			return i + 1
		}
	}
	t.Fatalf("no %q in the fixture", text)
	return 0
}

// startFixture starts the patient and waits until its goroutines are parked.
func startFixture(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(fixtureBin)
	cmd.Stderr = &lockedBuffer{}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("fixture did not start: %q %v", line, err)
	}
	return cmd
}

// assertRunning checks that pid runs on: not stopped, not traced, and still
// alive a moment later while it keeps calling main.Work (a leftover
// breakpoint would kill it with SIGTRAP).
func assertRunning(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	pid := cmd.Process.Pid
	exited := make(chan struct{})
	var state *os.ProcessState
	go func() {
		state, _ = cmd.Process.Wait()
		close(exited)
	}()
	select {
	case <-exited:
		t.Fatalf("target %d died: %v\n%s", pid, state, cmd.Stderr.(*lockedBuffer).String())
	case <-time.After(300 * time.Millisecond):
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("target %d is gone: %v", pid, err)
	}
	st := regexp.MustCompile(`(?m)^State:\s+(\S)`).FindSubmatch(data)
	tr := regexp.MustCompile(`(?m)^TracerPid:\s+(\d+)`).FindSubmatch(data)
	if st == nil || string(st[1]) == "t" || string(st[1]) == "T" || string(st[1]) == "Z" {
		t.Fatalf("target %d is not running: %s", pid, data)
	}
	if tr == nil || string(tr[1]) != "0" {
		t.Fatalf("target %d is still traced: %s", pid, data)
	}
}

func preload() ScriptOptions {
	return ScriptOptions{Preload: []Script{{Name: scripts.LeakhuntStarName, Source: scripts.LeakhuntStar}}}
}

// commandsScript exercises every leakhunt.star command as a function, the
// way a user's script would.
const commandsScript = `
def main():
    gbt()
    print("=====")
    gbt_full()
    print("=====")
    gleaks("0")
    print("=====")
    heaptop(5)
    print("=====")
    for g in goroutines(0, 1000).Goroutines:
        if g.StartLoc.Function != None and g.StartLoc.Function.Name_ == "main.recvForever":
            gsource(str(g.ID))
            break
    print("=====")
    retainers("main.Registry")
    retainers("main.Index")
    retainers("main.Sessions")
    print("=====")
    print("ARGS", ARGS)
`

// checkCommands asserts what commandsScript printed against what the fixture
// is known to hold.
func checkCommands(t *testing.T, out string, live bool) {
	t.Helper()
	parts := strings.Split(out, "=====\n")
	if len(parts) != 7 {
		t.Fatalf("want 7 sections, got %d:\n%s", len(parts), out)
	}
	gbt, full, leaks, heap, src, ret, args := parts[0], parts[1], parts[2], parts[3], parts[4], parts[5], parts[6]
	for _, want := range []string{
		"[8] chan receive, waiting ", "main.recvForever\n", fmt.Sprintf("fixture/main.go:%d\n", fixtureLine(t, "func recvForever()")),
		"[4] chan send, waiting ", "[3] select, waiting ", "[2] sync.Mutex.Lock, waiting ", "[1] sync.WaitGroup.Wait, waiting ",
		"created by main.main\n",
	} {
		if !strings.Contains(gbt, want) {
			t.Errorf("gbt: no %q in\n%s", want, gbt)
		}
	}
	if !regexp.MustCompile(`^\d+ goroutines in \d+ groups`).MatchString(gbt) {
		t.Errorf("gbt: bad header:\n%s", gbt)
	}
	for _, want := range []string{"arg   a chan int", "arg   wg *sync.WaitGroup"} {
		if !strings.Contains(full, want) {
			t.Errorf("gbt_full: no %q in\n%s", want, full)
		}
	}
	for _, want := range []string{
		// 18 parked by main, plus the SIGUSR2 handler and os/signal's watcher.
		"20 goroutines blocked on a channel, select, mutex or WaitGroup for at least 0s, from 7 creation sites",
		"8 goroutines running main.recvForever, created in main.main",
		"chan receive ×8, waiting ",
		"blocked in main.lockForever ", "blocked in main.waitForever ",
	} {
		if !strings.Contains(leaks, want) {
			t.Errorf("gleaks: no %q in\n%s", want, leaks)
		}
	}
	// The order is by group size: recvForever (8) before sendForever (4).
	if strings.Index(leaks, "main.recvForever,") > strings.Index(leaks, "main.sendForever,") {
		t.Errorf("gleaks: groups not largest first:\n%s", leaks)
	}
	// growCache keeps 16 buffers of 64 KiB and the final backing array of
	// Cache, all allocated on line 43: 1 MiB + 384 B in 17 objects
	// (MemProfileRate 1: no scaling).
	if !regexp.MustCompile(fmt.Sprintf(`(?m)^\s+1\.0 MiB\s+17\s+1\.0 MiB  main\.growCache .*fixture/main\.go:%d`, fixtureLine(t, "Cache = append("))).MatchString(heap) {
		t.Errorf("heaptop: no 1 MiB in 17 objects at main.growCache:\n%s", heap)
	}
	// buildRegistry: 100 nodes of 40 bytes (48 B size class) and 100 KiB payloads.
	if !regexp.MustCompile(`(?m)^\s+\S+ KiB\s+200\s+\S+ KiB  main\.buildRegistry`).MatchString(heap) {
		t.Errorf("heaptop: no 200 objects at main.buildRegistry:\n%s", heap)
	}
	if !strings.HasPrefix(heap, "heap profile: ") || !strings.Contains(heap, "MemProfileRate 1;") {
		t.Errorf("heaptop: bad header:\n%s", heap)
	}
	if !strings.Contains(src, fmt.Sprintf("=> %5d  func recvForever() { <-never }", fixtureLine(t, "func recvForever()"))) || !strings.Contains(src, "[chan receive") {
		t.Errorf("gsource: no marked recvForever line in\n%s", src)
	}
	// 100 nodes of 40 bytes and 100 payloads of 1 KiB; Index reaches the
	// same 100 nodes (through 150 shared pointers and Next) plus its own
	// array; Sessions 100 nodes with 512-byte payloads, 100 keys of 190
	// bytes in all, a table.
	for _, want := range []string{
		"main.Registry keeps 103.9 KiB reachable in 200 objects (*main.node)", "100.0 KiB      100  []uint8", "3.9 KiB      100  main.node",
		"main.Index keeps ", " reachable in 201 objects ([]*main.node)",
		"main.Sessions keeps ", " reachable in 301 objects (map[string]*main.node)", "50.0 KiB      100  []uint8", "190 B      100  string data",
	} {
		if !strings.Contains(ret, want) {
			t.Errorf("retainers: no %q in\n%s", want, ret)
		}
	}
	if !strings.Contains(args, `ARGS ["x", "y z"]`) {
		t.Errorf("ARGS: %s", args)
	}
	_ = live
}

var (
	coreOnce sync.Once
	coreFile string
	coreErr  error
)

// fixtureCore writes, once per test binary, a core of a fixture process
// with delve's dump command (Target.Dump) run from a script, and checks
// that the process survives it.
func fixtureCore(t *testing.T) string {
	t.Helper()
	coreOnce.Do(func() {
		cmd := startFixture(t)
		time.Sleep(200 * time.Millisecond)
		s, err := Open(context.Background(), Target{PID: cmd.Process.Pid})
		if err != nil {
			coreErr = err
			return
		}
		path := filepath.Join(workDir, "fixture.core")
		var out bytes.Buffer
		err = s.RunScript(context.Background(), Script{Name: "dump.star", Source: []byte(fmt.Sprintf("dlv_command(%q)\n", "dump "+path))}, ScriptOptions{Out: &out})
		if cerr := s.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			coreErr = fmt.Errorf("dump: %v\n%s", err, out.String())
			return
		}
		assertRunning(t, cmd)
		coreFile = path
	})
	if coreErr == nil && coreFile == "" {
		coreErr = fmt.Errorf("no core was written (see the first test that asked for it)")
	}
	if coreErr != nil {
		t.Fatal(coreErr)
	}
	return coreFile
}

// TestCommandsLiveAndCore runs every command against a live fixture, writes
// a core of it with delve's dump (Target.Dump), and runs them again on the
// core.
func TestCommandsLiveAndCore(t *testing.T) {
	cmd := startFixture(t)
	// Let the wait times grow past the 10 ms resolution of the live clock.
	time.Sleep(200 * time.Millisecond)
	s, err := Open(context.Background(), Target{PID: cmd.Process.Pid})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.RemovedBreakpoints(), ","); got != "unrecovered-panic,runtime-fatal-throw" {
		t.Errorf("removed breakpoints %q", got)
	}
	var out bytes.Buffer
	opts := preload()
	opts.Out = &out
	opts.Args = []string{"x", "y z"}
	err = s.RunScript(context.Background(), Script{Name: "commands.star", Source: []byte(commandsScript)}, opts)
	if err != nil {
		s.Close()
		t.Fatalf("%v\n%s", err, out.String())
	}
	checkCommands(t, out.String(), true)
	if !strings.Contains(out.String(), "wait times measured now") {
		t.Errorf("live wait times not measured against the clock:\n%s", out.String())
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	assertRunning(t, cmd)

	core := fixtureCore(t)
	c, err := Open(context.Background(), Target{Core: core, Exe: fixtureBin})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out.Reset()
	if err := c.RunScript(context.Background(), Script{Name: "commands.star", Source: []byte(commandsScript)}, opts); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	checkCommands(t, out.String(), false)
	if !strings.Contains(out.String(), "wait times measured up to the last GC") {
		t.Errorf("core wait times not marked as up to the last GC:\n%s", out.String())
	}
}

func TestScriptErrors(t *testing.T) {
	cmd := startFixture(t)
	s, err := Open(context.Background(), Target{PID: cmd.Process.Pid})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, src, want string
	}{
		{"syntax", "def main(:\n", "bad.star:1:"},
		{"runtime error on line 3", "x = 1\n\ny = x + \"a\"\n", "bad.star:3:"},
		{"error inside a command, called from line 2", "\ngleaks(\"soon\")\n", "bad.star:2:"},
		{"no goroutine ID", "gsource(\"\")\n", "gsource needs a goroutine ID"},
		{"no goroutine", "gsource(\"999999\")\n", "no goroutine 999999"},
		{"bad duration", "gleaks(\"5 parsecs\")\n", "bad duration"},
		{"no such variable", "retainers(\"main.nosuchvar\")\n", "nosuchvar"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := preload()
			var out bytes.Buffer
			opts.Out = &out
			err := s.RunScript(context.Background(), Script{Name: "bad.star", Source: []byte(tc.src)}, opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	assertRunning(t, cmd)
}

// TestTerminal drives delve's terminal through a real stdin: the test
// binary, run as a terminal process, attaches to the fixture; gbt and help
// work, and quit detaches without asking and without killing.
func TestTerminal(t *testing.T) {
	cmd := startFixture(t)
	term := exec.Command(os.Args[0])
	term.Env = append(os.Environ(), "DLVSCRIPT_TEST_TERMINAL="+strconv.Itoa(cmd.Process.Pid), "TERM=dumb")
	term.Stdin = strings.NewReader("gbt\nhelp gleaks\nheaptop 3\nquit\n")
	var out, errb bytes.Buffer
	term.Stdout, term.Stderr = &out, &errb
	if err := term.Run(); err != nil {
		t.Fatalf("terminal: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	got := out.String()
	for _, want := range []string{"[8] chan receive", "Goroutines blocked for at least MIN", "main.growCache"} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in the terminal's output:\n%s\nstderr:\n%s", want, got, errb.String())
		}
	}
	if strings.Contains(got+errb.String(), "kill the process") {
		t.Errorf("the terminal asked to kill the process:\n%s", got)
	}
	assertRunning(t, cmd)
}

// TestHaltWhileStopped reproduces delve's hazard that drainTrap guards
// against: a halt requested while the target is already stopped leaves a
// SIGTRAP pending, which would kill the target once detached.
func TestHaltWhileStopped(t *testing.T) {
	cmd := startFixture(t)
	s, err := Open(context.Background(), Target{PID: cmd.Process.Pid})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.rpc().Halt(); err != nil {
		t.Fatal(err)
	}
	if !trapPending(cmd.Process.Pid) {
		t.Fatal("no SIGTRAP pending after a halt of a stopped target: delve changed how it halts")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	assertRunning(t, cmd)
}

func TestSnoop(t *testing.T) {
	tests := []struct {
		name    string
		opts    SnoopOptions
		cancel  time.Duration
		calls   int // exact when > 0
		want    []string
		wantErr bool
	}{
		{name: "max-calls", opts: SnoopOptions{Func: "main.Work", MaxCalls: 3, Duration: time.Minute}, calls: 3,
			want: []string{"call #1 main.Work(n=", `label="tick")`, "return #1 main.Work => ~r0=", "~r1=error nil", "(took "}},
		{name: "duration", opts: SnoopOptions{Func: "main.Work", Duration: 400 * time.Millisecond},
			want: []string{"call #1 main.Work(n="}},
		{name: "cancel", opts: SnoopOptions{Func: "main.Work", Duration: time.Minute}, cancel: 400 * time.Millisecond,
			want: []string{"call #1 main.Work(n="}, wantErr: true},
		{name: "lines and watch", opts: SnoopOptions{Func: "main.Work", MaxCalls: 1, Lines: true, Watch: []string{"n*2"}, Duration: time.Minute}, calls: 1,
			want: []string{fmt.Sprintf("line %d  total := 0", fixtureLine(t, "total := 0")), "new var total = 0", "watch n*2 = ", "return #1"}},
		{name: "no such function", opts: SnoopOptions{Func: "main.Wrok", Duration: time.Second}, wantErr: true,
			want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := startFixture(t)
			s, err := Open(context.Background(), Target{PID: cmd.Process.Pid})
			if err != nil {
				t.Fatal(err)
			}
			var out, log bytes.Buffer
			tc.opts.Out, tc.opts.Log = &out, &log
			ctx := context.Background()
			if tc.cancel > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				time.AfterFunc(tc.cancel, cancel)
			}
			st, err := s.Snoop(ctx, tc.opts)
			if cerr := s.Close(); cerr != nil {
				t.Errorf("close: %v", cerr)
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, wantErr %v\n%s\n%s", err, tc.wantErr, out.String(), log.String())
			}
			assertRunning(t, cmd)
			if tc.opts.Func == "main.Wrok" {
				if !strings.Contains(err.Error(), "did you mean main.Work") {
					t.Errorf("error %v does not suggest main.Work", err)
				}
				return
			}
			got := out.String()
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("no %q in\n%s", w, got)
				}
			}
			if tc.calls > 0 && st.Calls != tc.calls {
				t.Errorf("calls %d, want %d", st.Calls, tc.calls)
			}
			if st.Calls == 0 || st.Hits < 2*st.Calls {
				t.Errorf("stats %+v", st)
			}
			if n := strings.Count(got, " return #"); n != st.Calls {
				t.Errorf("%d returns printed, %d counted", n, st.Calls)
			}
			if !strings.Contains(log.String(), "each hit stops the whole process") || !strings.Contains(log.String(), fmt.Sprintf("%d of %d breakpoints removed", st.Removed, st.Removed)) || st.Removed < 2 {
				t.Errorf("cost statements:\n%s", log.String())
			}
		})
	}
}

// lockedBuffer collects a child's stderr for failure messages.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var (
	dlvOnce sync.Once
	dlvBin  string
	dlvErr  error
)

// stockDlv builds delve's own dlv command from the module cache (the version
// in go.mod), once per test binary.
func stockDlv(t *testing.T) string {
	t.Helper()
	dlvOnce.Do(func() {
		bin := filepath.Join(workDir, "dlv")
		out, err := exec.Command("go", "build", "-o", bin, "github.com/go-delve/delve/cmd/dlv").CombinedOutput()
		if err != nil {
			dlvErr = fmt.Errorf("%v\n%s", err, out)
			return
		}
		dlvBin = bin
	})
	if dlvErr != nil {
		t.Skipf("cannot build dlv from the module cache, so the stock-dlv path is not tested: %v", dlvErr)
	}
	return dlvBin
}

// TestStockDlv loads scripts/leakhunt.star into a stock dlv session, on a
// live process (dlv attach, detached with quit -d) and on a core (dlv core).
// dlv's --init takes a file of dlv commands, not a Starlark file: the init
// file sources the script.
func TestStockDlv(t *testing.T) {
	dlv := stockDlv(t)
	star, err := filepath.Abs("../../scripts/leakhunt.star")
	if err != nil {
		t.Fatal(err)
	}
	initFile := filepath.Join(t.TempDir(), "init")
	if err := os.WriteFile(initFile, []byte("source "+star+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmds := "gbt\ngleaks 0\nheaptop 3\nretainers main.Registry\nhelp gleaks\n"
	check := func(t *testing.T, out string) {
		t.Helper()
		for _, want := range []string{
			"[8] chan receive", "created by main.main",
			"8 goroutines running main.recvForever, created in main.main",
			"main.growCache", "main.Registry keeps 103.9 KiB reachable in 200 objects",
			"Goroutines blocked for at least MIN on a channel, select, mutex or WaitGroup",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("no %q in dlv's output:\n%s", want, out)
			}
		}
		if strings.Contains(out, "Command failed") {
			t.Errorf("a command failed:\n%s", out)
		}
	}
	t.Run("attach", func(t *testing.T) {
		cmd := startFixture(t)
		time.Sleep(100 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		d := exec.CommandContext(ctx, dlv, "attach", strconv.Itoa(cmd.Process.Pid), "--init", initFile, "--allow-non-terminal-interactive")
		d.Stdin = strings.NewReader(cmds + "quit -d\n")
		d.Env = append(os.Environ(), "TERM=dumb", "XDG_CONFIG_HOME="+t.TempDir())
		out, err := d.CombinedOutput()
		if err != nil {
			t.Fatalf("dlv attach: %v\n%s", err, out)
		}
		check(t, string(out))
		assertRunning(t, cmd)
	})
	t.Run("core", func(t *testing.T) {
		core := fixtureCore(t)
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		d := exec.CommandContext(ctx, dlv, "core", fixtureBin, core, "--init", initFile, "--allow-non-terminal-interactive")
		d.Stdin = strings.NewReader(cmds + "quit\n")
		d.Env = append(os.Environ(), "TERM=dumb", "XDG_CONFIG_HOME="+t.TempDir())
		out, err := d.CombinedOutput()
		if err != nil {
			t.Fatalf("dlv core: %v\n%s", err, out)
		}
		check(t, string(out))
	})
}
