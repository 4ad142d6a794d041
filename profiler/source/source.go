// Package source turns a TARGET argument into snapshots. A target is
// recognised by its shape, here and nowhere else: an http(s) URL of a
// net/http/pprof server, a bare PID, core:FILE for a core dump, or the path of
// a saved snapshot or raw pprof profile.
package source

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/leakhunt/leakhunt/profiler/attach"
	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

// Kind is the kind of a target.
type Kind = snapshot.SourceKind

// Target is a parsed TARGET argument.
type Target struct {
	Kind Kind
	// Arg is the argument as the user gave it.
	Arg string
	// URL is the base of the pprof endpoints ("http://127.0.0.1:6060/debug/pprof/") for HTTP targets.
	URL string
	// Path is the file of a file or core target.
	Path string
	// PID is the process of a PID target.
	PID int
}

// ErrUnsupported is returned for a target kind this build cannot read yet.
var ErrUnsupported = errors.New("target kind not supported")

var hostPort = regexp.MustCompile(`^(localhost|[0-9.]+|\[[0-9a-fA-F:]+\]|[a-zA-Z0-9.-]+\.[a-zA-Z]+):[0-9]+(/.*)?$`)

// Parse recognises a TARGET argument by its shape.
func Parse(arg string) (Target, error) {
	t := Target{Arg: arg}
	switch {
	case arg == "":
		return t, errors.New("empty target: give a URL, a PID, core:FILE or a snapshot file")
	case strings.HasPrefix(arg, "http://") || strings.HasPrefix(arg, "https://"):
		base, err := baseURL(arg)
		if err != nil {
			return t, err
		}
		t.Kind, t.URL = snapshot.SourceHTTP, base
	case hostPort.MatchString(arg):
		if _, err := os.Stat(arg); err == nil {
			t.Kind, t.Path = snapshot.SourceFile, arg
			break
		}
		base, err := baseURL("http://" + arg)
		if err != nil {
			return t, err
		}
		t.Kind, t.URL = snapshot.SourceHTTP, base
	case strings.HasPrefix(arg, "core:"):
		t.Kind, t.Path = snapshot.SourceCore, strings.TrimPrefix(arg, "core:")
		if t.Path == "" {
			return t, errors.New("core: needs a file name, as in core:./core.1234")
		}
	case isPID(arg):
		if _, err := os.Stat(arg); err == nil {
			t.Kind, t.Path = snapshot.SourceFile, arg
			break
		}
		pid, err := strconv.Atoi(arg)
		if err != nil || pid <= 0 {
			return t, fmt.Errorf("%s is not a valid PID", arg)
		}
		t.Kind, t.PID = snapshot.SourcePID, pid
	default:
		t.Kind, t.Path = snapshot.SourceFile, arg
	}
	return t, nil
}

func isPID(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// baseURL turns what the user gave into the URL under which the profiles live:
// the scheme and host alone mean /debug/pprof/; a path containing /debug/pprof
// is cut after it; any other path is taken as the mount point itself.
func baseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%q is not a valid URL: give one like http://127.0.0.1:6060", raw)
	}
	u.RawQuery, u.Fragment = "", ""
	switch i := strings.Index(u.Path, "/debug/pprof"); {
	case u.Path == "" || u.Path == "/":
		u.Path = "/debug/pprof/"
	case i >= 0:
		u.Path = u.Path[:i] + "/debug/pprof/"
	case !strings.HasSuffix(u.Path, "/"):
		u.Path += "/"
	}
	return u.String(), nil
}

// Parts selects what a capture takes. The zero value takes everything.
type Parts uint8

// The parts of a snapshot.
const (
	PartHeap Parts = 1 << iota
	PartGoroutines
	PartMemStats
	PartAll = PartHeap | PartGoroutines | PartMemStats
)

// Has reports whether p includes q; the zero Parts includes everything.
func (p Parts) Has(q Parts) bool { return p == 0 || p&q != 0 }

// Options tune a capture. The zero value is ready to use.
type Options struct {
	// Parts selects what to capture; zero means everything.
	Parts Parts
	// Timeout bounds each network request; zero means 30s.
	Timeout time.Duration
	// Client is the HTTP client for URL targets; nil means a new one.
	Client *http.Client
	// Now gives the capture time; nil means time.Now.
	Now func() time.Time
	// Tool names the program writing the snapshot.
	Tool string
	// Exe is the executable of a core target when it cannot be found from the core.
	Exe string
	// EnableProfiling allows writing runtime.MemProfileRate into a PID target
	// whose memory profiler is off. The caller asks the user first.
	EnableProfiling bool
	// GC asks an HTTP target to run a garbage collection before writing its
	// heap profile (heap?gc=1), so the profile reflects the heap now rather
	// than at the last collection. It costs the target one GC cycle.
	GC bool
	// NoLeakCheck skips the runtime's goroutine leak detector. By default an
	// HTTP capture asks /debug/pprof/goroutineleak first when the target has it
	// (Go 1.27, or 1.26 with GOEXPERIMENT=goroutineleakprofile): it costs the
	// target one extra GC cycle and marks leaked goroutines in the dump.
	NoLeakCheck bool
	// LazyHeap keeps a file target's heap profile encoded in
	// Snapshot.HeapData instead of decoding it into Snapshot.Heap, for
	// callers that only aggregate it (top, diff): analyze reads it directly,
	// several times faster and in a fraction of the memory on big profiles.
	LazyHeap bool
	// Locals asks PID and core sources to read each frame's arguments and
	// locals into Frame.Vars (slower; the target stays stopped longer).
	Locals bool
}

func (o *Options) setDefaults() {
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// attachOptions passes the options that apply to PID and core targets on.
func attachOptions(o Options) attach.Options {
	return attach.Options{
		Locals: o.Locals, EnableProfiling: o.EnableProfiling, Now: o.Now, Tool: o.Tool,
		SkipHeap: !o.Parts.Has(PartHeap), SkipGoroutines: !o.Parts.Has(PartGoroutines), SkipMemStats: !o.Parts.Has(PartMemStats),
	}
}

// Capture takes a snapshot of t.
func Capture(ctx context.Context, t Target, opts Options) (*snapshot.Snapshot, error) {
	opts.setDefaults()
	switch t.Kind {
	case snapshot.SourceHTTP:
		return captureHTTP(ctx, t.URL, opts)
	case snapshot.SourceFile:
		return loadFile(t.Path, opts.LazyHeap)
	case snapshot.SourcePID:
		return attach.Capture(ctx, t.PID, attachOptions(opts))
	case snapshot.SourceCore:
		return attach.CaptureCore(ctx, t.Path, opts.Exe, attachOptions(opts))
	}
	return nil, fmt.Errorf("unknown target kind %q", t.Kind)
}
