package goroutines

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

var captureDump = flag.Bool("capture", false, "capture testdata/blocker-debug2.txt again from testdata/blocker")

// blockerSource is the fixture program; its go statements carry "// go:NAME" markers.
const blockerSource = "testdata/blocker/main.go"

var (
	buildOnce  sync.Once
	blockerExe string
	buildErr   error
)

// buildBlocker builds testdata/blocker once per test binary.
func buildBlocker(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "blocker")
		if err != nil {
			buildErr = err
			return
		}
		blockerExe = filepath.Join(dir, "blocker")
		out, err := exec.Command("go", "build", "-o", blockerExe, "./testdata/blocker").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build blocker: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return blockerExe
}

func TestMain(m *testing.M) {
	code := m.Run()
	if blockerExe != "" {
		os.RemoveAll(filepath.Dir(blockerExe))
	}
	os.Exit(code)
}

// startBlocker runs the fixture and returns its pprof URL; the process is
// stopped when the test ends.
func startBlocker(t *testing.T) string {
	t.Helper()
	exe := buildBlocker(t)
	cmd := exec.Command(exe)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("read blocker's URL: %v", err)
	}
	return strings.TrimSpace(line)
}

// blockerDump fetches the fixture's debug=2 dump, waiting (up to 10 s) until
// every goroutine it starts is parked where the fixture puts it.
func blockerDump(t *testing.T, url string) []byte {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url + "goroutine?debug=2")
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if parked(data) {
			return data
		}
		if time.Now().After(deadline) {
			t.Fatalf("fixture goroutines not parked after 10s:\n%.4000s", data)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// parked reports whether the dump shows main waiting on its signal channel
// and the 27 goroutines main starts all blocked.
func parked(data []byte) bool {
	gs, err := ParseDump(bytes.NewReader(data))
	if err != nil {
		return false
	}
	n := 0
	for _, g := range gs {
		switch {
		case g.ID == 1:
			if g.State != "chan receive" {
				return false
			}
		case g.State == "runnable" || g.State == "running" || len(g.Frames) == 0:
		case strings.HasPrefix(g.Frames[0].Function, "main.") || strings.HasPrefix(Blocking(g.Frames).Function, "main."):
			n++
		}
	}
	return n == 27 // the fixture's goroutines, without main itself
}

// markerLine returns the line of blockerSource marked "// go:name".
func markerLine(t *testing.T, name string) int {
	t.Helper()
	data, err := os.ReadFile(blockerSource)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(data), "\n") {
		if strings.HasSuffix(l, "// go:"+name) {
			return i + 1
		}
	}
	t.Fatalf("no marker go:%s in %s", name, blockerSource)
	return 0
}

