//go:build linux && amd64

package attach

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// defaultRate is Go's runtime.MemProfileRate.
const defaultRate = 512 * 1024

// heapRate is the runtime.MemProfileRate the program itself sees: runtime/pprof
// prints twice it in the header of /debug/pprof/heap?debug=1 ("@ heap/1048576").
func heapRate(t *testing.T, addr string) int {
	t.Helper()
	body := string(fetch(t, addr, "heap?debug=1"))
	line, _, _ := strings.Cut(body, "\n")
	_, after, ok := strings.Cut(line, "@ heap/")
	n, err := strconv.Atoi(strings.TrimSpace(after))
	if !ok || err != nil {
		t.Fatalf("no rate in the heap profile's header %q", line)
	}
	return n / 2
}

// TestSetMemProfileRate sets and restores the rate of real processes built by
// both Go releases, as PIE and without DWARF, and checks what each program
// itself then sees.
func TestSetMemProfileRate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, name := range []string{"go1.26", "go1.26-pie", "go1.27", "go1.27-pie", "nodwarf"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := start(t, fixtureBin(t, name), "-addr", "127.0.0.1:0", "-rate", "0")
			if got := heapRate(t, p.addr); got != defaultRate {
				t.Fatalf("the program starts with rate %d, want %d", got, defaultRate)
			}
			c, err := SetMemProfileRate(ctx, p.pid, 65536)
			if err != nil {
				t.Fatal(err)
			}
			if c.PID != p.pid || c.Old != defaultRate || c.New != 65536 || !c.Written || c.LinkerDisabled || c.Stopped <= 0 {
				t.Fatalf("change %+v", *c)
			}
			t.Logf("set from %d to %d, target stopped %s", c.Old, c.New, c.Stopped)
			assertRunning(t, p)
			if got := heapRate(t, p.addr); got != 65536 {
				t.Fatalf("the program sees rate %d after the write, want 65536", got)
			}

			// The same rate again: nothing to write.
			again, err := SetMemProfileRate(ctx, p.pid, 65536)
			if err != nil {
				t.Fatal(err)
			}
			if again.Written || again.Old != 65536 || again.New != 65536 {
				t.Fatalf("second change %+v", *again)
			}
			if r, err := again.Restore(ctx); err != nil || r.Written || r.New != 65536 {
				t.Fatalf("restoring a change that wrote nothing: %+v, %v", r, err)
			}

			r, err := c.Restore(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if r.Old != 65536 || r.New != defaultRate || !r.Written {
				t.Fatalf("restore %+v", *r)
			}
			assertRunning(t, p)
			if got := heapRate(t, p.addr); got != defaultRate {
				t.Fatalf("the program sees rate %d after the restore, want %d", got, defaultRate)
			}
		})
	}
}

// TestRestoreLeavesOthersAlone checks that Restore writes nothing when the
// rate was changed by someone else meanwhile, or when the PID now names
// another process.
func TestRestoreLeavesOthersAlone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := start(t, fixtureBin(t, "go1.26"), "-addr", "127.0.0.1:0", "-rate", "0")
	c, err := SetMemProfileRate(ctx, p.pid, 65536)
	if err != nil {
		t.Fatal(err)
	}
	// Someone else sets another rate.
	other, err := SetMemProfileRate(ctx, p.pid, 4096)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Restore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Written || r.Old != 4096 || r.New != 4096 {
		t.Fatalf("restore over another change %+v", *r)
	}
	if got := heapRate(t, p.addr); got != 4096 {
		t.Fatalf("rate %d after a restore that must write nothing, want 4096", got)
	}

	// The same PID, another process (its start time differs).
	reused := *other
	reused.startTime++
	if _, err := reused.Restore(ctx); !errors.Is(err, ErrRateChanged) {
		t.Fatalf("restore into a restarted process: %v", err)
	}
	if got := heapRate(t, p.addr); got != 4096 {
		t.Fatalf("rate %d after a refused restore, want 4096", got)
	}
	if _, err := other.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if got := heapRate(t, p.addr); got != 65536 {
		t.Fatalf("rate %d after the restore, want 65536", got)
	}
	assertRunning(t, p)

	// The process is gone.
	syscall.Kill(p.pid, syscall.SIGKILL)
	<-p.done
	if _, err := c.Restore(ctx); !errors.Is(err, ErrNoProcess) {
		t.Fatalf("restore after the exit: %v", err)
	}
}

