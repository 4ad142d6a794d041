package demo

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func needGo(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command on PATH")
	}
}

// TestEmbeddedSourcesCompile extracts every demo from the embedded sources
// alone into one module and type-checks them all, with and without the
// nopprof tag, with go vet (which compiles but does not link): the embedding
// misses no file a demo needs, and the extracted module stands alone.
func TestEmbeddedSourcesCompile(t *testing.T) {
	needGo(t)
	t.Parallel()
	dir := t.TempDir()
	for _, d := range List() {
		if err := extract(dir, d.Name); err != nil {
			t.Fatal(err)
		}
	}
	for _, tags := range []string{"", "nopprof"} {
		cmd := exec.Command("go", "vet", "-tags", tags, "./...")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-buildvcs=false", "CGO_ENABLED=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("go vet -tags %q ./... in the extracted sources: %v\n%s", tags, err, out)
		}
	}
}

// TestStartServesPprof starts a real demo with -addr 127.0.0.1:0, fetches its
// heap profile, and stops it.
func TestStartServesPprof(t *testing.T) {
	needGo(t)
	t.Parallel()
	ctx := context.Background()
	var out bytes.Buffer
	p, err := Run(ctx, "cache", t.TempDir(), BuildOptions{}, Options{Args: []string{"-addr", "127.0.0.1:0", "-rate", "200"}, Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	if p.PID <= 0 || !strings.HasPrefix(p.URL, "http://127.0.0.1:") || !strings.HasSuffix(p.URL, "/debug/pprof/") {
		t.Fatalf("pid %d, url %q; banner %q", p.PID, p.URL, p.Banner)
	}
	if len(p.Banner) != 4 || p.Banner[0] != "demo: cache (leaky)" || !strings.HasPrefix(p.Banner[2], "leaks: ") {
		t.Errorf("banner %q", p.Banner)
	}
	resp, err := http.Get(p.URL + "heap")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || len(body) < 2 || body[0] != 0x1f || body[1] != 0x8b {
		t.Fatalf("GET %sheap: status %d, %d bytes, want a gzipped profile", p.URL, resp.StatusCode, len(body))
	}
	if err := p.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	if err := syscall.Kill(p.PID, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("pid %d still there after Stop: kill 0 = %v", p.PID, err)
	}
	if p.ExitCode() != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0 (the demo handles it)", p.ExitCode())
	}
}

// TestStartWithoutEndpoint checks a demo serves nothing unless asked, and
// that cancelling the context stops it.
func TestStartWithoutEndpoint(t *testing.T) {
	needGo(t)
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	p, err := Run(ctx, "ranger", t.TempDir(), BuildOptions{}, Options{Args: []string{"-fixed"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.URL != "" || !strings.HasPrefix(p.Banner[3], "pprof: none") || p.Banner[2] != "leaks: nothing (fixed: the producer closes the channel when done)" {
		t.Errorf("url %q, banner %q", p.URL, p.Banner)
	}
	cancel()
	select {
	case <-p.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the demo did not stop when its context was cancelled")
	}
	if err := p.Wait(); err != nil {
		t.Errorf("wait: %v", err)
	}
}

// TestMemProfileRate builds a demo with and without the nopprof tag and asks
// each binary for its runtime.MemProfileRate: the linker turns the memory
// profiler off only in the binary that never references runtime/pprof.
func TestMemProfileRate(t *testing.T) {
	needGo(t)
	t.Parallel()
	for _, tt := range []struct {
		tags []string
		want string
	}{
		{nil, "memprofilerate 524288"},
		{[]string{"nopprof"}, "memprofilerate 0"},
	} {
		bin, err := Build(context.Background(), "eventlog", t.TempDir(), BuildOptions{Tags: tt.tags})
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bin, "-print-memprofilerate").Output()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(out)); got != tt.want {
			t.Errorf("tags %v: %q, want %q", tt.tags, got, tt.want)
		}
		if tt.tags != nil {
			_, err := Start(context.Background(), bin, Options{Args: []string{"-addr", "127.0.0.1:0"}})
			if err == nil || !strings.Contains(err.Error(), "built with -tags nopprof") {
				t.Errorf("nopprof build with -addr: err = %v, want it refused", err)
			}
		}
	}
}

func TestBuildErrors(t *testing.T) {
	if _, err := Build(context.Background(), "nope", t.TempDir(), BuildOptions{}); err == nil || !strings.Contains(err.Error(), `no demo called "nope" (demos: cache, `) {
		t.Errorf("unknown demo: %v", err)
	}
	t.Setenv("PATH", t.TempDir())
	if _, err := Build(context.Background(), "cache", t.TempDir(), BuildOptions{}); !errors.Is(err, ErrNoGo) {
		t.Errorf("no go on PATH: %v", err)
	}
}

func TestStartBadFlag(t *testing.T) {
	needGo(t)
	t.Parallel()
	bin, err := Build(context.Background(), "pool", t.TempDir(), BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Start(context.Background(), bin, Options{Args: []string{"-rate", "0"}})
	if err == nil || !strings.Contains(err.Error(), "-rate must be more than 0") {
		t.Errorf("err = %v, want the demo's own complaint", err)
	}
}

// TestBuildRelativeDir builds into a directory given relative to the
// current one, as `leakhunt demo run --dir kept` does.
func TestBuildRelativeDir(t *testing.T) {
	needGo(t)
	t.Chdir(t.TempDir())
	if err := os.Mkdir("kept", 0o755); err != nil {
		t.Fatal(err)
	}
	bin, err := Build(context.Background(), "pool", "kept", BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-print-memprofilerate").Output()
	if err != nil || !strings.HasPrefix(string(out), "memprofilerate ") {
		t.Fatalf("%s -print-memprofilerate: %q, %v", bin, out, err)
	}
	if _, err := os.Stat("kept/src/leakdemo/pool/main.go"); err != nil {
		t.Errorf("the sources are not kept next to the binary: %v", err)
	}
}