// TestCaptureFixture rewrites testdata/blocker-debug2.txt (with -capture):
// the real dump the renderer's golden files and the fuzz corpus start from.
func TestCaptureFixture(t *testing.T) {
	if !*captureDump {
		t.Skip("run with -capture to capture testdata/blocker-debug2.txt again")
	}
	data := blockerDump(t, startBlocker(t))
	if err := os.WriteFile("testdata/blocker-debug2.txt", data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestGroupsRealDump(t *testing.T) {
	t.Parallel()
	gs, err := ParseDump(bytes.NewReader(blockerDump(t, startBlocker(t))))
	if err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(blockerSource)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		count  int
		state  string
		frames int // user frames of the shown stack
	}
	tests := []struct {
		name string
		by   GroupBy
		fn   string // blocking function
		want []want // its groups, largest first
	}{
		{"sender", ByStack, "main.sender", []want{{7, "chan send", 1}}},
		{"ranger", ByStack, "main.ranger", []want{{5, "chan receive", 1}}},
		{"locker", ByStack, "main.locker", []want{{4, "sync.Mutex.Lock", 1}}},
		{"selecter", ByStack, "main.selecter", []want{{3, "select", 1}}},
		{"waiter", ByStack, "main.waiter", []want{{2, "sync.WaitGroup.Wait", 1}}},
		{"deep", ByStack, "main.deep", []want{{2, "chan receive", 1}, {2, "chan receive", 2}, {2, "chan receive", 3}}},
		{"deep", BySite, "main.deep", []want{{6, "chan receive", 1}}},
		{"sender", BySite, "main.sender", []want{{7, "chan send", 1}}},
	}
	groups := map[GroupBy][]Group{ByStack: Groups(gs, GroupOptions{}), BySite: Groups(gs, GroupOptions{By: BySite})}
	for by, gr := range groups {
		total := 0
		for i, g := range gr {
			total += g.Count
			if i > 0 && g.Count > gr[i-1].Count {
				t.Errorf("%s: group %d (%d) larger than group %d (%d)", by, i, g.Count, i-1, gr[i-1].Count)
			}
		}
		if total != len(gs) {
			t.Errorf("%s: groups hold %d goroutines, dump has %d", by, total, len(gs))
		}
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+tt.by.String(), func(t *testing.T) {
			var got []Group
			for _, g := range groups[tt.by] {
				if g.Blocking.Function == tt.fn {
					got = append(got, g)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("%d groups block in %s, want %d", len(got), tt.fn, len(tt.want))
			}
			slices.SortStableFunc(got, func(a, b Group) int { return len(a.Frames) - len(b.Frames) })
			creator := markerLine(t, tt.name)
			for i, w := range tt.want {
				g := got[i]
				if g.Count != w.count || g.State != w.state || len(g.States) != 1 {
					t.Errorf("group %d: %d goroutines in %q (states %v), want %d in %q", i, g.Count, g.State, g.States, w.count, w.state)
				}
				if len(g.Frames) < w.frames || countUser(g.Frames) != w.frames {
					t.Errorf("group %d: %d user frames, want %d: %v", i, countUser(g.Frames), w.frames, g.Frames)
				}
				c := g.CreatedBy
				if c == nil || c.Function != "main.main" || c.File != abs || c.Line != creator {
					t.Errorf("group %d: created by %+v, want main.main at %s:%d", i, c, abs, creator)
				}
				if len(g.IDs) != min(g.Count, 10) || !slices.IsSorted(g.IDs) || g.Sample != g.IDs[0] {
					t.Errorf("group %d: ids %v, sample %d", i, g.IDs, g.Sample)
				}
				if g.MinWait != 0 || g.MaxWait != 0 {
					t.Errorf("group %d: waits %v-%v in a fresh process", i, g.MinWait, g.MaxWait)
				}
			}
		})
	}
	// The senders' second argument differs (0x0 … 0x6): grouping must not see it.
	args := map[string]bool{}
	for _, g := range gs {
		if len(g.Frames) > 0 && g.Frames[0].Function == "main.sender" {
			args[g.Frames[0].Args] = true
		}
	}
	if len(args) != 7 {
		t.Errorf("fixture senders show %d distinct argument lists, want 7: the test no longer proves argument values are ignored", len(args))
	}
}

func countUser(fs []snapshot.Frame) int {
	n := 0
	for _, f := range fs {
		if IsUser(f) {
			n++
		}
	}
	return n
}

// fixtureDump reads the captured fixture dump.
func fixtureDump(t testing.TB) []snapshot.Goroutine {
	t.Helper()
	f, err := os.Open("testdata/blocker-debug2.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gs, err := ParseDump(f)
	if err != nil {
		t.Fatal(err)
	}
	return gs
}

func TestGroupsFilter(t *testing.T) {
	t.Parallel()
	gs := fixtureDump(t)
	tests := []struct {
		filter string
		want   []int // group sizes
	}{
		{`main\.sender`, []int{7}},
		{`^chan receive$`, []int{5, 2, 2, 2, 1}}, // ranger, deep ×3, main
		{`main\.go:65$`, []int{2, 2}},            // deep recursing at least once
		{`^sync\.`, []int{4, 2}},                 // states and frames of locker, waiter
		{fmt.Sprintf(`blocker/main\.go:%d$`, markerLine(t, "selecter")), []int{3}}, // the creator
		{`no such thing`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			var got []int
			for _, g := range Groups(gs, GroupOptions{Filter: regexp.MustCompile(tt.filter)}) {
				got = append(got, g.Count)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("group sizes %v, want %v", got, tt.want)
			}
		})
	}
}

func TestGroupsDeterministic(t *testing.T) {
	t.Parallel()
	gs := fixtureDump(t)
	want := Groups(gs, GroupOptions{IDs: 3})
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 5; i++ {
		shuffled := slices.Clone(gs)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		got := Groups(shuffled, GroupOptions{IDs: 3})
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("shuffled input grouped differently:\n%v\nwant\n%v", got, want)
		}
	}
}

