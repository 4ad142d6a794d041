package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/leakhunt/leakhunt/profiler/heapgraph"
	"github.com/leakhunt/leakhunt/profiler/refs"
	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

func TestObjectsFlags(t *testing.T) {
	tests := []struct {
		args    []string
		want    func(*ObjectsOptions) bool
		wantErr string
	}{
		{args: []string{"123"}, want: func(o *ObjectsOptions) bool {
			return o.Target == "123" && o.By == "type" && o.N == 20 && o.Type == "" && o.Output == "" && o.Profile == "" && !o.JSON && !o.Diff
		}},
		{args: []string{"core:c", "--by", "root", "-n", "3", "-o", "a.lhobj", "--profile", "p.pb.gz", "--json", "--force"}, want: func(o *ObjectsOptions) bool {
			return o.Target == "core:c" && o.By == "root" && o.N == 3 && o.Output == "a.lhobj" && o.Profile == "p.pb.gz" && o.JSON && o.Force
		}},
		{args: []string{"123", "--type", "*main.session"}, want: func(o *ObjectsOptions) bool { return o.Type == "*main.session" }},
		{args: []string{"--diff", "a", "b"}, want: func(o *ObjectsOptions) bool { return o.Diff && o.Old == "a" && o.New == "b" }},
		{args: []string{"--diff", "a", "b", "-n", "0", "--json"}, want: func(o *ObjectsOptions) bool { return o.Diff && o.N == 0 && o.JSON }},
		{args: []string{}, wantErr: "objects takes 1 argument(s): TARGET"},
		{args: []string{"a", "b"}, wantErr: "objects takes 1 argument(s): TARGET"},
		{args: []string{"--diff", "a"}, wantErr: "objects takes 2 argument(s): OLD NEW"},
		{args: []string{"--diff", "a", "b", "--type", "T"}, wantErr: "--diff compares two saved analyses"},
		{args: []string{"--diff", "a", "b", "-o", "x"}, wantErr: "--diff compares two saved analyses"},
		{args: []string{"123", "--by", "colour"}, wantErr: `unknown --by "colour": use type or root`},
		{args: []string{"123", "-n", "-1"}, wantErr: "-n must be 0 (all) or more"},
		{args: []string{"123", "--type", "T", "--by", "root"}, wantErr: "--type shows one type"},
		{args: []string{"123", "--bogus"}, wantErr: "unknown flag: --bogus"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got := parseFlags(t, NewCmdObjects, tt.wantErr, tt.args...)
			if tt.wantErr == "" && !tt.want(got) {
				t.Errorf("options %+v", got)
			}
		})
	}
}

func TestWhyFlags(t *testing.T) {
	tests := []struct {
		args    []string
		want    func(*WhyOptions) bool
		wantErr string
	}{
		{args: []string{"123", "0xc000123450"}, want: func(o *WhyOptions) bool {
			return o.Target == "123" && o.Addr == 0xc000123450 && o.Type == "" && o.N == 5 && o.Dot == "" && !o.JSON
		}},
		{args: []string{"123", "4096"}, want: func(o *WhyOptions) bool { return o.Addr == 4096 }},
		{args: []string{"core:c", "--type", "main.T", "--dot", "x.dot", "-n", "0", "--json", "--force"}, want: func(o *WhyOptions) bool {
			return o.Target == "core:c" && o.Type == "main.T" && o.Dot == "x.dot" && o.N == 0 && o.JSON && o.Force
		}},
		{args: []string{"123"}, wantErr: "why takes TARGET and an object address, or TARGET and --type T"},
		{args: []string{"123", "0x1", "0x2"}, wantErr: "why takes TARGET and an object address"},
		{args: []string{"123", "0x1", "--type", "T"}, wantErr: "why --type T takes one argument"},
		{args: []string{"123", "main.T"}, wantErr: `"main.T" is not an object address`},
		{args: []string{"123", "0xzz"}, wantErr: `"0xzz" is not an object address`},
		{args: []string{"123", "0"}, wantErr: `"0" is not an object address`},
		{args: []string{"123", "0x10", "-n", "-2"}, wantErr: "-n must be 0 (all) or more"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got := parseFlags(t, NewCmdWhy, tt.wantErr, tt.args...)
			if tt.wantErr == "" && !tt.want(got) {
				t.Errorf("options %+v", got)
			}
		})
	}
}

