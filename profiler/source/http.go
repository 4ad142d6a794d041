package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/google/pprof/profile"

	"github.com/leakhunt/leakhunt/profiler/goroutines"
	"github.com/leakhunt/leakhunt/profiler/pproftext"
	"github.com/leakhunt/leakhunt/profiler/procfs"
	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

// dumpLimit is the size at which the runtime cuts a debug=2 goroutine dump.
const dumpLimit = 64 << 20

// captureHTTP takes a snapshot from a net/http/pprof server whose endpoints live under base.
func captureHTTP(ctx context.Context, base string, opts Options) (*snapshot.Snapshot, error) {
	start := opts.Now()
	s := &snapshot.Snapshot{Capture: snapshot.Capture{Source: snapshot.SourceHTTP, Address: base, Time: start, Tool: opts.Tool}}
	if opts.Parts.Has(PartHeap) {
		path := "heap"
		if opts.GC {
			path = "heap?gc=1"
		}
		data, err := get(ctx, base, path, opts)
		if err != nil {
			return nil, err
		}
		p, err := profile.Parse(bytes.NewReader(data))
		if err != nil || !isHeapProfile(p) {
			return nil, fmt.Errorf("%sheap answered, but not with a Go heap profile: is %s a net/http/pprof endpoint?", base, base)
		}
		s.Heap = p
	}
	if opts.Parts.Has(PartMemStats) {
		data, err := get(ctx, base, "heap?debug=1", opts)
		if err != nil {
			return nil, err
		}
		_, ms, err := pproftext.ParseHeap(data)
		if err != nil {
			return nil, fmt.Errorf("%sheap?debug=1 answered, but not with a Go heap profile: is %s a net/http/pprof endpoint?", base, base)
		}
		s.MemStats = ms
	}
	if opts.Parts.Has(PartGoroutines) {
		if !opts.NoLeakCheck {
			leakCheck(ctx, s, base, opts)
		}
		data, err := get(ctx, base, "goroutine?debug=2", opts)
		if err != nil {
			return nil, err
		}
		gs, err := goroutines.ParseDump(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%sgoroutine?debug=2 answered, but not with a goroutine dump: is %s a net/http/pprof endpoint?", base, base)
		}
		s.Goroutines = gs
		if len(data) >= dumpLimit {
			s.Capture.Notes = append(s.Capture.Notes, fmt.Sprintf("the goroutine dump was cut by the runtime at 64 MiB: %d goroutines read; attach by PID to see them all", len(gs)))
		}
	}
	// The command line and the process behind a loopback address are extras:
	// a server without them is still a good target.
	if data, err := get(ctx, base, "cmdline", opts); err == nil && !bytes.Contains(data, []byte("<html")) {
		args := strings.Split(strings.TrimRight(string(data), "\x00\n"), "\x00")
		if len(args) > 0 && args[0] != "" {
			s.Target.Args = args
			s.Target.Program = filepath.Base(args[0])
		}
	}
	fillLocalProcess(s, base)
	s.Capture.Duration = opts.Now().Sub(start)
	return s, nil
}

// leakCheck runs the runtime's goroutine leak detector when the target has
// one. Leaked goroutines are then marked "(leaked)" in the dump read next.
// A target without the endpoint answers 404, which is not an error here.
func leakCheck(ctx context.Context, s *snapshot.Snapshot, base string, opts Options) {
	data, err := get(ctx, base, "goroutineleak?debug=1", opts)
	if err != nil || !pproftext.IsGoroutine(data) {
		return
	}
	p, err := pproftext.ParseGoroutine(data)
	if err != nil {
		return
	}
	var n int64
	for _, smp := range p.Sample {
		n += smp.Value[0]
	}
	s.Capture.LeakCheck = true
	if n > 0 {
		s.Capture.Notes = append(s.Capture.Notes, fmt.Sprintf("the runtime's goroutine leak detector found %d leaked goroutines", n))
	}
}

// fillLocalProcess finds the process serving a loopback URL and records its
// PID, executable, Go version and memory.
func fillLocalProcess(s *snapshot.Snapshot, base string) {
	pid := loopbackPID(base)
	if pid == 0 {
		return
	}
	s.Target.PID = pid
	s.Target.Host = procfs.Hostname()
	if path, err := procfs.ExePath(pid); err == nil {
		s.Target.Path = path
		if s.Target.Program == "" {
			s.Target.Program = filepath.Base(path)
		}
	}
	if bi, err := procfs.BuildInfo(pid); err == nil {
		s.Target.GoVersion = bi.GoVersion
		s.Target.BuildInfo = bi.String()
	}
	if m, err := procfs.ReadMemory(pid); err == nil {
		s.Process = &snapshot.Process{RSS: m.RSS, PeakRSS: m.PeakRSS, AnonRSS: m.AnonRSS, Threads: m.Threads}
	}
}

// loopbackPID is the process on this machine listening on a loopback URL's
// port, 0 when the URL is not a loopback one or nothing is found.
func loopbackPID(base string) int {
	u, err := url.Parse(base)
	if err != nil {
		return 0
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return 0
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		if port = 80; u.Scheme == "https" {
			port = 443
		}
	}
	pid, err := procfs.ListenerPID(port)
	if err != nil {
		return 0
	}
	return pid
}

// LocalPID is the process on this machine behind t: a PID target's PID, or
// the process serving a loopback URL; 0 when there is none (a remote URL, a
// file, a core).
func LocalPID(t Target) int {
	switch t.Kind {
	case snapshot.SourcePID:
		return t.PID
	case snapshot.SourceHTTP:
		return loopbackPID(t.URL)
	}
	return 0
}

// get fetches base+path and returns the body of a 200 answer, or an error a
// user can act on.
func get(ctx context.Context, base, path string, opts Options) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	u := base + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("bad URL %s: %w", u, err)
	}
	resp, err := opts.Client.Do(req)
	if err != nil {
		return nil, explainHTTPError(ctx, base, opts, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("%s answered 404 Not Found: no pprof endpoint there (import net/http/pprof, or give the URL it is mounted at)", u)
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		line := strings.TrimSpace(strings.SplitN(string(msg), "\n", 2)[0])
		if line != "" {
			line = ": " + line
		}
		return nil, fmt.Errorf("%s answered HTTP %s%s", u, resp.Status, line)
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", u, explainHTTPError(ctx, base, opts, err))
	}
	return data, nil
}

func explainHTTPError(ctx context.Context, base string, opts Options, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%s did not answer within %s: the server hangs or is overloaded (raise --timeout to wait longer)", base, opts.Timeout)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("capture from %s: %w", base, context.Canceled)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("nothing is listening at %s: is the program running and serving net/http/pprof on that address?", base)
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return fmt.Errorf("cannot resolve host %q in %s: check the URL", dnsErr.Name, base)
	}
	return fmt.Errorf("fetch %s: %w", base, err)
}
