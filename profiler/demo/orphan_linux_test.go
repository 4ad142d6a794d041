package demo

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// orphanEnv makes the test binary the parent of a demo (the binary named by
// the variable): it starts the demo, prints its PID and waits to be killed.
const orphanEnv = "LEAKHUNT_DEMO_TEST_PARENT"

func init() {
	bin := os.Getenv(orphanEnv)
	if bin == "" {
		return
	}
	p, err := Start(context.Background(), bin, Options{Stdout: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("child %d\n", p.PID)
	select {}
}

func procAlive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}

// TestDemoDiesWithLeakhunt kills the process that started a demo with
// SIGKILL, which gives it no chance to call Stop (a hunt --demo killed
// that way), and checks that the demo does not outlive it.
func TestDemoDiesWithLeakhunt(t *testing.T) {
	needGo(t)
	t.Parallel()
	bin, err := Build(context.Background(), "sender", t.TempDir(), BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	parent := exec.Command(os.Args[0], "-test.run=^$")
	parent.Env = append(os.Environ(), orphanEnv+"="+bin)
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
		t.Fatalf("the parent printed no demo PID: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(line), "child "))
	if err != nil {
		t.Fatalf("the parent said %q", line)
	}
	t.Cleanup(func() {
		if procAlive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	time.Sleep(300 * time.Millisecond)
	if !procAlive(pid) {
		t.Fatalf("the demo %d died while its parent was running", pid)
	}
	if err := parent.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	parent.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for procAlive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the demo %d still runs 30 s after its parent was killed with SIGKILL", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
