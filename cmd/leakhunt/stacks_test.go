package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestStacksFlags(t *testing.T) {
	tests := []struct {
		args    []string
		want    func(*StacksOptions) bool
		wantErr string
	}{
		{args: []string{"http://127.0.0.1:1"}, want: func(o *StacksOptions) bool {
			return o.Target == "http://127.0.0.1:1" && o.By == "stack" && o.N == 0 && !o.Source && !o.Full && !o.JSON && o.Timeout == 30*time.Second
		}},
		{args: []string{"123", "--source", "--full", "--filter", "main\\.", "--by", "site", "-n", "3", "--json", "--timeout", "2s", "--no-leak-check"},
			want: func(o *StacksOptions) bool {
				return o.Target == "123" && o.Source && o.Full && o.Filter == "main\\." && o.By == "site" && o.N == 3 && o.JSON && o.Timeout == 2*time.Second && o.NoLeak
			}},
		{args: []string{}, wantErr: "stacks takes 1 argument(s)"},
		{args: []string{"x", "--filter", "("}, wantErr: "bad --filter regexp"},
		{args: []string{"x", "--by", "colour"}, wantErr: `unknown --by "colour"`},
		{args: []string{"x", "-n", "-1"}, wantErr: "-n must be 0 (all) or more"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got := parseFlags(t, NewCmdStacks, tt.wantErr, tt.args...)
			if got == nil {
				return
			}
			if !tt.want(got) {
				t.Errorf("options %+v", got)
			}
		})
	}
	io, _, _ := testStreams()
	var ps *PsOptions
	if err := execute(NewCmdPs(newFactory(io), func(_ context.Context, o *PsOptions) error { ps = o; return nil }), "--json", "--no-probe", "--timeout", "1s"); err != nil {
		t.Fatal(err)
	}
	if !ps.JSON || !ps.NoProbe || ps.Timeout != time.Second {
		t.Errorf("ps options %+v", ps)
	}
	if err := execute(NewCmdPs(newFactory(io), nil), "123"); err == nil || exitCode(err) != exitUsage {
		t.Errorf("ps 123: err = %v", err)
	}
}

