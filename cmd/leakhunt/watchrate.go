package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/leakhunt/leakhunt/profiler/attach"
	"github.com/leakhunt/leakhunt/profiler/snapshot"
	"github.com/leakhunt/leakhunt/profiler/source"
)

// restoreTimeout bounds setting the old rate back; it runs after a Ctrl-C
// too, so it cannot use the command's context.
const restoreTimeout = 10 * time.Second

// setTargetRate sets runtime.MemProfileRate of the running process behind
// target (a PID, or a loopback pprof URL: the process serving it) to rate,
// so that a slow leak's allocation site shows in its heap profile sooner
// (--memprofilerate of watch and hunt). It is a write into the target: when
// interactive, the user is asked first; otherwise the flag is the consent.
// One line on io.ErrOut says what was set and how long the target was
// stopped.
//
// restore sets the old rate back, with the same kind of line, unless the
// program changed the rate itself meanwhile; call it when the command ends,
// on every path (it ignores the command's context so that it runs after a
// Ctrl-C too; calling it more than once does it once).
func setTargetRate(ctx context.Context, io *IOStreams, target string, rate int, interactive bool) (restore func(), err error) {
	if rate <= 0 {
		return nil, usageErrorf("--memprofilerate must be more than 0, got %d (0 would switch the memory profiler off; Go's default is 524288)", rate)
	}
	t, err := source.Parse(target)
	if err != nil {
		return nil, err
	}
	pid := source.LocalPID(t)
	switch {
	case t.Kind == snapshot.SourceFile || t.Kind == snapshot.SourceCore:
		return nil, usageErrorf("--memprofilerate sets the sampling rate of a running program: %s is a file; give a PID or a 127.0.0.1 URL", target)
	case pid > 0:
	case t.Kind == snapshot.SourceHTTP && !isLoopback(t.URL):
		return nil, usageErrorf("--memprofilerate writes into the program, which must run on this machine: %s is not a loopback URL; give its PID or its http://127.0.0.1:PORT URL, or set runtime.MemProfileRate in the program", target)
	default:
		return nil, fmt.Errorf("--memprofilerate: found no process on this machine listening at %s (leakhunt sees another user's sockets only as root): give the program's PID", t.URL)
	}
	if interactive {
		if err := consentToRate(ctx, io, pid, rate); err != nil {
			return nil, err
		}
	}
	c, err := attach.SetMemProfileRate(ctx, pid, rate)
	if err != nil {
		return nil, fmt.Errorf("--memprofilerate: %w", err)
	}
	if !c.Written {
		fmt.Fprintf(io.ErrOut, "runtime.MemProfileRate of PID %d is already %d: nothing written\n", pid, c.Old)
		return func() {}, nil
	}
	fmt.Fprintf(io.ErrOut, "set runtime.MemProfileRate of PID %d from %d to %d (target stopped %s); leakhunt sets it back when it finishes\n", pid, c.Old, c.New, stoppedText(c.Stopped))
	switch {
	case c.LinkerDisabled:
		fmt.Fprintf(io.ErrOut, "note: the linker had switched the memory profiler of PID %d off (the program does not import runtime/pprof): allocations are sampled from now on, and only PID captures can read them\n", pid)
	case c.Old > c.New:
		fmt.Fprintf(io.ErrOut, "note: allocations sampled before now are scaled by the new rate: their in-use bytes read up to %.0fx too low; growth from now on is measured right\n", float64(c.Old)/float64(c.New))
	}
	var once sync.Once
	return func() {
		once.Do(func() { restoreRate(ctx, io, c) })
	}, nil
}

// restoreRate sets the rate c changed back and says so in one line.
func restoreRate(ctx context.Context, io *IOStreams, c *attach.RateChange) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), restoreTimeout)
	defer cancel()
	r, err := c.Restore(ctx)
	switch {
	case errors.Is(err, attach.ErrNoProcess) || errors.Is(err, attach.ErrExited):
		fmt.Fprintf(io.ErrOut, "PID %d has exited: its runtime.MemProfileRate needs no setting back\n", c.PID)
	case errors.Is(err, attach.ErrRateChanged):
		fmt.Fprintf(io.ErrOut, "PID %d is another process now: nothing set back\n", c.PID)
	case err != nil:
		fmt.Fprintf(io.ErrOut, "could not set runtime.MemProfileRate of PID %d back to %d, it stays %d until the program exits: %s\n", c.PID, c.Old, c.New, strings.TrimPrefix(errorLine(err), "leakhunt: "))
	case !r.Written:
		fmt.Fprintf(io.ErrOut, "runtime.MemProfileRate of PID %d is now %d, not the %d leakhunt set: left as is\n", c.PID, r.New, c.New)
	default:
		fmt.Fprintf(io.ErrOut, "set runtime.MemProfileRate of PID %d back from %d to %d (target stopped %s)\n", c.PID, r.Old, r.New, stoppedText(r.Stopped))
	}
}

// consentToRate asks, on a terminal, before leakhunt writes the rate into
// the process. A Ctrl-C while it waits for the answer ends the command.
func consentToRate(ctx context.Context, io *IOStreams, pid, rate int) error {
	fmt.Fprintf(io.ErrOut, `--memprofilerate %d: leakhunt will write runtime.MemProfileRate = %d into
the running process %d, so that it records one allocation per %s (Go's default
is one per 512 KiB): a slow leak's allocation site shows sooner, at a small CPU
and memory cost to the program. leakhunt sets the old rate back when it
finishes (if leakhunt is killed, the new rate stays until the program exits).
Nothing else is changed. Write into the process? [y/N] `, rate, rate, pid, rateSize(rate))
	answer := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(io.In).ReadString('\n')
		answer <- s
	}()
	select {
	case <-ctx.Done():
		fmt.Fprintln(io.ErrOut)
		return fmt.Errorf("--memprofilerate: nothing written: %w", ctx.Err())
	case s := <-answer:
		if a := strings.ToLower(strings.TrimSpace(s)); a != "y" && a != "yes" {
			return errNoConsent
		}
	}
	return nil
}

// isLoopback reports whether a URL names this machine by a loopback address.
func isLoopback(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// stoppedText formats a short pause: "2.1 ms", "350 µs".
func stoppedText(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%d µs", d.Microseconds())
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}
