package pproftext

import (
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile("../source/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// sums totals each sample type per innermost function.
func sums(p *profile.Profile) map[string][]int64 {
	out := make(map[string][]int64)
	for _, s := range p.Sample {
		key := "?"
		if len(s.Location) > 0 && len(s.Location[0].Line) > 0 {
			key = s.Location[0].Line[0].Function.Name
		}
		if out[key] == nil {
			out[key] = make([]int64, len(s.Value))
		}
		for i, v := range s.Value {
			out[key][i] += v
		}
	}
	return out
}

// TestHeapMatchesProto checks that the debug=1 text of a real heap profile
// gives the same values as the protobuf form of the same profile, captured
// from the same process one after the other (no GC ran between them).
func TestHeapMatchesProto(t *testing.T) {
	text, ms, err := ParseHeap(readFixture(t, "heap-debug1.txt"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("../source/testdata/heap.pb.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	proto, err := profile.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	if text.Period != proto.Period {
		t.Errorf("period %d, proto says %d", text.Period, proto.Period)
	}
	got, want := sums(text), sums(proto)
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for i := range want[k] {
			if got[k] == nil || got[k][i] != want[k][i] {
				t.Errorf("%s %s: text %v, proto %v", k, proto.SampleType[i].Type, got[k], want[k])
				break
			}
		}
	}
	if len(got) != len(want) {
		t.Errorf("text has %d functions, proto %d", len(got), len(want))
	}
	if ms == nil || ms.HeapAlloc == 0 || ms.NumGC == 0 || ms.StackSys == 0 || ms.MaxRSS == 0 {
		t.Errorf("memstats not read: %+v", ms)
	}
	if err := text.CheckValid(); err != nil {
		t.Errorf("built profile is invalid: %v", err)
	}
}

func TestParseGoroutine(t *testing.T) {
	p, err := ParseGoroutine(readFixture(t, "goroutine-debug1.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, s := range p.Sample {
		total += s.Value[0]
	}
	if total != 9 {
		t.Errorf("total %d goroutines, want 9 (the header says so)", total)
	}
	found := false
	for _, fn := range p.Function {
		found = found || fn.Name == "main.leak"
	}
	if !found {
		t.Error("main.leak not among the functions")
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"not heap", "hello", "not a text heap"},
		{"bad record", "heap profile: 1: 2 [3: 4] @ heap/1048576\nnonsense here\n", "heap profile line 2: unexpected \"nonsense here\""},
		{"bad rate", "heap profile: 1: 2 [3: 4] @ heap/x\n", "bad sampling rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ParseHeap([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := ParseGoroutine([]byte("goroutine profile: total 1\nxyz\n")); err == nil {
		t.Error("ParseGoroutine accepted a bad record")
	}
}

func FuzzParseHeap(f *testing.F) {
	f.Add(readFixture(f, "heap-debug1.txt"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, _, err := ParseHeap(data)
		if err == nil {
			if err := p.CheckValid(); err != nil {
				t.Fatalf("accepted input gave an invalid profile: %v", err)
			}
		}
	})
}

func FuzzParseGoroutine(f *testing.F) {
	f.Add(readFixture(f, "goroutine-debug1.txt"))
	f.Add(readFixture(f, "goroutineleak-debug1-go1.27.txt"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseGoroutine(data)
		if err == nil {
			if err := p.CheckValid(); err != nil {
				t.Fatalf("accepted input gave an invalid profile: %v", err)
			}
		}
	})
}
