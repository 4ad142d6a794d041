package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/leakhunt/leakhunt/profiler/analyze"
	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

// The report package's fixture series: real snapshots of a program that
// leaks at main.remember and blocks goroutines in main.forget.func1.
const (
	seriesFirst = "../../profiler/report/testdata/series/0001-patient.lhsnap"
	seriesLast  = "../../profiler/report/testdata/series/0005-patient.lhsnap"
)

func TestWebFlags(t *testing.T) {
	tests := []struct {
		args    []string
		want    func(*WebOptions) bool
		wantErr string
	}{
		{args: []string{"a.lhsnap"}, want: func(o *WebOptions) bool {
			return o.Target == "a.lhsnap" && o.HTTP == "127.0.0.1:0" && o.Profile == "heap" && o.Diff == "" && o.Sample == ""
		}},
		{args: []string{"a", "--diff", "b", "--http", "127.0.0.1:8080", "--profile", "goroutine", "--force"}, want: func(o *WebOptions) bool {
			return o.Diff == "b" && o.HTTP == "127.0.0.1:8080" && o.Profile == "goroutines" && o.Force
		}},
		{args: []string{"a", "--sample", "alloc_space"}, want: func(o *WebOptions) bool { return o.Sample == "alloc_space" }},
		{args: []string{"a.lhobj", "--profile", "objects", "--sample", "retained_space"}, want: func(o *WebOptions) bool {
			return o.Profile == "objects" && o.Sample == "retained_space"
		}},
		{args: []string{}, wantErr: "web takes 1 argument(s)"},
		{args: []string{"a", "--profile", "cpu"}, wantErr: `unknown --profile "cpu"`},
		{args: []string{"a", "--sample", "cpu"}, wantErr: `unknown --sample "cpu"`},
		{args: []string{"a", "--profile", "goroutines", "--sample", "inuse_space"}, wantErr: "--sample applies to the heap and objects profiles only"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			io, _, _ := testStreams()
			var got *WebOptions
			err := execute(NewCmdWeb(newFactory(io), func(_ context.Context, o *WebOptions) error { got = o; return nil }), tt.args...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || exitCode(err) != exitUsage {
					t.Fatalf("err = %v (exit %d), want usage error %q", err, exitCode(err), tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.want(got) {
				t.Errorf("options %+v", got)
			}
		})
	}
}

// startWeb runs `leakhunt web` with args until the test ends and returns
// the UI's URL.
func startWeb(t *testing.T, args ...string) string {
	t.Helper()
	streams, _, errOut := testStreams()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	cmd := NewCmdWeb(newFactory(streams), func(ctx context.Context, o *WebOptions) error {
		o.Ready = func(url string) { ready <- url }
		return webRun(ctx, o)
	})
	go func() {
		cmd.SetArgs(args)
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		done <- cmd.ExecuteContext(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("leakhunt web after Ctrl-C: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("leakhunt web did not stop after its context ended")
		}
	})
	select {
	case url := <-ready:
		return url
	case err := <-done:
		t.Fatalf("leakhunt web ended before serving: %v\n%s", err, errOut)
	case <-time.After(60 * time.Second):
		t.Fatal("leakhunt web did not start serving")
	}
	return ""
}

func httpBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return string(body)
}

// pprof's driver keeps settings in package state: these run one at a time.

func TestWebHeap(t *testing.T) {
	// Runs last: after the server stopped, nothing of it is left running.
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		http.DefaultClient.CloseIdleConnections()
		goleak.VerifyNone(t, ignore)
	})
	url := startWeb(t, seriesLast, "--http", "127.0.0.1:0")
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("URL %q, want one on 127.0.0.1", url)
	}
	if body := httpBody(t, url+"/"); !strings.Contains(body, "main.remember") {
		t.Error("the UI's start page (the flame graph) does not show main.remember")
	}
	if body := httpBody(t, url+"/flamegraph"); !strings.Contains(body, "main.remember") {
		t.Error("/flamegraph does not show main.remember")
	}
	if body := httpBody(t, url+"/top"); !strings.Contains(body, `"Name":"main.remember"`) {
		t.Error("/top has no row for main.remember")
	}
}

func TestWebDiff(t *testing.T) {
	url := startWeb(t, seriesLast, "--diff", seriesFirst, "--sample", "inuse_space")
	top := httpBody(t, url+"/top")
	m := regexp.MustCompile(`"Name":"main\.remember","InlineLabel":"[^"]*","Flat":(-?\d+)`).FindStringSubmatch(top)
	if m == nil {
		t.Fatal("/top of the diff has no row for main.remember")
	}
	// pprof's -diff_base arithmetic agrees with leakhunt diff's.
	load := func(path string) *snapshot.Snapshot {
		s, err := snapshot.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	d, err := analyze.CompareSnapshots(load(seriesFirst), load(seriesLast), analyze.DiffOptions{HeapOptions: analyze.HeapOptions{By: analyze.ByFunction}})
	if err != nil {
		t.Fatal(err)
	}
	var want int64 = -1
	for _, st := range d.Stats {
		if st.Function == "main.remember" {
			want = st.SizeDiff
		}
	}
	if got, _ := strconv.ParseInt(m[1], 10, 64); got != want || want <= 0 {
		t.Errorf("the UI shows main.remember grew %d bytes; leakhunt diff says %d", got, want)
	}
}

func TestWebGoroutines(t *testing.T) {
	url := startWeb(t, seriesLast, "--profile", "goroutines")
	if body := httpBody(t, url+"/top"); !strings.Contains(body, `"Name":"main.forget.func1"`) {
		t.Error("/top of the goroutine profile has no row for main.forget.func1")
	}
}

func TestWebBadInput(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{args: []string{"nosuch.lhsnap"}, want: "nosuch.lhsnap: no such file"},
		{args: []string{seriesLast, "--diff", "nosuch.lhsnap"}, want: "nosuch.lhsnap: no such file"},
		{args: []string{seriesLast, "--http", "nonsense"}, want: `bad address "nonsense"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			streams, _, _ := testStreams()
			err := execute(NewCmdWeb(newFactory(streams), nil), tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if exitCode(err) != exitError {
				t.Errorf("exit code %d, want %d", exitCode(err), exitError)
			}
		})
	}
}
