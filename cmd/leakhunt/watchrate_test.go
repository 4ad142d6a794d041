package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rateServerSource is the patient of the --memprofilerate tests: a real
// net/http/pprof server on 127.0.0.1 with runtime.MemProfileRate 1. (The
// test binary's own pprofserver cannot serve: go test links it without a
// symbol table.)
const rateServerSource = `package main

import (
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
)

func main() {
	runtime.MemProfileRate = 1
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr())
	http.Serve(ln, nil)
}
`

// rateServer is a running rateServerSource.
type rateServer struct {
	pid  int
	addr string
	cmd  *exec.Cmd
}

// startRateServer builds and starts rateServerSource and waits for its
// address. Nothing waits for it while it runs: a parent's wait would take
// the ptrace stops of the write.
func startRateServer(t *testing.T) *rateServer {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte(rateServerSource), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "rateserver")
	if out, err := exec.Command("go", "build", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("build the rate server: %v\n%s", err, out)
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
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("the rate server did not start: %v", err)
	}
	return &rateServer{pid: cmd.Process.Pid, addr: strings.TrimSpace(line), cmd: cmd}
}

// rate is the runtime.MemProfileRate the server itself sees: runtime/pprof
// prints twice it in the header of heap?debug=1 ("@ heap/2").
func (s *rateServer) rate(t *testing.T) int {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + s.addr + "/debug/pprof/heap?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(body), "\n")
	_, after, ok := strings.Cut(line, "@ heap/")
	n, err := strconv.Atoi(strings.TrimSpace(after))
	if !ok || err != nil {
		t.Fatalf("no rate in the heap profile's header %q", line)
	}
	return n / 2
}

// TestSetTargetRate sets the rate of a real server found by its loopback
// URL, off a terminal (the flag is the consent), and sets it back once.
func TestSetTargetRate(t *testing.T) {
	t.Parallel()
	s := startRateServer(t)
	streams, _, errOut := testStreams()
	restore, err := setTargetRate(context.Background(), streams, "http://"+s.addr, 65536, false)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("set runtime.MemProfileRate of PID %d from 1 to 65536 (target stopped ", s.pid)
	if !strings.HasPrefix(errOut.String(), want) || strings.Count(errOut.String(), "\n") != 1 {
		t.Fatalf("printed %q, want one line starting %q", errOut, want)
	}
	if got := s.rate(t); got != 65536 {
		t.Fatalf("the server sees rate %d, want 65536", got)
	}
	errOut.Reset()
	restore()
	restore()
	want = fmt.Sprintf("set runtime.MemProfileRate of PID %d back from 65536 to 1 (target stopped ", s.pid)
	if !strings.HasPrefix(errOut.String(), want) || strings.Count(errOut.String(), "\n") != 1 {
		t.Fatalf("restore printed %q, want one line starting %q", errOut, want)
	}
	if got := s.rate(t); got != 1 {
		t.Fatalf("the server sees rate %d after the restore, want 1", got)
	}
}

// TestSetTargetRateConsent asks on a terminal and writes nothing unless the
// user says yes; a Ctrl-C at the question writes nothing either.
func TestSetTargetRateConsent(t *testing.T) {
	t.Parallel()
	s := startRateServer(t)
	pid := strconv.Itoa(s.pid)
	for _, answer := range []string{"n\n", "\n", ""} {
		streams, _, errOut := testStreams()
		streams.In = strings.NewReader(answer)
		if _, err := setTargetRate(context.Background(), streams, pid, 65536, true); err != errNoConsent {
			t.Fatalf("answer %q: err = %v", answer, err)
		}
		if !strings.Contains(errOut.String(), "Write into the process? [y/N]") {
			t.Fatalf("answer %q: did not ask: %q", answer, errOut)
		}
		if got := s.rate(t); got != 1 {
			t.Fatalf("answer %q: rate %d, want 1 untouched", answer, got)
		}
	}

	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	streams, _, _ := testStreams()
	streams.In = pr
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := setTargetRate(ctx, streams, pid, 65536, true); !errors.Is(err, context.Canceled) {
		t.Fatalf("Ctrl-C at the question: err = %v", err)
	}
	if got := s.rate(t); got != 1 {
		t.Fatalf("after Ctrl-C: rate %d, want 1 untouched", got)
	}

	streams, _, errOut := testStreams()
	streams.In = strings.NewReader("y\n")
	restore, err := setTargetRate(context.Background(), streams, pid, 65536, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.rate(t); got != 65536 {
		t.Fatalf("after yes: rate %d, want 65536", got)
	}
	// The program exits before the end: nothing to set back, and it says so.
	s.cmd.Process.Kill()
	for st := ""; ; time.Sleep(10 * time.Millisecond) {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.pid))
		if err != nil {
			break
		}
		if _, rest, ok := strings.Cut(string(data), ") "); ok && len(rest) > 0 {
			st = rest[:1]
		}
		if st == "Z" {
			break
		}
	}
	errOut.Reset()
	restore()
	if want := fmt.Sprintf("PID %d has exited", s.pid); !strings.HasPrefix(errOut.String(), want) {
		t.Fatalf("restore after the exit printed %q, want %q...", errOut, want)
	}
}

// TestSetTargetRateErrors checks the one line each bad input gets.
func TestSetTargetRateErrors(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "x.lhsnap")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	free := ln.Addr().String()
	ln.Close()
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, target string
		rate         int
		usage        bool
		want         string
	}{
		{"zero rate", "4242", 0, true, "--memprofilerate must be more than 0, got 0"},
		{"negative rate", "4242", -5, true, "--memprofilerate must be more than 0, got -5"},
		{"remote URL", "http://192.0.2.1:6060", 65536, true, "is not a loopback URL"},
		{"file", file, 65536, true, "is a file"},
		{"nothing listening", "http://" + free, 65536, false, "found no process on this machine listening at"},
		{"no process", strconv.Itoa(gone.Process.Pid), 65536, false, "no process with PID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			streams, _, errOut := testStreams()
			_, err := setTargetRate(context.Background(), streams, tt.target, tt.rate, false)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want one line containing %q", err, tt.want)
			}
			if (exitCode(err) == exitUsage) != tt.usage {
				t.Fatalf("exit code %d for %v", exitCode(err), err)
			}
			if errOut.Len() != 0 {
				t.Fatalf("printed %q besides the error", errOut)
			}
		})
	}
}
