//go:build linux && amd64

package source

import (
	"bufio"
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/leakhunt/leakhunt/profiler/attach"
	"github.com/leakhunt/leakhunt/profiler/heapgraph"
)

// TestGraphPIDAndCore walks a real process's heap through its PID and
// through a core of it.
func TestGraphPIDAndCore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "graph")
	if out, err := exec.Command("go", "build", "-o", bin, "../attach/testdata/graph").CombinedOutput(); err != nil {
		t.Fatalf("build: %v: %s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// No goroutine waits on the child while it is attached: a parent's wait
	// would take its ptrace stops.
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || !strings.HasPrefix(line, "ready ") {
		t.Fatalf("target said %q: %v", line, err)
	}
	count := func(g *heapgraph.Graph) int {
		n := 0
		for _, ty := range g.Type {
			if g.Types[ty].Name == "main.node" {
				n++
			}
		}
		return n
	}
	tg, err := Parse(strconv.Itoa(cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	g, gc, err := Graph(context.Background(), tg, GraphOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := count(g); n != 102 || gc.Target.PID != cmd.Process.Pid || gc.Stopped <= 0 {
		t.Errorf("from the PID: %d main.node objects (want 102), target %d, stopped %v", n, gc.Target.PID, gc.Stopped)
	}
	core := filepath.Join(dir, "core")
	if _, err := attach.WriteCore(context.Background(), cmd.Process.Pid, core, false); err != nil {
		t.Fatal(err)
	}
	tg, err = Parse("core:" + core)
	if err != nil {
		t.Fatal(err)
	}
	g, _, err = Graph(context.Background(), tg, GraphOptions{Exe: bin})
	if err != nil {
		t.Fatal(err)
	}
	if n := count(g); n != 102 {
		t.Errorf("from the core: %d main.node objects, want 102", n)
	}
}
