package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestDemoRunFlags(t *testing.T) {
	tests := []struct {
		args    []string
		want    DemoRunOptions
		wantErr string
	}{
		{args: []string{"cache"}, want: DemoRunOptions{Name: "cache", Args: []string{}}},
		{args: []string{"cache", "-fixed", "-rate", "5", "-addr", "127.0.0.1:0"},
			want: DemoRunOptions{Name: "cache", Args: []string{"-fixed", "-rate", "5", "-addr", "127.0.0.1:0"}}},
		{args: []string{"--dir", "/tmp/d", "--tags", "nopprof", "--race", "race", "-fixed"},
			want: DemoRunOptions{Name: "race", Args: []string{"-fixed"}, Dir: "/tmp/d", Tags: []string{"nopprof"}, Race: true}},
		// Flags after NAME are the demo's, even ones leakhunt also knows.
		{args: []string{"sender", "--race", "--dir", "x"}, want: DemoRunOptions{Name: "sender", Args: []string{"--race", "--dir", "x"}}},
		{args: []string{"cache", "--", "-fixed"}, want: DemoRunOptions{Name: "cache", Args: []string{"-fixed"}}},
		{args: []string{"--", "cache", "-fixed"}, want: DemoRunOptions{Name: "cache", Args: []string{"-fixed"}}},
		{args: []string{}, wantErr: "demo run needs a demo NAME"},
		{args: []string{"nope"}, wantErr: `no demo called "nope" (demos: cache, subslice,`},
		{args: []string{"--nope", "cache"}, wantErr: "unknown flag: --nope"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got := parseFlags(t, NewCmdDemoRun, tt.wantErr, tt.args...)
			if got == nil {
				return
			}
			if got.Name != tt.want.Name || !slices.Equal(got.Args, tt.want.Args) || got.Dir != tt.want.Dir ||
				!slices.Equal(got.Tags, tt.want.Tags) || got.Race != tt.want.Race {
				t.Errorf("options %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestDemoList(t *testing.T) {
	io, out, _ := testStreams()
	if err := execute(NewCmdDemo(newFactory(io)), "list"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 13 || !strings.HasPrefix(lines[0], "cache ") || !strings.Contains(lines[0], " leaky ") {
		t.Errorf("demo list:\n%s", out)
	}
	io, out, _ = testStreams()
	if err := execute(NewCmdDemo(newFactory(io)), "list", "--json"); err != nil {
		t.Fatal(err)
	}
	var demos []struct{ Name, Kind, Summary string }
	if err := json.Unmarshal(out.Bytes(), &demos); err != nil || len(demos) != len(lines) {
		t.Errorf("demo list --json: %v\n%s", err, out)
	}
	io, _, _ = testStreams()
	if err := execute(NewCmdDemo(newFactory(io)), "list", "x"); exitCode(err) != exitUsage {
		t.Errorf("demo list x: %v, want a usage error", err)
	}
}

// syncBuffer is a bytes.Buffer safe for the demo's output goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
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

// TestDemoRun runs a real demo in the foreground, reaches its pprof endpoint
// from the printed banner, and stops it as Ctrl-C would.
func TestDemoRun(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command on PATH")
	}
	var out, errOut syncBuffer
	streams := &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- demoRunRun(ctx, &DemoRunOptions{IO: streams, Name: "eventlog", Args: []string{"-addr", "127.0.0.1:0"}})
	}()
	var url string
	for deadline := time.Now().Add(2 * time.Minute); url == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, l := range strings.Split(out.String(), "\n") {
			if u, ok := strings.CutPrefix(l, "pprof: "); ok {
				url = u
			}
		}
		select {
		case err := <-done:
			t.Fatalf("demo run returned early: %v\nstderr: %s", err, errOut.String())
		default:
		}
	}
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("no pprof URL in the output:\n%s\nstderr: %s", out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "\npid ") {
		t.Errorf("no pid line in the output:\n%s", out.String())
	}
	resp, err := http.Get(url + "heap?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(body, []byte("heap profile:")) {
		t.Errorf("GET %sheap?debug=1: %.100s", url, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("demo run after Ctrl-C: %v", err)
	}
	if !strings.Contains(errOut.String(), "stopped demo eventlog") {
		t.Errorf("stderr: %s", errOut.String())
	}
	if _, err := http.Get(url); err == nil {
		t.Errorf("the demo still answers at %s after it was stopped", url)
	}
}