// TestSetMemProfileRateLinkerDisabled switches on the memory profiler of a
// program whose linker disabled it, checks that it samples from then on, and
// switches it off again.
func TestSetMemProfileRateLinkerDisabled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := start(t, fixtureBin(t, "noprof"))
	c, err := SetMemProfileRate(ctx, p.pid, 65536)
	if err != nil {
		t.Fatal(err)
	}
	if c.Old != 0 || c.New != 65536 || !c.Written || !c.LinkerDisabled {
		t.Fatalf("change %+v", *c)
	}
	assertRunning(t, p)
	// The program keeps allocating in main.grow: samples appear.
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := Capture(ctx, p.pid, Options{SkipGoroutines: true})
		if err != nil {
			t.Fatal(err)
		}
		grow := false
		for _, smp := range s.Heap.Sample {
			if len(smp.Location) > 0 && smp.Location[0].Line[0].Function.Name == "main.grow" {
				grow = true
			}
		}
		if *s.Capture.MemProfileRate != 65536 {
			t.Fatalf("capture reads rate %d, want 65536", *s.Capture.MemProfileRate)
		}
		if grow {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no main.grow sample 30 s after setting the rate: %d samples", len(s.Heap.Sample))
		}
		time.Sleep(100 * time.Millisecond)
	}
	r, err := c.Restore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.New != 0 || !r.Written {
		t.Fatalf("restore %+v", *r)
	}
	s, err := Capture(ctx, p.pid, Options{SkipGoroutines: true, SkipHeap: true})
	if err != nil {
		t.Fatal(err)
	}
	if *s.Capture.MemProfileRate != 0 {
		t.Fatalf("rate %d after the restore, want 0", *s.Capture.MemProfileRate)
	}
	assertRunning(t, p)
}

// TestSetMemProfileRateErrors provokes the errors a user can meet; the
// target is left as it was.
func TestSetMemProfileRateErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("bad rate", func(t *testing.T) {
		for _, rate := range []int{0, -1} {
			if _, err := SetMemProfileRate(ctx, 1, rate); !errors.Is(err, ErrBadRate) {
				t.Errorf("rate %d: %v", rate, err)
			}
		}
	})
	t.Run("no such PID", func(t *testing.T) {
		if _, err := SetMemProfileRate(ctx, exitedPID(t), 65536); !errors.Is(err, ErrNoProcess) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("not Go", func(t *testing.T) {
		if _, err := SetMemProfileRate(ctx, notGoPID(t), 65536); !errors.Is(err, ErrNotGo) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("no symbol table", func(t *testing.T) {
		p := start(t, fixtureBin(t, "nosym"))
		_, err := SetMemProfileRate(ctx, p.pid, 65536)
		if !errors.Is(err, ErrNoSymbols) || !strings.Contains(err.Error(), "-ldflags=-s") {
			t.Fatalf("got %v", err)
		}
		assertRunning(t, p)
	})
	t.Run("already traced", func(t *testing.T) {
		p := start(t, fixtureBin(t, "go1.26"), "-addr", "127.0.0.1:0", "-rate", "0")
		h := startHelper(t, "hang", p.pid)
		_, err := SetMemProfileRate(ctx, p.pid, 65536)
		if !errors.Is(err, ErrTraced) || !strings.Contains(err.Error(), fmt.Sprint(h.cmd.Process.Pid)) {
			t.Fatalf("got %v", err)
		}
		h.cmd.Process.Kill()
		<-h.done
		assertRunning(t, p)
		if got := heapRate(t, p.addr); got != defaultRate {
			t.Fatalf("rate %d, want %d untouched", got, defaultRate)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		p := start(t, fixtureBin(t, "go1.26"), "-addr", "127.0.0.1:0", "-rate", "0")
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := SetMemProfileRate(cctx, p.pid, 65536); !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
		assertRunning(t, p)
		if got := heapRate(t, p.addr); got != defaultRate {
			t.Fatalf("rate %d, want %d untouched", got, defaultRate)
		}
	})
	t.Run("exits while stopped", func(t *testing.T) {
		p := start(t, fixtureBin(t, "go1.26"), "-rate", "0")
		_, err := setRate(ctx, p.pid, 65536, rateWrite{}, func(context.Context) {
			syscall.Kill(p.pid, syscall.SIGKILL)
		})
		// The write may land in the dying process or fail; it never hangs
		// and never reports a change it could not verify.
		if err != nil && !strings.Contains(err.Error(), strconv.Itoa(p.pid)) {
			t.Fatalf("the error does not name the process: %v", err)
		}
	})
}

// TestSetMemProfileRateSafety interrupts, kills and crashes a real setter
// while the target is stopped: the target runs on, untraced, with its rate
// untouched.
func TestSetMemProfileRateSafety(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, mode string
		hurt       func(h *helper)
		exit       int
		says       string
	}{
		{"SIGTERM", "rate-signal", func(h *helper) { h.cmd.Process.Signal(syscall.SIGTERM) }, 1, "nothing written"},
		{"panic", "rate-panic", func(*helper) {}, 2, ""},
		{"SIGKILL", "rate-hang", func(h *helper) { h.cmd.Process.Kill() }, -1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := start(t, fixtureBin(t, "go1.26"), "-addr", "127.0.0.1:0", "-rate", "0")
			h := startHelper(t, tc.mode, p.pid)
			if tc.mode != "rate-panic" {
				assertStopped(t, p.pid)
			}
			tc.hurt(h)
			<-h.done
			if code := h.cmd.ProcessState.ExitCode(); code != tc.exit || !strings.Contains(h.out.String(), tc.says) {
				t.Errorf("setter exited %d after saying %q", code, h.out)
			}
			assertRunning(t, p)
			if got := heapRate(t, p.addr); got != defaultRate {
				t.Fatalf("rate %d, want %d untouched", got, defaultRate)
			}
		})
	}
}
