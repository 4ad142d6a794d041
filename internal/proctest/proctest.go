// Package proctest is what the tests of leakhunt's process starters share:
// whether a process still runs, and the check that a program started by a
// process does not outlive it when that process is killed with SIGKILL.
package proctest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Alive reports whether pid is a process that has not exited (a zombie
// waiting for its new parent to reap it has exited).
func Alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}

// DiesWithParent runs the test binary again as a parent, with env (KEY=VALUE)
// added to its environment: the test binary's init, seeing env, starts the
// program under test, prints "child PID" and waits. DiesWithParent checks
// that the program runs while the parent lives, kills the parent with
// SIGKILL (which gives it no chance to stop the program) and fails the test
// unless the program ends within 30 s. what names the program in messages.
func DiesWithParent(t *testing.T, env, what string) {
	t.Helper()
	parent := exec.Command(os.Args[0], "-test.run=^$")
	parent.Env = append(os.Environ(), env)
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	parent.Stderr = os.Stderr
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	defer parent.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("the parent printed no PID of %s: %v", what, err)
	}
	pid, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(line), "child "))
	if err != nil {
		t.Fatalf("the parent said %q", line)
	}
	t.Cleanup(func() {
		if Alive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if !Alive(pid) {
		t.Fatalf("%s %d is not running before its parent is killed", what, pid)
	}
	// The program keeps running while its parent lives, even after the
	// parent's goroutines and threads came and went.
	time.Sleep(300 * time.Millisecond)
	if !Alive(pid) {
		t.Fatalf("%s %d died while its parent was running", what, pid)
	}
	if err := parent.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	parent.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for Alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("%s %d still runs 30 s after its parent was killed with SIGKILL", what, pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