func TestGroupsSynthetic(t *testing.T) {
	t.Parallel()
	fr := func(fn string, line int) snapshot.Frame {
		return snapshot.Frame{Function: fn, File: "/src/app/" + fn + ".go", Line: line}
	}
	creator := fr("main.main", 9)
	other := fr("main.start", 4)
	g := func(id int64, state string, wait time.Duration, by *snapshot.Frame, frames ...snapshot.Frame) snapshot.Goroutine {
		return snapshot.Goroutine{ID: id, State: state, Wait: wait, CreatedBy: by, Frames: frames}
	}
	gs := []snapshot.Goroutine{
		g(9, "chan send", 3*time.Minute, &creator, fr("main.work", 1)),
		g(4, "chan send", 7*time.Minute, &creator, fr("main.work", 1)),
		g(5, "select", 0, &creator, fr("main.work", 1)),                     // other state
		g(6, "chan send", 0, &other, fr("main.work", 1)),                    // other creator
		g(7, "chan send", 0, &creator, fr("main.work", 2)),                  // other line
		g(8, "chan send", 0, &creator, fr("main.work", 1), fr("main.f", 3)), // deeper
		g(2, "chan send", time.Minute, &creator, fr("main.work", 1)),
	}
	gs[1].Frames = []snapshot.Frame{{Function: "main.work", File: "/src/app/main.work.go", Line: 1, Args: "0x1?"}}
	gs[1].Leaked = true
	tests := []struct {
		name  string
		opts  GroupOptions
		sizes []int
		check func(t *testing.T, gr []Group)
	}{
		{"stack", GroupOptions{}, []int{3, 1, 1, 1, 1}, func(t *testing.T, gr []Group) {
			g := gr[0]
			if g.MinWait != time.Duration(0)+time.Minute || g.MaxWait != 7*time.Minute || g.Leaked != 1 {
				t.Errorf("wait %v-%v leaked %d", g.MinWait, g.MaxWait, g.Leaked)
			}
			if !slices.Equal(g.IDs, []int64{2, 4, 9}) || g.Sample != 2 {
				t.Errorf("ids %v sample %d", g.IDs, g.Sample)
			}
		}},
		{"ids cut", GroupOptions{IDs: 2}, []int{3, 1, 1, 1, 1}, func(t *testing.T, gr []Group) {
			if !slices.Equal(gr[0].IDs, []int64{2, 4}) {
				t.Errorf("ids %v", gr[0].IDs)
			}
		}},
		{"no ids", GroupOptions{IDs: -1}, []int{3, 1, 1, 1, 1}, func(t *testing.T, gr []Group) {
			if gr[0].IDs != nil || gr[0].Sample != 2 {
				t.Errorf("ids %v sample %d", gr[0].IDs, gr[0].Sample)
			}
		}},
		{"site", GroupOptions{By: BySite}, []int{5, 1, 1}, func(t *testing.T, gr []Group) {
			g := gr[0]
			want := []StateCount{{"chan send", 4}, {"select", 1}}
			if !slices.Equal(g.States, want) || g.State != "chan send" {
				t.Errorf("states %v (%q), want %v", g.States, g.State, want)
			}
			if g.Blocking.Line != 1 || len(g.Frames) != 1 {
				t.Errorf("blocking %v frames %v", g.Blocking, g.Frames)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gr := Groups(gs, tt.opts)
			var sizes []int
			for _, g := range gr {
				sizes = append(sizes, g.Count)
			}
			if !slices.Equal(sizes, tt.sizes) {
				t.Fatalf("sizes %v, want %v", sizes, tt.sizes)
			}
			tt.check(t, gr)
		})
	}
	if gr := Groups(nil, GroupOptions{}); len(gr) != 0 {
		t.Errorf("no goroutines: %v", gr)
	}
}

func TestIsUserAndPackage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fn, file string
		pkg      string
		user     bool
	}{
		{"runtime.gopark", "/usr/local/go/src/runtime/proc.go", "runtime", false},
		{"net/http.(*conn).serve", "/usr/local/go/src/net/http/server.go", "net/http", false},
		{"internal/sync.(*Mutex).lockSlow", "/usr/local/go/src/internal/sync/mutex.go", "internal/sync", false},
		{"vendor/golang.org/x/net/http2/hpack.(*Decoder).Write", "/usr/local/go/src/vendor/golang.org/x/net/http2/hpack/hpack.go", "vendor/golang.org/x/net/http2/hpack", false},
		{"sync.(*WaitGroup).Wait", "sync/waitgroup.go", "sync", false}, // -trimpath
		{"time.Sleep", "", "time", false},
		{"main.main.func1", "/home/u/app/main.go", "main", true},
		{"github.com/a/b.(*T).m", "/home/u/go/pkg/mod/github.com/a/b/t.go", "github.com/a/b", true},
		{"gopkg.in/yaml%2ev3.Unmarshal", "/m/yaml.go", "gopkg.in/yaml%2ev3", true}, // Go escapes the dot
		{"internal/sync.runtime_SemacquireMutex", "/usr/local/go/src/runtime/sema.go", "internal/sync", false},
		{"os/signal.signal_enable", "/usr/local/go/src/runtime/sigqueue.go", "os/signal", false},
		{"internal/sync.runtime_SemacquireMutex", "runtime/sema.go", "internal/sync", false}, // -trimpath
		{"myapp/internal/cache.(*LRU).Get", "/home/u/myapp/internal/cache/lru.go", "myapp/internal/cache", true},
		{"main.Map[go.shape.int,go.shape.string]", "/a/main.go", "main", true},
		{"example.com/x.F[...]", "/a/x.go", "example.com/x", true},
		{"0x4a2b1c", "", "", true},
	}
	for _, tt := range tests {
		f := snapshot.Frame{Function: tt.fn, File: tt.file}
		if got := Package(tt.fn); got != tt.pkg {
			t.Errorf("Package(%q) = %q, want %q", tt.fn, got, tt.pkg)
		}
		if got := IsUser(f); got != tt.user {
			t.Errorf("IsUser(%q, %q) = %v, want %v", tt.fn, tt.file, got, tt.user)
		}
	}
}