// startPprofServer runs the pprofserver fixture (fixture_test.go) as its own
// process and returns it and its address; it is stopped when the test ends.
func startPprofServer(t *testing.T) (*exec.Cmd, string) {
	t.Helper()
	addrFile := filepath.Join(t.TempDir(), "addr")
	cmd := exec.Command("pprofserver", "-addrfile", addrFile)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, err := os.ReadFile(addrFile)
		if err == nil && len(data) > 0 {
			return cmd, strings.TrimSpace(string(data))
		}
		if time.Now().After(deadline) {
			t.Fatal("pprofserver wrote no address in 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lineOf returns the line of this package's file that contains text.
func lineOf(t *testing.T, file, text string) int {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, text) {
			return i + 1
		}
	}
	t.Fatalf("%q not in %s", text, file)
	return 0
}

func TestStacksRun(t *testing.T) {
	t.Parallel()
	_, addr := startPprofServer(t)
	fixture, err := filepath.Abs("fixture_test.go")
	if err != nil {
		t.Fatal(err)
	}
	goLine := lineOf(t, fixture, "go blockForever(make(chan int))")
	blockLine := lineOf(t, fixture, "func blockForever(ch chan int) { ch <- 1 }")
	run := func(args ...string) (string, string) {
		t.Helper()
		io, out, errOut := testStreams()
		if code := runRoot(context.Background(), NewCmdRoot(newFactory(io)), append([]string{"stacks"}, args...), io); code != 0 {
			t.Fatalf("stacks %v: exit %d: %s", args, code, errOut)
		}
		return out.String(), errOut.String()
	}

	out, _ := run("http://"+addr, "--source", "--full", "--no-leak-check")
	for _, want := range []string{
		"#1 · 16 goroutines · chan send\n",
		"   created by " + fixturePkg + ".pprofServerMain.func1 at " + fixture + ":" + strconv.Itoa(goLine) + "\n",
		"   goroutines ",
		"   * " + fixturePkg + ".blockForever  " + fixture + ":" + strconv.Itoa(blockLine) + "\n",
		"> " + strconv.Itoa(blockLine) + "  func blockForever(ch chan int) { ch <- 1 }\n",
		"locals: none: a pprof endpoint does not give them; locals need a PID or core target\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// Five more leak; the JSON shows the group grown, the filter keeps it alone.
	resp, err := http.Get("http://" + addr + "/grow?n=5")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	out, _ = run("http://"+addr, "--json", "--filter", `blockForever`, "--no-leak-check")
	var got stacksJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if got.Matched != 21 || got.GroupsTotal != 1 || len(got.Groups) != 1 || got.Source != "http" || got.By.String() != "stack" {
		t.Fatalf("matched %d, groups %d/%d, source %q:\n%s", got.Matched, len(got.Groups), got.GroupsTotal, got.Source, out)
	}
	g := got.Groups[0]
	if g.Count != 21 || g.State != "chan send" || len(g.IDs) != 10 || g.CreatedBy == nil || g.CreatedBy.Line != goLine {
		t.Errorf("group %+v", g.Group)
	}
	if len(g.Frames) != 1 || !g.Frames[0].User || g.Frames[0].Function != fixturePkg+".blockForever" || g.Frames[0].Line != blockLine {
		t.Errorf("frames %+v", g.Frames)
	}
	if g.Blocking.Function != fixturePkg+".blockForever" {
		t.Errorf("blocking %+v", g.Blocking)
	}
	for _, key := range []string{`"wait_min_ns"`, `"sample_id"`, `"user": true`, `"by": "stack"`, `"groups_total"`} {
		if !strings.Contains(out, key) {
			t.Errorf("JSON lacks %s", key)
		}
	}

	// The same goroutines from a saved dump look alike.
	resp, err = http.Get("http://" + addr + "/debug/pprof/goroutine?debug=2")
	if err != nil {
		t.Fatal(err)
	}
	var dump bytes.Buffer
	dump.ReadFrom(resp.Body)
	resp.Body.Close()
	file := filepath.Join(t.TempDir(), "goroutines.txt")
	if err := os.WriteFile(file, dump.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _ = run(file, "--by", "site", "-n", "1")
	if !strings.Contains(out, "#1 · 21 goroutines · chan send\n") || !strings.Contains(out, "blocked in "+fixturePkg+".blockForever at "+fixture+":"+strconv.Itoa(blockLine)+"\n") {
		t.Errorf("from the dump file:\n%s", out)
	}
}

func TestStacksBadTarget(t *testing.T) {
	t.Parallel()
	heap, err := filepath.Abs("../../profiler/source/testdata/heap.pb.gz")
	if err != nil {
		t.Fatal(err)
	}
	io, out, errOut := testStreams()
	code := runRoot(context.Background(), NewCmdRoot(newFactory(io)), []string{"stacks", heap}, io)
	if code != exitError || out.Len() != 0 || !strings.Contains(errOut.String(), "holds no goroutines") || strings.Count(errOut.String(), "\n") != 1 {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestPsRun(t *testing.T) {
	t.Parallel()
	srv, addr := startPprofServer(t)
	pid := srv.Process.Pid
	io, out, _ := testStreams()
	if err := psRun(context.Background(), &PsOptions{IO: io, JSON: true, Timeout: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	var got psJSON
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	found := false
	for _, p := range got.Processes {
		if p.PID == os.Getpid() {
			t.Errorf("ps lists itself")
		}
		if p.PID != pid {
			continue
		}
		found = true
		if want := "http://" + addr + "/debug/pprof/"; p.Pprof != want || p.GoVersion == "" || p.RSS == 0 {
			t.Errorf("fixture %+v, want pprof %s", p, want)
		}
	}
	if !found {
		t.Fatalf("pid %d not listed:\n%s", pid, out)
	}

	io, out, _ = testStreams()
	if err := psRun(context.Background(), &PsOptions{IO: io, Timeout: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	if !strings.HasPrefix(lines[0], "PID ") || !strings.Contains(lines[0], "PPROF") {
		t.Errorf("header %q", lines[0])
	}
	row := ""
	for _, l := range lines {
		if strings.HasPrefix(l, strconv.Itoa(pid)+" ") {
			row = l
		}
	}
	if !strings.HasSuffix(row, " http://"+addr+"/debug/pprof/") {
		t.Errorf("row for pid %d: %q\n%s", pid, row, out)
	}
}

// fixturePkg is how the fixture's functions are named in stacks: package
// main of a test binary carries its import path.
const fixturePkg = "github.com/leakhunt/leakhunt/cmd/leakhunt"
