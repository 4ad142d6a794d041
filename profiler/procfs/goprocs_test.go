package procfs

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// fixtureEnv makes the test binary a fixture: a Go program serving
// net/http/pprof on one 127.0.0.1 port and a plain web page on another,
// printing both addresses on its first line.
const fixtureEnv = "LEAKHUNT_PROCFS_FIXTURE"

func TestMain(m *testing.M) {
	if os.Getenv(fixtureEnv) == "serve" {
		os.Exit(serveFixture())
	}
	os.Exit(m.Run())
}

func serveFixture() int {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	pp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	web, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go http.Serve(web, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "<html><body>Types of profiles available? Not here.</body></html>")
	}))
	fmt.Println(pp.Addr(), web.Addr())
	go func() { // exit when the test does
		bufio.NewReader(os.Stdin).ReadString('\n')
		os.Exit(0)
	}()
	http.Serve(pp, mux)
	return 0
}

// startFixture runs the fixture; it returns its PID and the pprof and web
// addresses, and stops it when the test ends.
func startFixture(t *testing.T) (pid int, pprofAddr, webAddr string) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), fixtureEnv+"=serve")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("fixture's addresses: %v", err)
	}
	f := strings.Fields(line)
	if len(f) != 2 {
		t.Fatalf("fixture printed %q", line)
	}
	return cmd.Process.Pid, f[0], f[1]
}

func TestGoProcessesFindsPprof(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc")
	}
	pid, pprofAddr, webAddr := startFixture(t)
	// Not a Go program: must not be listed.
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleep.Process.Kill(); sleep.Wait() })

	procs, err := GoProcesses(context.Background(), GoProcessOptions{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSortedFunc(procs, func(a, b GoProcess) int { return a.PID - b.PID }) {
		t.Error("not sorted by PID")
	}
	var got *GoProcess
	for i, p := range procs {
		switch p.PID {
		case pid:
			got = &procs[i]
		case os.Getpid():
			t.Error("the calling process is listed")
		case sleep.Process.Pid:
			t.Errorf("sleep (not Go) is listed: %+v", p)
		}
	}
	if got == nil {
		t.Fatalf("fixture pid %d not among %d Go processes", pid, len(procs))
	}
	exe, _ := os.Executable()
	if got.Path != exe || got.Program != strings.TrimSuffix(exe[strings.LastIndexByte(exe, '/')+1:], " (deleted)") {
		t.Errorf("path %q program %q, want %q", got.Path, got.Program, exe)
	}
	if got.GoVersion != runtime.Version() {
		t.Errorf("go version %q, want %q", got.GoVersion, runtime.Version())
	}
	if got.RSS == 0 {
		t.Error("no RSS")
	}
	if !slices.Equal(got.Listen, sortedAddrs(pprofAddr, webAddr)) {
		t.Errorf("listen %v, want %s and %s", got.Listen, pprofAddr, webAddr)
	}
	if want := "http://" + pprofAddr + "/debug/pprof/"; got.Pprof != want {
		t.Errorf("pprof %q, want %q (the web page on %s must not count)", got.Pprof, want, webAddr)
	}

	procs, err = GoProcesses(context.Background(), GoProcessOptions{NoProbe: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		if p.Pprof != "" {
			t.Errorf("NoProbe, yet pid %d has pprof %s", p.PID, p.Pprof)
		}
	}
}

func sortedAddrs(a ...string) []string {
	slices.Sort(a)
	return a
}

func TestParseProcAddr(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"0100007F:1F90", "127.0.0.1:8080"},
		{"00000000:0050", "0.0.0.0:80"},
		{"00000000000000000000000000000000:1F90", "[::]:8080"},
		{"00000000000000000000000001000000:0016", "[::1]:22"},
		{"0000000000000000FFFF00000100007F:1F90", "127.0.0.1:8080"}, // v4-mapped
	}
	for _, tt := range tests {
		got, err := parseProcAddr(tt.in)
		if err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		if got.String() != tt.want {
			t.Errorf("parseProcAddr(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
	for _, bad := range []string{"", "0100007F", "zz00007F:0050", "0100007F:zz", "01007F:0050"} {
		if _, err := parseProcAddr(bad); err == nil {
			t.Errorf("parseProcAddr(%q) succeeded", bad)
		}
	}
}

func TestProbeURLs(t *testing.T) {
	tests := []struct {
		listen string
		want   []string
	}{
		{"127.0.0.1:6060", []string{"http://127.0.0.1:6060/debug/pprof/"}},
		{"0.0.0.0:6060", []string{"http://127.0.0.1:6060/debug/pprof/"}},
		{"[::]:6060", []string{"http://127.0.0.1:6060/debug/pprof/", "http://[::1]:6060/debug/pprof/"}},
		{"[::1]:6060", []string{"http://[::1]:6060/debug/pprof/"}},
		{"10.1.2.3:6060", nil}, // not loopback: not probed
	}
	for _, tt := range tests {
		if got := probeURLs(tt.listen); !slices.Equal(got, tt.want) {
			t.Errorf("probeURLs(%s) = %v, want %v", tt.listen, got, tt.want)
		}
	}
	if _, err := netip.ParseAddrPort("[::]:6060"); err != nil {
		t.Fatal(err)
	}
}
