package watch_test

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leakhunt/leakhunt/profiler/watch"
)

// childEnv makes the test binary play a started program: "printrate" prints
// runtime.MemProfileRate and exits; "alloc WORKLOAD N" runs an allocation
// workload (memprofilerate_bench_test.go). It is handled in init, before the
// testing package sets anything.
const childEnv = "LEAKHUNT_WATCH_TEST_CHILD"

func init() {
	switch v := os.Getenv(childEnv); {
	case v == "":
	case v == "printrate":
		fmt.Printf("memprofilerate %d\n", runtime.MemProfileRate)
		os.Exit(0)
	case strings.HasPrefix(v, "alloc "):
		os.Exit(allocChild(strings.Fields(v)[1:]))
	default:
		fmt.Fprintf(os.Stderr, "%s=%q: want printrate or alloc WORKLOAD N\n", childEnv, v)
		os.Exit(2)
	}
}

func TestWithMemProfileRate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		env  []string
		rate int
		want []string
	}{
		{"no GODEBUG", []string{"HOME=/h"}, 65536, []string{"HOME=/h", "GODEBUG=memprofilerate=65536"}},
		{"other settings", []string{"GODEBUG=gctrace=1", "HOME=/h"}, 65536, []string{"GODEBUG=gctrace=1,memprofilerate=65536", "HOME=/h"}},
		{"trailing comma", []string{"GODEBUG=gctrace=1,"}, 4096, []string{"GODEBUG=gctrace=1,memprofilerate=4096"}},
		{"empty GODEBUG", []string{"GODEBUG="}, 65536, []string{"GODEBUG=memprofilerate=65536"}},
		{"the user's rate wins", []string{"GODEBUG=gctrace=1,memprofilerate=1024"}, 65536, []string{"GODEBUG=gctrace=1,memprofilerate=1024"}},
		{"the user's rate 0 wins", []string{"GODEBUG=memprofilerate=0"}, 65536, []string{"GODEBUG=memprofilerate=0"}},
		{"rate 0 adds nothing", []string{"GODEBUG=gctrace=1"}, 0, []string{"GODEBUG=gctrace=1"}},
		{"negative rate adds nothing", nil, -1, nil},
		// exec.Cmd passes the last of duplicated variables on.
		{"duplicated GODEBUG", []string{"GODEBUG=memprofilerate=1", "GODEBUG=gctrace=1"}, 65536, []string{"GODEBUG=memprofilerate=1", "GODEBUG=gctrace=1,memprofilerate=65536"}},
		{"a key that only ends like it", []string{"GODEBUG=xmemprofilerate=1"}, 512, []string{"GODEBUG=xmemprofilerate=1,memprofilerate=512"}},
		{"nil env", nil, 65536, []string{"GODEBUG=memprofilerate=65536"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.env)
			got := watch.WithMemProfileRate(tt.env, tt.rate)
			if !slices.Equal(got, tt.want) {
				t.Errorf("WithMemProfileRate(%q, %d) = %q, want %q", in, tt.rate, got, tt.want)
			}
			if !slices.Equal(tt.env, in) {
				t.Errorf("WithMemProfileRate changed its argument: %q, was %q", tt.env, in)
			}
		})
	}
}

func TestGODEBUGMemProfileRate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		env  []string
		want string
		ok   bool
	}{
		{nil, "", false},
		{[]string{"GODEBUG=gctrace=1"}, "", false},
		{[]string{"GODEBUG=memprofilerate=1024"}, "1024", true},
		{[]string{"GODEBUG=memprofilerate=1,gctrace=1,memprofilerate=2"}, "2", true},
		{[]string{"GODEBUG=memprofilerate=1", "GODEBUG=gctrace=1"}, "", false},
		{[]string{"XGODEBUG=memprofilerate=1"}, "", false},
	} {
		got, ok := watch.GODEBUGMemProfileRate(tt.env)
		if got != tt.want || ok != tt.ok {
			t.Errorf("GODEBUGMemProfileRate(%q) = %q, %v; want %q, %v", tt.env, got, ok, tt.want, tt.ok)
		}
	}
}

// envWithout is the test's environment without GODEBUG, so that the one
// the runner may have set does not decide the outcome.
func envWithout() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GODEBUG=") })
}

// TestStartMemProfileRate starts a real Go program (this test binary, which
// prints the runtime.MemProfileRate it started with) through StartWith, and
// checks the rate the program's runtime really took.
func TestStartMemProfileRate(t *testing.T) {
	t.Parallel()
	base := append(envWithout(), childEnv+"=printrate")
	for _, tt := range []struct {
		name string
		env  []string
		rate int
		want int
	}{
		{"leakhunt's default", base, watch.DefaultMemProfileRate, 65536},
		{"0 keeps the runtime's", base, 0, watch.RuntimeMemProfileRate},
		{"the user's GODEBUG wins", append(slices.Clone(base), "GODEBUG=memprofilerate=1024"), watch.DefaultMemProfileRate, 1024},
		{"next to other settings", append(slices.Clone(base), "GODEBUG=gctrace=0"), 8192, 8192},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got, want := printed(t, watch.StartOptions{Env: tt.env, MemProfileRate: tt.rate}), fmt.Sprintf("memprofilerate %d", tt.want); got != want {
				t.Errorf("the program printed %q, want %q", got, want)
			}
		})
	}
}

// TestStartInheritsEnvironment checks that a nil Env with a rate gives the
// program leakhunt's own environment plus the rate, not an empty one.
func TestStartInheritsEnvironment(t *testing.T) {
	t.Setenv(childEnv, "printrate")
	t.Setenv("GODEBUG", "gctrace=0")
	if got := printed(t, watch.StartOptions{MemProfileRate: 4096}); got != "memprofilerate 4096" {
		t.Errorf("the program printed %q, want memprofilerate 4096", got)
	}
}

// printed starts this test binary as the program (it prints its
// runtime.MemProfileRate and exits) with opts, and returns what it printed.
func printed(t *testing.T, opts watch.StartOptions) string {
	t.Helper()
	var out syncBuffer
	c, err := watch.StartWith([]string{os.Args[0]}, &out, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	select {
	case <-c.Done():
	case <-time.After(time.Minute):
		t.Fatalf("the program has not exited after a minute; it printed %q", out.String())
	}
	return strings.TrimSpace(out.String())
}

// syncBuffer is a bytes.Buffer safe for the writer goroutines of a Child
// and the test reading it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