// savedAnalysis writes the analysis of a small graph to a file: sessions
// holds n entries of main.session, each with a []uint8 buffer.
func savedAnalysis(t *testing.T, path string, n int, at time.Time) {
	t.Helper()
	g := &heapgraph.Graph{Types: []heapgraph.Type{{}, {Name: "main.sessionMap"}, {Name: "main.session"}, {Name: "[]uint8"}}}
	add := func(typ heapgraph.TypeID, size uint64) {
		g.Addr = append(g.Addr, 0xc000000000+uint64(len(g.Addr))*0x1000)
		g.Size = append(g.Size, size)
		g.Type = append(g.Type, typ)
	}
	add(1, 64)
	for i := 0; i < n; i++ {
		add(2, 48)
		add(3, 1024)
	}
	g.Out = []int64{0}
	for i := 0; i < n; i++ {
		g.To = append(g.To, int32(1+2*i))
		g.Off = append(g.Off, uint32(8*i))
	}
	g.Out = append(g.Out, int64(len(g.To)))
	for i := 0; i < n; i++ {
		g.To = append(g.To, int32(2+2*i))
		g.Off = append(g.Off, 16)
		g.Out = append(g.Out, int64(len(g.To)), int64(len(g.To)))
	}
	g.Roots = []heapgraph.Root{{Kind: heapgraph.RootGlobal, Name: "main.sessions"}}
	g.RootOut, g.RootTo, g.RootOff = []int64{0, 1}, []int32{0}, []uint32{0}
	a, err := refs.Analyze(context.Background(), g, refs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a.Time = at
	a.Target = snapshot.Target{Program: "demo", PID: 42}
	if err := a.Save(path, false); err != nil {
		t.Fatal(err)
	}
}

// TestObjectsSavedAnalysis reads saved analyses back: tables, --type,
// --json, --profile and --diff, and the errors for files that are not
// analyses.
func TestObjectsSavedAnalysis(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC)
	before, after := filepath.Join(dir, "before.lhobj"), filepath.Join(dir, "after.lhobj")
	savedAnalysis(t, before, 10, t0)
	savedAnalysis(t, after, 30, t0.Add(time.Minute))

	run := func(args ...string) (string, string, error) {
		io, out, errOut := testStreams()
		err := execute(NewCmdObjects(newFactory(io), nil), args...)
		return out.String(), errOut.String(), err
	}
	out, _, err := run(after)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"live objects of demo (pid 42) at 2026-11-26 01:01:00 UTC", "30.0 KiB       30  30.0 KiB  []uint8", "1.4 KiB       30  31.4 KiB  main.session"} {
		if !strings.Contains(out, want) {
			t.Errorf("by type lacks %q:\n%s", want, out)
		}
	}
	out, _, err = run(after, "--by", "root", "-n", "3")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"main.sessions", "main.sessions → *main.sessionMap → *main.session → *[]uint8", "Showing 3 of 3 root paths"} {
		if !strings.Contains(out, want) {
			t.Errorf("by root lacks %q:\n%s", want, out)
		}
	}
	out, _, err = run(after, "--type", "*main.session")
	if err != nil || !strings.Contains(out, "type main.session: 30 objects, 1.4 KiB; retains 31.4 KiB in 60 objects") || !strings.Contains(out, "sample addresses: 0xc000001000 ") {
		t.Errorf("--type: %v\n%s", err, out)
	}
	out, _, err = run(after, "--json", "-n", "1")
	var j struct {
		Format string          `json:"format"`
		Totals refs.Totals     `json:"totals"`
		Types  []refs.TypeStat `json:"types"`
	}
	if err != nil || json.Unmarshal([]byte(out), &j) != nil || j.Format != refs.FormatName || len(j.Types) != 1 || j.Totals.Objects != 61 {
		t.Errorf("--json: %v %+v\n%s", err, j, out)
	}
	prof := filepath.Join(dir, "refs.pb.gz")
	if _, _, err := run(after, "--profile", prof); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(prof)
	p, err := profile.ParseData(data)
	if err != nil || len(p.Sample) != 3 || p.SampleType[1].Type != "inuse_space" {
		t.Errorf("profile: %v %v", err, p)
	}
	if _, _, err := run(after, "--profile", prof); err == nil || !strings.Contains(err.Error(), "use --force") {
		t.Errorf("--profile over an existing file: %v", err)
	}

	out, _, err = run("--diff", before, after)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"(1m0s later)", "Reachable: 10.5 KiB -> 31.5 KiB (+20.9 KiB); objects 21 -> 61 (+40)",
		"30.0 KiB  +20.0 KiB       30     +20  30.0 KiB  +20.0 KiB  main.sessions → *main.sessionMap → *main.session → *[]uint8"} {
		if !strings.Contains(out, want) {
			t.Errorf("--diff lacks %q:\n%s", want, out)
		}
	}

	junk := filepath.Join(dir, "junk.txt")
	os.WriteFile(junk, []byte("not an analysis"), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{junk}, "junk.txt is not a saved objects analysis: give a PID, core:FILE or a file written by objects -o"},
		{[]string{filepath.Join(dir, "missing")}, "missing: no such file"},
		{[]string{"http://127.0.0.1:1/"}, "is a pprof endpoint, which does not serve the heap's memory"},
		{[]string{"--diff", before, junk}, "junk.txt is not a saved objects analysis"},
		{[]string{after, "--type", "nosuch"}, "no live objects of type nosuch"},
		{[]string{after, "--type", "sess"}, "did you mean main.session, main.sessionMap"},
	} {
		_, _, err := run(tc.args...)
		if err == nil || !strings.Contains(errorLine(err), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("objects %v: %v, want one line with %q", tc.args, err, tc.want)
		}
	}

	// why needs the graph, which a saved analysis does not keep.
	io, _, _ := testStreams()
	err = execute(NewCmdWhy(newFactory(io), nil), after, "--type", "main.session")
	if err == nil || !strings.Contains(err.Error(), "holds no object graph: why needs a PID or core:FILE") {
		t.Errorf("why on a saved analysis: %v", err)
	}
}
