package watch

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"time"
)

// Child is a program started to be watched (leakhunt watch -- COMMAND). Its
// output is copied to a writer of the caller's, and watched for the URL of
// its net/http/pprof endpoint.
type Child struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // Wait's result, once done is closed

	urlOnce sync.Once
	url     chan string
}

// stopGrace is how long a started program has to exit after SIGTERM.
const stopGrace = 5 * time.Second

// urlPattern finds a loopback pprof endpoint in a program's output, such as
// "pprof: http://127.0.0.1:41234/debug/pprof/" or "listening on
// http://localhost:6060".
var urlPattern = regexp.MustCompile(`https?://(?:127\.0\.0\.1|localhost|\[::1\]):[0-9]+(?:/[^\s"'<>]*)?`)

// StartOptions say how StartWith runs a program. The zero value runs it as
// Start does: with leakhunt's own environment, untouched.
type StartOptions struct {
	// Env is the program's environment, as os.Environ gives it; nil means
	// leakhunt's own.
	Env []string
	// MemProfileRate, when more than 0, is the heap profile's sampling rate
	// the program starts with (runtime.MemProfileRate, in bytes allocated
	// per sample), passed in GODEBUG as WithMemProfileRate does: a
	// memprofilerate already in the environment's GODEBUG wins. 0 leaves the
	// runtime's default. DefaultMemProfileRate is leakhunt's choice.
	MemProfileRate int
}

// Start runs argv[0] with argv[1:], copying its standard output and error to
// out. The program runs in its own process group, so a Ctrl-C at the
// terminal reaches leakhunt, which finishes its sample, and not the program,
// which Stop ends. On Linux the program also gets SIGTERM if the caller's
// process dies without calling Stop (killed with SIGKILL, say).
func Start(argv []string, out io.Writer) (*Child, error) {
	return StartWith(argv, out, StartOptions{})
}

// StartWith is Start with options: the program's environment and the heap
// sampling rate it starts with.
func StartWith(argv []string, out io.Writer, opts StartOptions) (*Child, error) {
	if len(argv) == 0 {
		return nil, errors.New("no command to start")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	if opts.Env != nil || opts.MemProfileRate > 0 {
		env := opts.Env
		if env == nil {
			env = os.Environ()
		}
		cmd.Env = WithMemProfileRate(env, opts.MemProfileRate)
	}
	setProcessGroup(cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	c := &Child{cmd: cmd, done: make(chan struct{}), url: make(chan string, 1)}
	if err := startChild(cmd, c.done); err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	var mu sync.Mutex // out is written from two goroutines
	var copied sync.WaitGroup
	copied.Add(2)
	go c.scan(stdout, out, &mu, &copied)
	go c.scan(stderr, out, &mu, &copied)
	go func() {
		copied.Wait()
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

func (c *Child) scan(r io.Reader, out io.Writer, mu *sync.Mutex, wg *sync.WaitGroup) {
	defer wg.Done()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if u := urlPattern.FindString(line); u != "" {
			c.urlOnce.Do(func() { c.url <- u })
		}
		mu.Lock()
		fmt.Fprintln(out, line)
		mu.Unlock()
	}
	io.Copy(io.Discard, r) // a line too long for the scanner: keep the pipe flowing
}

// PID is the started program's process ID.
func (c *Child) PID() int { return c.cmd.Process.Pid }

// WaitURL waits until the program prints the URL of a loopback HTTP server,
// exits, or timeout passes.
func (c *Child) WaitURL(ctx context.Context, timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case u := <-c.url:
		return u, nil
	case <-c.done:
		select {
		case u := <-c.url:
			return u, nil
		default:
		}
		return "", fmt.Errorf("%s exited before printing a pprof URL: %v", c.cmd.Path, c.exitStatus())
	case <-t.C:
		return "", fmt.Errorf("%s printed no http://127.0.0.1:PORT URL within %s", c.cmd.Path, timeout)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Done is closed once the program has exited and all its output has been
// copied.
func (c *Child) Done() <-chan struct{} { return c.done }

// Exited reports whether the program has exited.
func (c *Child) Exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *Child) exitStatus() error {
	if c.err == nil {
		return errors.New("exit status 0")
	}
	return c.err
}

// Stop ends the program: SIGTERM, then SIGKILL if it is still running after
// a grace period. It returns once the program has exited.
func (c *Child) Stop() {
	if c.Exited() {
		return
	}
	terminate(c.cmd)
	select {
	case <-c.done:
	case <-time.After(stopGrace):
		c.cmd.Process.Kill()
		<-c.done
	}
}
