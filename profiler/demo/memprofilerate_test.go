package demo

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/leakhunt/leakhunt/profiler/watch"
)

// heapHeader is the first line of /debug/pprof/heap?debug=1, which runtime/pprof
// writes with twice the program's runtime.MemProfileRate.
var heapHeader = regexp.MustCompile(`^heap profile: .* @ heap/([0-9]+)`)

// servedMemProfileRate asks a running demo's pprof endpoint for the
// runtime.MemProfileRate it runs at.
func servedMemProfileRate(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url + "heap?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(body), "\n")
	m := heapHeader.FindStringSubmatch(first)
	if m == nil {
		t.Fatalf("%sheap?debug=1 begins %q, not a heap profile", url, first)
	}
	n, _ := strconv.Atoi(m[1])
	return n / 2
}

// TestStartMemProfileRate starts a real demo the way hunt --demo does, with
// an environment from watch.WithMemProfileRate, and asks the running demo's
// own pprof endpoint which sampling rate its runtime took: leakhunt's
// 64 KiB, the runtime's 512 KiB when leakhunt adds nothing, and the user's
// GODEBUG when it sets one. A demo built with -tags nopprof stays at 0
// whatever GODEBUG says: the linker turned its memory profiler off.
func TestStartMemProfileRate(t *testing.T) {
	needGo(t)
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	bin, err := Build(ctx, "cache", dir, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	base := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GODEBUG=") })
	for _, tt := range []struct {
		name string
		env  []string
		want int
	}{
		{"leakhunt's rate", watch.WithMemProfileRate(base, watch.DefaultMemProfileRate), 65536},
		{"nothing added", watch.WithMemProfileRate(base, 0), 524288},
		{"the user's GODEBUG", watch.WithMemProfileRate(append(slices.Clone(base), "GODEBUG=memprofilerate=1024"), watch.DefaultMemProfileRate), 1024},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := Start(ctx, bin, Options{Args: []string{"-addr", "127.0.0.1:0", "-no-churn"}, Env: tt.env})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Stop()
			if got := servedMemProfileRate(t, p.URL); got != tt.want {
				t.Errorf("the demo runs at runtime.MemProfileRate %d, want %d", got, tt.want)
			}
		})
	}
	t.Run("nopprof", func(t *testing.T) {
		t.Parallel()
		bin, err := Build(ctx, "cache", t.TempDir(), BuildOptions{Tags: []string{"nopprof"}})
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-print-memprofilerate")
		cmd.Env = watch.WithMemProfileRate(base, watch.DefaultMemProfileRate)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.TrimSpace(string(out)), fmt.Sprintf("memprofilerate %d", 0); got != want {
			t.Errorf("nopprof demo with GODEBUG=memprofilerate=65536: %q, want %q", got, want)
		}
	})
}

// TestStartMemProfileRateGo127 is the same for a demo built by Go 1.27: the
// runtime of both supported Go versions takes the rate from GODEBUG.
func TestStartMemProfileRateGo127(t *testing.T) {
	needGo(t)
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "cache")
	cmd := exec.Command("go", "build", "-o", bin, "../../leakdemo/cache")
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=go1.27.3", "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("the Go 1.27 toolchain (GOTOOLCHAIN=go1.27.3) could not build the demo: %v: %s", err, out)
	}
	base := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GODEBUG=") })
	p, err := Start(context.Background(), bin, Options{Args: []string{"-addr", "127.0.0.1:0", "-no-churn"},
		Env: watch.WithMemProfileRate(base, watch.DefaultMemProfileRate)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	if got := servedMemProfileRate(t, p.URL); got != watch.DefaultMemProfileRate {
		t.Errorf("the Go 1.27 demo runs at runtime.MemProfileRate %d, want %d", got, watch.DefaultMemProfileRate)
	}
	if v, err := exec.Command("go", "version", bin).Output(); err != nil || !strings.Contains(string(v), "go1.27") {
		t.Errorf("the demo was not built by Go 1.27: %s %v", v, err)
	}
}
