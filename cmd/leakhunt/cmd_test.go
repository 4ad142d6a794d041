package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/leakhunt/leakhunt/profiler/analyze"
)

func testStreams() (*IOStreams, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	return &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, &out, &errOut
}

// execute runs cmd with args as the root would, and returns its error.
func execute(cmd *cobra.Command, args ...string) error {
	cmd.SetArgs(args)
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &usageError{err} })
	return cmd.ExecuteContext(context.Background())
}

// parseFlags runs newCmd's argument and flag parsing on args and returns the
// options its run function would get. When wantErr is set, it checks instead
// that parsing failed with a usage error (exit status 2) containing wantErr,
// and returns nil.
func parseFlags[O any](t *testing.T, newCmd func(*Factory, func(context.Context, *O) error) *cobra.Command, wantErr string, args ...string) *O {
	t.Helper()
	io, _, _ := testStreams()
	var got *O
	err := execute(newCmd(newFactory(io), func(_ context.Context, o *O) error { got = o; return nil }), args...)
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("err = %v, want %q", err, wantErr)
		}
		if exitCode(err) != exitUsage {
			t.Errorf("exit code %d, want %d", exitCode(err), exitUsage)
		}
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	if got == nil {
		t.Fatal("the command did not reach its run function")
	}
	return got
}

func TestTopFlags(t *testing.T) {
	tests := []struct {
		args    []string
		want    func(*TopOptions) bool
		wantErr string
	}{
		{args: []string{"x.lhsnap"}, want: func(o *TopOptions) bool {
			return o.Target == "x.lhsnap" && o.Heap.By == "line" && o.Heap.N == 10 && o.Heap.Sample == "inuse_space" && o.Timeout == 30*time.Second
		}},
		{args: []string{"x", "--by", "stack", "-n", "3", "--sample", "alloc_objects", "--focus", "a", "--ignore", "b", "--json", "--timeout", "2s"},
			want: func(o *TopOptions) bool {
				return o.Heap.By == "stack" && o.Heap.N == 3 && o.Heap.Sample == "alloc_objects" && o.Heap.Focus == "a" && o.Heap.Ignore == "b" && o.JSON && o.Timeout == 2*time.Second
			}},
		{args: []string{"x", "--by", "traceback"}, want: func(o *TopOptions) bool { return o.Heap.By == "traceback" }},
		{args: []string{}, wantErr: "top takes 1 argument(s)"},
		{args: []string{"x", "--by", "colour"}, wantErr: `unknown grouping "colour"`},
		{args: []string{"x", "--sample", "cpu"}, wantErr: `unknown --sample "cpu"`},
		{args: []string{"x", "-n", "-1"}, wantErr: "-n must be 0 (all) or more"},
		{args: []string{"x", "--focus", "("}, wantErr: "bad --focus regexp"},
		{args: []string{"x", "--nope"}, wantErr: "unknown flag: --nope"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got := parseFlags(t, NewCmdTop, tt.wantErr, tt.args...)
			if got == nil {
				return
			}
			if !tt.want(got) {
				t.Errorf("options %+v", got)
			}
		})
	}
}

func TestDiffAndSnapshotFlags(t *testing.T) {
	io, _, _ := testStreams()
	var d *DiffOptions
	if err := execute(NewCmdDiff(newFactory(io), func(_ context.Context, o *DiffOptions) error { d = o; return nil }),
		"a", "b", "--force", "--by", "function"); err != nil {
		t.Fatal(err)
	}
	if d.Old != "a" || d.New != "b" || !d.Force || d.Heap.By != "function" {
		t.Errorf("diff options %+v", d)
	}
	var s *SnapshotOptions
	if err := execute(NewCmdSnapshot(newFactory(io), func(_ context.Context, o *SnapshotOptions) error { s = o; return nil }),
		"http://127.0.0.1:1", "-o", "x.lhsnap", "--force", "-v", "--timeout", "5s"); err != nil {
		t.Fatal(err)
	}
	if s.Target != "http://127.0.0.1:1" || s.Output != "x.lhsnap" || !s.Force || !s.Verbose || s.Timeout != 5*time.Second {
		t.Errorf("snapshot options %+v", s)
	}
	err := execute(NewCmdExport(newFactory(io), nil), "x.lhsnap", "cpu")
	if err == nil || !strings.Contains(err.Error(), `unknown part "cpu"`) {
		t.Errorf("export cpu: err = %v", err)
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, exitOK},
		{errors.New("boom"), exitError},
		{fmt.Errorf("wrapped: %w", &usageError{errors.New("bad flag")}), exitUsage},
		{fmt.Errorf("watch: %w", errLeakFound), exitLeak},
		{fmt.Errorf("capture: %w", analyze.ErrNoHeap), exitError},
	}
	for _, tt := range tests {
		if got := exitCode(tt.err); got != tt.want {
			t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

// TestRunNeverPanics checks that a panic inside a command becomes one error
// line and exit status 1.
func TestRunNeverPanics(t *testing.T) {
	io, _, errOut := testStreams()
	f := newFactory(io)
	root := NewCmdRoot(f)
	root.AddCommand(&cobra.Command{Use: "boom", RunE: func(*cobra.Command, []string) error { panic("kaboom") }})
	code := func() (code int) {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("panic escaped: %v", r)
			}
		}()
		return runRoot(context.Background(), root, []string{"boom"}, io)
	}()
	if code != exitError {
		t.Errorf("exit code %d", code)
	}
	if got := errOut.String(); got != "leakhunt: internal error: kaboom (please report it)\n" {
		t.Errorf("stderr %q", got)
	}
}

func TestErrorLine(t *testing.T) {
	if got := errorLine(errors.New("first\nsecond")); got != "leakhunt: first" {
		t.Errorf("errorLine = %q", got)
	}
	if got := errorLine(fmt.Errorf("capture: %w", context.Canceled)); got != "leakhunt: interrupted" {
		t.Errorf("errorLine = %q", got)
	}
}

// TestConsentToWrite checks that --enable-profiling asks on a terminal and
// writes nothing unless the user says yes; off a terminal the flag is consent.
func TestConsentToWrite(t *testing.T) {
	tests := []struct {
		tty    bool
		answer string
		want   error
	}{
		{tty: true, answer: "y\n", want: nil},
		{tty: true, answer: "yes\n", want: nil},
		{tty: true, answer: "n\n", want: errNoConsent},
		{tty: true, answer: "\n", want: errNoConsent},
		{tty: true, answer: "", want: errNoConsent},
		{tty: false, answer: "", want: nil},
	}
	for _, tt := range tests {
		io, _, errOut := testStreams()
		io.In = strings.NewReader(tt.answer)
		io.InTTY, io.ErrTTY = tt.tty, tt.tty
		if err := consentToWrite(io, "4242"); err != tt.want {
			t.Errorf("tty %v, answer %q: err = %v, want %v", tt.tty, tt.answer, err, tt.want)
		}
		if asked := strings.Contains(errOut.String(), "Write into the process? [y/N]"); asked != tt.tty {
			t.Errorf("tty %v: asked = %v", tt.tty, asked)
		}
	}
}
