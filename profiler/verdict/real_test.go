package verdict

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/leakhunt/leakhunt/profiler/watch"
)

// TestRealSeries judges series that leakhunt watch captured from the
// leakdemo programs at a 1 s interval (scripts/accuracy.sh -save, cut to the
// sites and groups that moved, gzipped): the leak each demo's package doc
// names, and nothing at all on the -fixed variants and the controls.
func TestRealSeries(t *testing.T) {
	tests := []struct {
		file string
		kind Kind     // "" for no verdict at all
		at   []string // "fn:line" of the site or of the go statement, as the demo's doc names them; any one
	}{
		{"eventlog@50.json.gz", Heap, []string{"handle:47", "handle:54"}},
		{"subslice@1.json.gz", Heap, []string{"readPacket:61", "handle:54"}},
		{"sender@5.json.gz", Goroutine, []string{"func1:50", "handle:42", "handle:47"}},
		{"worker@2.json.gz", Goroutine, []string{"startHeartbeat:58", "handle:36"}},
		{"body@1.json.gz", Goroutine, []string{"net/http.(*persistConn).readLoop:", "net/http.(*persistConn).writeLoop:"}},
		{"cgo@1.json.gz", NonGoMemory, nil},
		{"cache-fixed@20.json.gz", "", nil},
		{"pool@2.json.gz", "", nil},
		{"sawtooth@0.5.json.gz", "", nil},
		// The bounded cache warms up for 100 s, then stays flat: at the end
		// of 3 minutes the plateau must have cleared it.
		{"bounded@20.json.gz", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			s := loadReal(t, tt.file)
			vs := Analyze(s, Options{})
			if tt.kind == "" {
				for _, v := range vs {
					t.Errorf("verdict on a program that does not leak: %s %s: %s", v.Kind, v.Where(), v.Evidence)
				}
				return
			}
			for _, v := range vs {
				if v.Kind != tt.kind {
					continue
				}
				if len(tt.at) == 0 {
					return
				}
				for _, at := range tt.at {
					if matchSite(v, at) {
						return
					}
				}
			}
			for _, v := range vs {
				t.Logf("got %s %s created by %+v", v.Kind, v.Where(), v.CreatedBy)
			}
			t.Fatalf("no %s verdict at any of %v", tt.kind, tt.at)
		})
	}
}

func loadReal(t *testing.T, name string) *watch.Series {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "real", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	s := watch.NewSeries()
	if err := s.UnmarshalJSON(data); err != nil {
		t.Fatal(err)
	}
	return s
}

// matchSite reports whether v's site or go statement is at "fn:line": the
// function name ends with fn and the line is line (any line when empty).
func matchSite(v Verdict, want string) bool {
	fn, line, _ := strings.Cut(want, ":")
	at := func(f string, l int) bool {
		return strings.HasSuffix(f, fn) && (line == "" || line == strconv.Itoa(l))
	}
	return at(v.Function, v.Line) || (v.CreatedBy != nil && at(v.CreatedBy.Function, v.CreatedBy.Line))
}
