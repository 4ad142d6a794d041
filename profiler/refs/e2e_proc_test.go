//go:build linux && amd64

package refs_test

import (
	"bufio"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/leakhunt/leakhunt/profiler/refs/testdata/progs/expect"
)

// readCoreUint32 reads the uint32 variable sym of exe from a core file (exe
// is not position-independent: its symbols are the addresses).
func readCoreUint32(core, exe, sym string) (uint32, error) {
	ef, err := elf.Open(exe)
	if err != nil {
		return 0, err
	}
	defer ef.Close()
	syms, err := ef.Symbols()
	if err != nil {
		return 0, fmt.Errorf("symbols of %s: %w", exe, err)
	}
	var addr uint64
	for _, s := range syms {
		if s.Name == sym {
			addr = s.Value
		}
	}
	if addr == 0 {
		return 0, fmt.Errorf("%s has no symbol %s", exe, sym)
	}
	cf, err := elf.Open(core)
	if err != nil {
		return 0, err
	}
	defer cf.Close()
	for _, p := range cf.Progs {
		if p.Type == elf.PT_LOAD && addr >= p.Vaddr && addr+4 <= p.Vaddr+p.Filesz {
			var b [4]byte
			if _, err := p.ReadAt(b[:], int64(addr-p.Vaddr)); err != nil {
				return 0, fmt.Errorf("read %s from %s: %w", sym, core, err)
			}
			return binary.LittleEndian.Uint32(b[:]), nil
		}
	}
	return 0, fmt.Errorf("the core %s does not hold %s (%#x)", core, sym, addr)
}

// proc is a running test program.
type proc struct {
	pid    int
	want   *expect.Expect
	stderr *syncBuffer
	done   chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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

// start runs a program and reads its ready line. It is killed when the
// test ends.
func start(t *testing.T, bin string) *proc {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.pid = cmd.Process.Pid
	// Nothing may sit in cmd.Wait while the test attaches: the program is
	// our child, and a parent's wait would take its ptrace stops. Poll for
	// the zombie instead.
	go func() {
		for {
			if st := procState(p.pid); st == "" || st == "Z" || st == "X" {
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
	lines := make(chan string, 1)
	br := bufio.NewReader(stdout)
	go func() {
		s, _ := br.ReadString('\n')
		lines <- s
		io.Copy(io.Discard, br)
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(60 * time.Second):
		t.Fatalf("%s printed no ready line; stderr: %s", bin, p.stderr)
	}
	js, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
	if !ok {
		t.Fatalf("%s printed %q; stderr: %s", bin, line, p.stderr)
	}
	p.want = &expect.Expect{}
	if err := json.Unmarshal([]byte(js), p.want); err != nil {
		t.Fatalf("%s: bad ready line: %v", bin, err)
	}
	return p
}

// procState is the state letter of process pid ("" when it is gone).
func procState(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(data)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2 : i+3]
	}
	return ""
}

// assertRunning checks that the program still runs, traced by nobody, with
// none of its threads stopped.
func (p *proc) assertRunning(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		t.Fatalf("process %d exited; stderr: %s", p.pid, p.stderr)
	default:
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid))
	if err != nil {
		t.Fatalf("process %d: %v", p.pid, err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "TracerPid:"); ok && strings.TrimSpace(v) != "0" {
			t.Fatalf("process %d is still traced by %s", p.pid, strings.TrimSpace(v))
		}
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", p.pid))
	if err != nil {
		t.Fatalf("process %d: %v", p.pid, err)
	}
	for _, d := range tasks {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", p.pid, d.Name()))
		if err != nil {
			continue
		}
		s := string(data)
		if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
			if st := s[i+2 : i+3]; st == "t" || st == "T" {
				t.Fatalf("thread %s of process %d is stopped (state %s)", d.Name(), p.pid, st)
			}
		}
	}
}