func TestBlocking(t *testing.T) {
	t.Parallel()
	rt := snapshot.Frame{Function: "runtime.gopark", File: "/go/src/runtime/proc.go"}
	poll := snapshot.Frame{Function: "internal/poll.(*FD).Read", File: "/go/src/internal/poll/fd.go"}
	app := snapshot.Frame{Function: "main.loop", File: "/app/main.go"}
	entry := snapshot.Frame{Function: "runtime.bgsweep", File: "/go/src/runtime/mgcsweep.go"}
	tests := []struct {
		frames []snapshot.Frame
		want   string
	}{
		{[]snapshot.Frame{rt, poll, app}, "main.loop"},
		{[]snapshot.Frame{rt, poll}, poll.Function},
		{[]snapshot.Frame{rt, entry}, entry.Function},
		{nil, ""},
	}
	for i, tt := range tests {
		if got := Blocking(tt.frames).Function; got != tt.want {
			t.Errorf("%d: Blocking = %q, want %q", i, got, tt.want)
		}
	}
}

// synthetic returns n goroutines made from the fixture dump's stacks, with
// distinct IDs and about n/50 distinct stacks.
func synthetic(b testing.TB, n int) []snapshot.Goroutine {
	base := fixtureDump(b)
	gs := make([]snapshot.Goroutine, n)
	for i := range gs {
		g := base[i%len(base)]
		g.ID = int64(i + 1)
		if v := i % 50; v > 0 && len(g.Frames) > 0 {
			frames := slices.Clone(g.Frames)
			frames[0].Line += v // another blocking line: another group
			g.Frames = frames
		}
		gs[i] = g
	}
	return gs
}

func BenchmarkGroups100k(b *testing.B) {
	gs := synthetic(b, 100_000)
	for _, by := range []GroupBy{ByStack, BySite} {
		b.Run(by.String(), func(b *testing.B) {
			b.ReportAllocs()
			var n int
			for b.Loop() {
				n = len(Groups(gs, GroupOptions{By: by}))
			}
			b.ReportMetric(float64(n), "groups")
		})
	}
}

func TestSyntheticGroupCount(t *testing.T) {
	t.Parallel()
	gs := synthetic(t, 10_000)
	gr := Groups(gs, GroupOptions{})
	total := 0
	for _, g := range gr {
		total += g.Count
	}
	if total != len(gs) {
		t.Errorf("groups hold %d goroutines, want %d", total, len(gs))
	}
	// Every base stack appears with 50 different first lines (some base
	// stacks coincide), and stacks never merge across lines.
	seen := map[string]bool{}
	for _, g := range gs {
		var sb strings.Builder
		sb.WriteString(g.State)
		for _, f := range g.Frames {
			sb.WriteString("|" + f.Function + "|" + f.File + "|" + strconv.Itoa(f.Line))
		}
		if g.CreatedBy != nil {
			sb.WriteString("|" + g.CreatedBy.Function + "|" + g.CreatedBy.File + "|" + strconv.Itoa(g.CreatedBy.Line))
		}
		seen[sb.String()] = true
	}
	if len(gr) != len(seen) {
		t.Errorf("%d groups, want %d distinct stacks", len(gr), len(seen))
	}
}

// TestGroupsProfile groups a real goroutine profile (../source/testdata,
// Go 1.26): no IDs, no states, no creators, counts only.
func TestGroupsProfile(t *testing.T) {
	t.Parallel()
	f, err := os.Open("../source/testdata/goroutine.pb.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	gs, err := FromProfile(p)
	if err != nil {
		t.Fatal(err)
	}
	gr := Groups(gs, GroupOptions{})
	var sizes []int
	for _, g := range gr {
		sizes = append(sizes, g.Count)
	}
	if !slices.Equal(sizes, []int{3, 1, 1, 1, 1, 1, 1}) {
		t.Fatalf("group sizes %v", sizes)
	}
	g := gr[0]
	if g.Blocking.Function != "main.leak" || g.Sample != 0 || g.IDs != nil || g.State != "" || g.CreatedBy != nil {
		t.Errorf("largest group %+v", g)
	}
}
