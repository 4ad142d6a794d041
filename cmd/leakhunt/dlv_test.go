package main

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
	"syscall"
	"testing"
	"time"
)

// The tests below run the real leakhunt (this test binary, run as
// "leakhunt" through testscript.Main) against a real process: the fixture
// of profiler/dlvscript, which parks goroutines and calls main.Work every
// 50 ms.

type dlvPatient struct {
	cmd    *exec.Cmd
	bin    string
	stderr *syncBuf
	exited chan struct{}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startDlvPatient(t *testing.T) *dlvPatient {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fixture")
	if out, err := exec.Command("go", "build", "-gcflags=-N -l", "-o", bin, "../../profiler/dlvscript/testdata/fixture").CombinedOutput(); err != nil {
		t.Fatalf("build fixture: %v\n%s", err, out)
	}
	p := &dlvPatient{cmd: exec.Command(bin), bin: bin, stderr: &syncBuf{}, exited: make(chan struct{})}
	p.cmd.Stderr = p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.exited })
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("fixture did not start: %q %v", line, err)
	}
	return p
}

// assertAlive checks the patient is running, not stopped, not traced, and
// survives 400 ms of calling main.Work (about 8 calls): a breakpoint left
// behind would kill it with SIGTRAP.
func (p *dlvPatient) assertAlive(t *testing.T) {
	t.Helper()
	select {
	case <-p.exited:
		t.Fatalf("the target died: %v\n%s", p.cmd.ProcessState, p.stderr.String())
	case <-time.After(400 * time.Millisecond):
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?m)^State:\s+(\S)`).FindSubmatch(data); m == nil || strings.ContainsAny(string(m[1]), "tTZ") {
		t.Fatalf("the target is not running:\n%s", data)
	}
	if !regexp.MustCompile(`(?m)^TracerPid:\s+0$`).Match(data) {
		t.Fatalf("the target is still traced:\n%s", data)
	}
}

// leakhuntCmd runs this test binary as leakhunt.
func leakhuntCmd(ctx context.Context, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, os.Args[0])
	c.Args = append([]string{"leakhunt"}, args...)
	c.Env = append(os.Environ(), "TERM=dumb", "XDG_CONFIG_HOME="+os.TempDir())
	return c
}

func TestDlvTerminalCLI(t *testing.T) {
	t.Parallel()
	p := startDlvPatient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := leakhuntCmd(ctx, "dlv", strconv.Itoa(p.cmd.Process.Pid))
	c.Stdin = strings.NewReader("gbt\ngoroutines\ngleaks 0\nquit\n")
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Run(); err != nil {
		t.Fatalf("leakhunt dlv: %v\n%s\n%s", err, out.String(), errb.String())
	}
	for _, want := range []string{"[8] chan receive", "Goroutine 1 - User:", "8 goroutines running main.recvForever"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in\n%s", want, out.String())
		}
	}
	for _, want := range []string{"leakhunt commands: gbt, gbt_full, gleaks, heaptop, gsource, retainers", "removed delve's unrecovered-panic and runtime-fatal-throw breakpoints"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("no %q in stderr\n%s", want, errb.String())
		}
	}
	if strings.Contains(out.String()+errb.String(), "kill the process") {
		t.Errorf("asked to kill the process")
	}
	p.assertAlive(t)
}

func TestScriptCLI(t *testing.T) {
	t.Parallel()
	p := startDlvPatient(t)
	dir := t.TempDir()
	write := func(name, src string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	report := write("report.star", "def main(min):\n    gleaks(min)\n    heaptop(3)\n")
	core := filepath.Join(dir, "fixture.core")
	dump := write("dump.star", fmt.Sprintf("dlv_command(%q)\n", "dump "+core))
	pid := strconv.Itoa(p.cmd.Process.Pid)
	run := func(args ...string) (string, string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		var out, errb bytes.Buffer
		c := leakhuntCmd(ctx, args...)
		c.Stdout, c.Stderr = &out, &errb
		err := c.Run()
		return out.String(), errb.String(), err
	}
	out, errs, err := run("script", pid, report, "0", "-v")
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, out, errs)
	}
	if !strings.Contains(out, "8 goroutines running main.recvForever") || !strings.Contains(out, "main.growCache") || !strings.Contains(errs, "target stopped ") {
		t.Errorf("script output:\n%s\n%s", out, errs)
	}
	if _, errs, err := run("script", pid, dump); err != nil {
		t.Fatalf("dump: %v\n%s", err, errs)
	}
	p.assertAlive(t)
	out, errs, err = run("script", "core:"+core, "--exe", p.bin, report, "0")
	if err != nil || !strings.Contains(out, "8 goroutines running main.recvForever") {
		t.Errorf("script on the core: %v\n%s\n%s", err, out, errs)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"script", pid, filepath.Join(dir, "nosuch.star")}, "no such file"},
		{[]string{"script", "http://127.0.0.1:1", report}, "is not a PID or core:FILE"},
		{[]string{"script", "core:" + core, report}, "does not name its executable: give it with --exe"},
		{[]string{"script", pid, write("bad.star", "x = 1\nx = x + \"a\"\n")}, "bad.star:2:"},
	} {
		_, errs, err := run(tc.args...)
		if err == nil || !strings.Contains(errs, tc.want) || strings.Count(strings.TrimSpace(errs), "\n") > 1 {
			t.Errorf("%v: err %v, stderr %q, want one line with %q", tc.args, err, errs, tc.want)
		}
	}
	p.assertAlive(t)
}

func TestSnoopCLI(t *testing.T) {
	t.Parallel()
	p := startDlvPatient(t)
	pid := strconv.Itoa(p.cmd.Process.Pid)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	c := leakhuntCmd(ctx, "snoop", pid, "--func", "main.Work", "--max-calls", "2", "--watch", "label")
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Run(); err != nil {
		t.Fatalf("%v\n%s\n%s", err, out.String(), errb.String())
	}
	if n := strings.Count(out.String(), " return #"); n != 2 || !strings.Contains(out.String(), `watch label = "tick"`) {
		t.Errorf("want 2 returns and the watch:\n%s", out.String())
	}
	if !strings.Contains(errb.String(), "each hit stops the whole process") || !strings.Contains(errb.String(), "3 of 3 breakpoints removed") {
		t.Errorf("cost statements:\n%s", errb.String())
	}
	p.assertAlive(t)

	// SIGTERM to leakhunt mid-run: relayed to the tracer, which cleans up.
	out.Reset()
	errb.Reset()
	c = leakhuntCmd(ctx, "snoop", pid, "--func", "main.Work", "--duration", "1m")
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, &out, "call #1 ")
	c.Process.Signal(syscall.SIGTERM)
	c.Wait()
	if !strings.Contains(errb.String(), "3 of 3 breakpoints removed") {
		t.Errorf("SIGTERM: no cleanup statement:\n%s", errb.String())
	}
	p.assertAlive(t)
}

// TestSnoopSurvivesSIGKILL kills leakhunt with SIGKILL while its breakpoints
// are in the target. The tracer child notices its parent's death, removes
// them and detaches: the target goes on calling main.Work and lives.
// (With --no-guard, the same kill leaves the INT3s and the target dies of
// SIGTRAP at its next call, which is why the tracer is a separate process.)
func TestSnoopSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	p := startDlvPatient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb syncBuf
	c := leakhuntCmd(ctx, "snoop", strconv.Itoa(p.cmd.Process.Pid), "--func", "main.Work", "--duration", "1m")
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, &out, "call #2 ")
	if err := c.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	c.Wait()
	// The tracer's cleanup statement arrives on the shared stderr.
	waitFor(t, &errb, "3 of 3 breakpoints removed")
	p.assertAlive(t)
	if strings.Contains(p.stderr.String(), "SIGTRAP") {
		t.Fatalf("the target got a SIGTRAP:\n%s", p.stderr.String())
	}
}

func waitFor(t *testing.T, w interface{ String() string }, s string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(w.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q within 60s in\n%s", s, w.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDlvKilledLeavesCrashPathClean kills `leakhunt dlv` with SIGKILL while
// it is attached (the kernel detaches), then makes the target panic: its own
// panic message and goroutine dump must appear, not a bare SIGTRAP from a
// breakpoint delve planted in the runtime's crash path.
func TestDlvKilledLeavesCrashPathClean(t *testing.T) {
	t.Parallel()
	p := startDlvPatient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := leakhuntCmd(ctx, "dlv", strconv.Itoa(p.cmd.Process.Pid))
	stdin, err := c.StdinPipe() // kept open: the terminal waits at its prompt
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	var out, errb syncBuf
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	io := "gbt\n"
	stdin.Write([]byte(io))
	waitFor(t, &out, "[8] chan receive")
	c.Process.Kill()
	c.Wait()
	p.assertAlive(t)
	if err := p.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the target did not panic on SIGUSR2")
	}
	if got := p.stderr.String(); !strings.Contains(got, "panic: fixture: panic on SIGUSR2") || !strings.Contains(got, "goroutine ") || strings.Contains(got, "SIGTRAP") {
		t.Fatalf("the target's crash output:\n%s", got)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 2 {
		t.Fatalf("exit code %d, want 2 (a Go panic): %v", code, p.cmd.ProcessState)
	}
}
