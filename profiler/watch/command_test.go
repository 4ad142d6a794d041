package watch_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/leakhunt/leakhunt/profiler/watch"
)

// parentEnv makes the test binary play leakhunt: start a program with
// watch.Start, print its PID, and wait to be killed.
const parentEnv = "LEAKHUNT_WATCH_TEST_PARENT"

func beParent() {
	c, err := watch.Start([]string{"sleep", "600"}, io.Discard)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	// Let the runtime end idle threads if it wants to: the program must
	// outlive the thread that started it, only not the process.
	runtime.GC()
	fmt.Println("child", c.PID())
	select {}
}

// alive reports whether pid is a process that has not exited (a zombie
// waiting for its new parent to reap it has exited).
func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}

// TestStartedProgramDiesWithLeakhunt kills the process that started a
// program with SIGKILL, which gives it no chance to call Stop, and checks
// that the program does not outlive it.
func TestStartedProgramDiesWithLeakhunt(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the parent-death signal is Linux's")
	}
	t.Parallel()
	parent := exec.Command(os.Args[0], "-test.run=^$")
	parent.Env = append(os.Environ(), parentEnv+"=1")
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
		t.Fatalf("the parent printed no child PID: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(line), "child "))
	if err != nil {
		t.Fatalf("the parent said %q", line)
	}
	t.Cleanup(func() {
		if alive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if !alive(pid) {
		t.Fatalf("the started program %d is not running before its parent is killed", pid)
	}
	// The program keeps running while its parent lives, even after the
	// parent's goroutines and threads came and went.
	time.Sleep(300 * time.Millisecond)
	if !alive(pid) {
		t.Fatalf("the started program %d died while its parent was running", pid)
	}
	if err := parent.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	parent.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the started program %d still runs 30 s after its parent was killed with SIGKILL", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
