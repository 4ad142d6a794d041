package heapgraph

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadInput checks that bad input gives one clear error, never a panic.
func TestBadInput(t *testing.T) {
	t.Parallel()
	bin := buildProg(t, "counts", "local")
	stripped := buildProg(t, "counts", "local", "-ldflags=-w")
	dir := t.TempDir()
	notELF := filepath.Join(dir, "notelf")
	os.WriteFile(notELF, []byte(strings.Repeat("not an ELF file\n", 10)), 0o644)
	empty := NewImage(nil)
	// An image that holds the executable's own data but no heap: no spans.
	for _, tc := range []struct {
		name string
		in   *Input
		want string
	}{
		{"no image", &Input{Exe: bin}, "no memory image"},
		{"no executable", &Input{Mem: empty}, "no executable"},
		{"missing executable", &Input{Mem: empty, Exe: filepath.Join(dir, "nothere")}, "no such file"},
		{"not ELF", &Input{Mem: empty, Exe: notELF}, "read executable"},
		{"not Go", &Input{Mem: empty, Exe: "/bin/true"}, "symbol table"},
		{"no DWARF", &Input{Mem: empty, Exe: stripped}, "DWARF"},
		{"empty image", &Input{Mem: empty, Exe: bin}, "not in the memory image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := Build(context.Background(), tc.in)
			if err == nil || g != nil {
				t.Fatalf("Build: %v, %v; want an error", g, err)
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q does not say %q in one line", err, tc.want)
			}
		})
	}
	// A canceled context.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Build(ctx, &Input{Mem: empty, Exe: bin}); !errors.Is(err, context.Canceled) {
		t.Errorf("Build with a canceled context: %v", err)
	}
	// Cores: not a file, not ELF, not a core.
	for _, tc := range []struct {
		name, path, want string
	}{
		{"missing core", filepath.Join(dir, "nocore"), "no such file"},
		{"not ELF core", notELF, "not an ELF core file"},
		{"executable as core", bin, "not a core dump"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := OpenCore(tc.path)
			if err == nil {
				c.Close()
				t.Fatalf("OpenCore(%s) succeeded", tc.path)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// TestTruncatedCore checks a core cut short: an error or a graph, no panic.
func TestTruncatedCore(t *testing.T) {
	t.Parallel()
	bin := buildProg(t, "counts", "local")
	cmd, _ := startProg(t, bin)
	core := dumpCore(t, cmd.Process.Pid)
	fi, err := os.Stat(core)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(core, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	if c, err := OpenCore(core); err == nil {
		c.Close()
		t.Fatal("OpenCore accepted a truncated core")
	} else if !strings.Contains(err.Error(), "truncated") {
		t.Errorf("error %q does not say the core is truncated", err)
	}
}

// TestDamagedImage builds graphs from images of a real process with bytes
// overwritten: Build must return an error or a graph, never panic or hang.
func TestDamagedImage(t *testing.T) {
	t.Parallel()
	bin := buildProg(t, "counts", "local")
	cmd, _ := startProg(t, bin)
	core := dumpCore(t, cmd.Process.Pid)
	c, err := OpenCore(core)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Damage everywhere, and only outside the executable's own data (the
	// heap and the runtime's span structures: the module data stays
	// readable, so the walk goes on over damaged spans).
	for _, every := range []int{4099, 61, -127, -509} {
		var rs []Region
		for _, r := range c.Mem.Regions() {
			d := append([]byte(nil), r.Data...)
			step := every
			if every < 0 {
				step = -every
				if r.Addr < 1<<32 {
					step = len(d) + 1
				}
			}
			for i := step / 2; i < len(d); i += step {
				d[i] ^= 0x5a
			}
			rs = append(rs, Region{Addr: r.Addr, Data: d})
		}
		g, err := Build(context.Background(), &Input{Mem: NewImage(rs), Exe: bin})
		if err != nil {
			t.Logf("every %d bytes damaged (negative: outside the executable's data): %v", every, err)
			continue
		}
		t.Logf("every %d bytes damaged (negative: outside the executable's data): %d objects, notes %q", every, len(g.Addr), g.Stats.Notes)
	}
}
