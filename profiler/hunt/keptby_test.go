package hunt

import (
	"testing"

	"github.com/leakhunt/leakhunt/profiler/refs"
)

func TestKeptByPath(t *testing.T) {
	// The shape of a growing map's rows in refs.Diff: its directory,
	// tables and groups retain as much as the values, which own the bytes.
	c := &refs.Change{Paths: []refs.Growth{
		{Name: "main.cache → *map.dir[string][]uint8", RetainedChange: 3 << 20, BytesChange: 24},
		{Name: "main.cache → []map.group[string][]uint8 (backing array)", RetainedChange: 3 << 20, BytesChange: 190 << 10},
		{Name: "main.cache → map value → []uint8 (backing array)", RetainedChange: 3<<20 - 200<<10, BytesChange: 3<<20 - 200<<10},
		{Name: "fmt.ppFree → []uint8 (backing array)", RetainedChange: 4 << 10, BytesChange: 4 << 10},
	}}
	g := keptByPath(c)
	if g == nil || g.Name != "main.cache → map value → []uint8 (backing array)" {
		t.Fatalf("keptByPath = %+v, want the map values", g)
	}
	if g := keptByPath(&refs.Change{Paths: []refs.Growth{{Name: "a → b", RetainedChange: -5}}}); g != nil {
		t.Errorf("nothing grew, got %+v", g)
	}
}

func TestHolderKind(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"main.cache → map value → []uint8 (backing array)", "a map that only grows: entries are added and never deleted"},
		{"main.log → .events → [] → *main.event", "a slice or array that only grows (or a small slice pinning a big array)"},
		{"goroutine * main.work: ch → chan buffer → *main.job", "a channel buffer nobody drains"},
		{"main.buf → []uint8 (backing array)", ""},
		{"main.x", ""},
	} {
		if got := holderKind(tc.path); got != tc.want {
			t.Errorf("holderKind(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
}
