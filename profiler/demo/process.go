package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Options say how to start a demo.
type Options struct {
	// Args are the demo's own flags: -fixed, -rate N, -addr HOST:PORT...
	Args []string
	// Stdout receives the demo's output after its start banner, Stderr its
	// error output (held until the banner is out, so that a demo that fails
	// to start is reported as one error); nil discards it.
	Stdout, Stderr io.Writer
	// StopTimeout is how long Stop waits after SIGTERM before it kills the
	// demo; 0 means 5 s.
	StopTimeout time.Duration
	// Env is the demo's environment, as os.Environ gives it; nil means
	// leakhunt's own. watch.WithMemProfileRate makes one that sets the heap
	// profile's sampling rate.
	Env []string
}

func (o *Options) setDefaults() {
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 5 * time.Second
	}
}

// Process is a running demo.
type Process struct {
	// PID is the demo's process id.
	PID int
	// URL is its net/http/pprof endpoint (http://HOST:PORT/debug/pprof/), or
	// "" when it serves none.
	URL string
	// Banner is the start banner the demo printed, one line per fact.
	Banner []string

	cmd     *exec.Cmd
	cancel  context.CancelFunc
	stopped atomic.Bool // Stop was called or ctx is done
	done    chan struct{}
	err     error
}

// Run builds demo name in dir (see Build) and starts it (see Start).
func Run(ctx context.Context, name, dir string, build BuildOptions, opts Options) (*Process, error) {
	bin, err := Build(ctx, name, dir, build)
	if err != nil {
		return nil, err
	}
	return Start(ctx, bin, opts)
}

// Start starts the demo binary bin and returns once it has printed its start
// banner (PID, what it leaks, its pprof endpoint). The demo runs until Stop
// is called or ctx is done; either sends it SIGTERM, and SIGKILL if it has
// not exited StopTimeout later.
func Start(ctx context.Context, bin string, opts Options) (*Process, error) {
	opts.setDefaults()
	ctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(ctx, bin, opts.Args...)
	p := &Process{cmd: cmd, cancel: cancel, done: make(chan struct{})}
	cmd.Cancel = func() error {
		p.stopped.Store(true)
		return cmd.Process.Signal(syscall.SIGTERM)
	}
	cmd.WaitDelay = opts.StopTimeout
	cmd.Env = opts.Env
	ownGroup(cmd)
	dieWithParent(cmd)
	bw := &bannerWriter{out: opts.Stdout, ready: make(chan struct{})}
	errOut := &holdWriter{out: opts.Stderr}
	cmd.Stdout, cmd.Stderr = bw, errOut
	if err := start(cmd, p.done); err != nil {
		cancel()
		return nil, fmt.Errorf("start demo %s: %w", bin, err)
	}
	p.PID = cmd.Process.Pid
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	select {
	case <-bw.ready:
	case <-p.done:
		select {
		case <-bw.ready: // it printed its banner, then exited: report that as is
		default:
			cancel()
			return nil, fmt.Errorf("demo %s exited before it started (%s): %s", filepath.Base(bin), p.cmd.ProcessState, errOut.lastLine())
		}
	case <-ctx.Done():
		p.Stop()
		return nil, fmt.Errorf("start demo %s: %w", bin, ctx.Err())
	}
	errOut.release()
	p.Banner = bw.banner()
	for _, l := range p.Banner {
		if u, ok := strings.CutPrefix(l, "pprof: "); ok && strings.HasPrefix(u, "http") {
			p.URL = u
		}
		if s, ok := strings.CutPrefix(l, "pid "); ok {
			if pid, err := strconv.Atoi(s); err == nil && pid != p.PID {
				p.Stop()
				return nil, fmt.Errorf("demo %s says it is pid %d, but it was started as %d", bin, pid, p.PID)
			}
		}
	}
	return p, nil
}

// Stop asks the demo to exit (SIGTERM), kills it if it has not exited within
// StopTimeout, and waits for it. It returns an error only when the demo had
// to be killed or had already failed; ExitCode tells how it exited. Stop may
// be called more than once.
func (p *Process) Stop() error {
	p.stopped.Store(true)
	p.cancel()
	<-p.done
	return p.exitErr()
}

// ExitCode is the demo's exit status once it has exited (-1 when a signal
// ended it, or while it runs). A demo built with -race exits with 66 when it
// raced.
func (p *Process) ExitCode() int {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	default:
		return -1
	}
}

// Done is closed when the demo has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait waits for the demo to exit and returns how it ended.
func (p *Process) Wait() error {
	<-p.done
	return p.exitErr()
}

// exitErr says how the demo ended: nil when it exited successfully or
// because it was asked to (whatever its status); an error when it was
// killed or failed on its own.
func (p *Process) exitErr() error {
	st := p.cmd.ProcessState
	if st == nil {
		return fmt.Errorf("demo: %w", p.err)
	}
	ws, _ := st.Sys().(syscall.WaitStatus)
	switch {
	case ws.Signaled() && ws.Signal() == syscall.SIGKILL:
		return errors.New("demo did not exit after SIGTERM and was killed")
	case p.stopped.Load() || st.Success():
		return nil
	}
	return fmt.Errorf("demo exited: %s", st)
}

// bannerWriter collects the demo's stdout up to and including the "pprof:"
// line, which ends the banner, then passes the rest on to out.
type bannerWriter struct {
	out   io.Writer
	ready chan struct{}

	mu    sync.Mutex
	buf   bytes.Buffer
	lines []string
	done  bool
}

func (w *bannerWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return w.write(b)
	}
	w.buf.Write(b)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil { // no full line yet: keep it for the next write
			rest := []byte(line)
			w.buf.Reset()
			w.buf.Write(rest)
			return len(b), nil
		}
		line = strings.TrimRight(line, "\r\n")
		w.lines = append(w.lines, line)
		if strings.HasPrefix(line, "pprof:") {
			w.done = true
			close(w.ready)
			if w.buf.Len() > 0 {
				w.write(w.buf.Bytes())
			}
			return len(b), nil
		}
	}
}

// write passes b on, ignoring the output's errors: a closed terminal must
// not stop the demo.
func (w *bannerWriter) write(b []byte) (int, error) {
	w.out.Write(b)
	return len(b), nil
}

func (w *bannerWriter) banner() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.lines...)
}

// holdWriter holds the demo's stderr until the demo has started, so that a
// demo that fails to start is reported in one line, then passes it on.
type holdWriter struct {
	out  io.Writer
	mu   sync.Mutex
	buf  bytes.Buffer
	open bool
}

func (w *holdWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.open {
		w.out.Write(b)
	} else if w.buf.Len() < 64<<10 {
		w.buf.Write(b)
	}
	return len(b), nil
}

// release passes on what was held and everything written from now on.
func (w *holdWriter) release() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.out.Write(w.buf.Bytes())
	w.buf.Reset()
	w.open = true
}

// lastLine is the last non-empty line held: a demo's own error message.
func (w *holdWriter) lastLine() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(w.buf.String()), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
