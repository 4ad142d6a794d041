// Package pprofweb serves pprof's own web UI (flame graph, call graph, top,
// source, peek) on a profile leakhunt already holds, by embedding
// github.com/google/pprof/driver: the profile comes from a fetcher of ours
// instead of a URL or file, the command line pprof would parse is built
// here, and the HTTP server is ours, so it listens where the caller says,
// reports the address it got, and stops when the context ends.
//
// pprof's driver keeps its settings in package state (the sample type shown,
// saved views), so one process should run one Serve at a time.
package pprofweb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/pprof/driver"
	"github.com/google/pprof/profile"
)

// DefaultAddr is where the UI listens unless told otherwise: the loopback
// interface only, on a port the system picks.
const DefaultAddr = "127.0.0.1:0"

// The names the profiles go by on the command line given to pprof's
// driver; the fetcher answers only these.
const (
	profileSource = "leakhunt:profile"
	baseSource    = "leakhunt:base"
)

// Options tune Serve. The zero value serves the profile on DefaultAddr with
// its default sample type.
type Options struct {
	// Addr is the host:port to listen on; empty means DefaultAddr. A port of
	// 0 lets the system pick one (Ready is told which).
	Addr string
	// Base, when set, is shown as pprof -diff_base shows a base profile: its
	// samples are subtracted from the profile's and marked as the base, so
	// the UI shows what changed.
	Base *profile.Profile
	// SampleIndex picks the sample type shown first ("inuse_space",
	// "alloc_objects"...); empty keeps the profile's default.
	SampleIndex string
	// Log receives pprof's messages (warnings, errors); nil discards them.
	Log io.Writer
	// Ready is called with the UI's URL ("http://127.0.0.1:41234") once it
	// accepts connections.
	Ready func(url string)
}

// Serve runs pprof's web UI on p until ctx ends, then shuts the server down
// and returns nil. It returns an error when pprof refuses the profile or the
// address cannot be listened on. p and Base are not modified.
func Serve(ctx context.Context, p *profile.Profile, opts Options) error {
	if p == nil {
		return errors.New("no profile to serve")
	}
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if _, _, err := net.SplitHostPort(opts.Addr); err != nil {
		return fmt.Errorf("bad address %q: want HOST:PORT, such as %s", opts.Addr, DefaultAddr)
	}
	args := []string{"-http=" + opts.Addr, "-no_browser"}
	f := fetcher{profileSource: p}
	if opts.Base != nil {
		args = append(args, "-diff_base="+baseSource)
		f[baseSource] = opts.Base
	}
	// Always given, even empty: the driver keeps its settings between runs
	// in one process, and an empty value restores the profile's default.
	args = append(args, "-sample_index="+opts.SampleIndex)
	args = append(args, profileSource)
	s := &server{ctx: ctx, ready: opts.Ready}
	flags := newFlagSet(args, opts.Log)
	err := driver.PProf(&driver.Options{
		Flagset:    flags,
		Fetch:      f,
		Sym:        symbolized{},
		UI:         ui{w: opts.Log},
		HTTPServer: s.serve,
	})
	if flags.err != nil {
		return fmt.Errorf("pprof web UI: %w", flags.err)
	}
	if err != nil {
		return fmt.Errorf("pprof web UI: %w", err)
	}
	return nil
}

// fetcher hands pprof's driver copies of the profiles, by source name. The
// driver changes what it fetches (it scales a base by -1 and merges).
type fetcher map[string]*profile.Profile

func (f fetcher) Fetch(src string, _, _ time.Duration) (*profile.Profile, string, error) {
	p, ok := f[src]
	if !ok {
		return nil, "", fmt.Errorf("unknown profile source %q", src)
	}
	// An empty source URL tells the driver the profile is local: it neither
	// saves a copy under $HOME/pprof nor tries remote symbolization.
	return p.Copy(), "", nil
}

// symbolized is the symbolizer for profiles that already carry function
// names, files and lines, as every profile from a Go runtime does: pprof
// would otherwise look for the binaries.
type symbolized struct{}

func (symbolized) Symbolize(string, driver.MappingSources, *profile.Profile) error { return nil }

// ui is pprof's user interface when nobody types: messages go to a writer,
// there is no prompt, and no browser is opened.
type ui struct{ w io.Writer }

func (u ui) ReadLine(string) (string, error) { return "", io.EOF }

func (u ui) Print(args ...any) {
	msg := fmt.Sprint(args...)
	// The driver names the address it asked for (port 0); Ready reports the real one.
	if strings.HasPrefix(msg, "Serving web UI on ") {
		return
	}
	u.print(msg)
}

func (u ui) PrintErr(args ...any) { u.print(fmt.Sprint(args...)) }

func (u ui) print(msg string) {
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	io.WriteString(u.w, msg)
}

func (ui) IsTerminal() bool                    { return false }
func (ui) WantBrowser() bool                   { return false }
func (ui) SetAutoComplete(func(string) string) {}

// server is the HTTP server behind the UI: pprof's handlers, on a listener
// of ours, until the context ends.
type server struct {
	ctx   context.Context
	ready func(string)
}

func (s *server) serve(args *driver.HTTPServerArgs) error {
	if err := s.ctx.Err(); err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(s.ctx, "tcp", args.Hostport)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", args.Hostport, err)
	}
	srv := &http.Server{
		Handler:           handler(args.Handlers, isLoopback(args.Host)),
		ReadHeaderTimeout: 10 * time.Second,
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-s.ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(shutdown) != nil {
			srv.Close()
		}
	}()
	if s.ready != nil {
		s.ready("http://" + ln.Addr().String())
	}
	err = srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		<-stopped
		return nil
	}
	return err
}

// handler routes exact paths to pprof's handlers ("/" redirects to the
// flame graph). On a loopback address it answers local clients only, as
// pprof's own server does.
func handler(routes map[string]http.Handler, localOnly bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if localOnly {
			host, _, err := net.SplitHostPort(r.RemoteAddr)
			if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
				http.Error(w, "permission denied", http.StatusForbidden)
				return
			}
		}
		h, ok := routes[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
