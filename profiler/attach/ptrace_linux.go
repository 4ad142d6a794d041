//go:build linux && amd64

package attach

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// stopper holds every thread of a process in a ptrace stop. It uses
// PTRACE_SEIZE + PTRACE_INTERRUPT instead of delve's native.Attach so that the
// stop starts only after all the slow work (loading DWARF) is done, and so that
// nothing is ever written into the target: no breakpoints, no signals.
//
// Every method must be called from the goroutine that called stop, which
// holds its OS thread locked: Linux ties a tracee to the tracing thread.
//
// If leakhunt dies while the process is stopped, the kernel detaches every
// thread and they run on: a ptrace stop, unlike SIGSTOP, does not outlive
// its tracer.
type stopper struct {
	pid     int
	threads []*tracedThread
	known   map[int]bool
}

type tracedThread struct {
	tid  int
	regs unix.PtraceRegs
	// sig is a signal that arrived while stopping the thread; it is handed
	// back on detach so the target loses nothing (Go relies on SIGURG).
	sig syscall.Signal
	// stopped is set once the thread was seen in its ptrace stop.
	stopped bool
}

// stopTimeout bounds how long a thread may take to reach its stop (a thread in
// uninterruptible sleep never does).
const stopTimeout = 3 * time.Second

// stop seizes and interrupts every thread of pid, including threads created
// while it works, and reads their registers. On error every thread already
// stopped is released again.
func stop(ctx context.Context, pid int) (st *stopper, err error) {
	st = &stopper{pid: pid, known: map[int]bool{}}
	defer func() {
		if err != nil {
			st.detach()
			st = nil
		}
	}()
	for round := 0; ; round++ {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		tids, err := taskIDs(pid)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return st, fmt.Errorf("process %d: %w", pid, ErrExited)
			}
			return st, err
		}
		var fresh []*tracedThread
		for _, tid := range tids {
			if st.known[tid] {
				continue
			}
			st.known[tid] = true
			if err := unix.PtraceSeize(tid); err != nil {
				if errors.Is(err, unix.ESRCH) {
					continue // the thread exited meanwhile
				}
				return st, seizeError(pid, err)
			}
			t := &tracedThread{tid: tid}
			st.threads = append(st.threads, t)
			fresh = append(fresh, t)
			if err := unix.PtraceInterrupt(tid); err != nil && !errors.Is(err, unix.ESRCH) {
				return st, fmt.Errorf("interrupt thread %d of process %d: %w", tid, pid, err)
			}
		}
		if len(fresh) == 0 {
			break
		}
		for _, t := range fresh {
			if err := st.waitStopped(ctx, t); err != nil {
				return st, err
			}
		}
	}
	alive := st.threads[:0]
	for _, t := range st.threads {
		if t.tid != 0 {
			alive = append(alive, t)
		}
	}
	st.threads = alive
	if len(st.threads) == 0 {
		return st, fmt.Errorf("process %d: %w", pid, ErrExited)
	}
	for _, t := range st.threads {
		if err := unix.PtraceGetRegs(t.tid, &t.regs); err != nil {
			return st, fmt.Errorf("read registers of thread %d: %w", t.tid, err)
		}
	}
	// The thread group leader first: delve takes the first thread as current.
	sort.Slice(st.threads, func(i, j int) bool {
		return (st.threads[i].tid == pid) || (st.threads[j].tid != pid && st.threads[i].tid < st.threads[j].tid)
	})
	return st, nil
}

// waitStopped waits for t to report a stop. A thread that exits is dropped
// (tid set to 0); a signal that arrives first is remembered for detach.
func (st *stopper) waitStopped(ctx context.Context, t *tracedThread) error {
	deadline := time.Now().Add(stopTimeout)
	for sleep := 10 * time.Microsecond; ; {
		var ws unix.WaitStatus
		wpid, err := unix.Wait4(t.tid, &ws, unix.WALL|unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			if errors.Is(err, unix.ECHILD) {
				t.tid = 0
				return nil
			}
			return fmt.Errorf("wait for thread %d: %w", t.tid, err)
		}
		if wpid == t.tid {
			switch {
			case ws.Exited() || ws.Signaled():
				if t.tid == st.pid {
					return fmt.Errorf("process %d: %w", st.pid, ErrExited)
				}
				t.tid = 0
				return nil
			case ws.Stopped():
				t.stopped = true
				if int(ws)>>16 == unix.PTRACE_EVENT_STOP {
					return nil // our interrupt (or a group stop)
				}
				// A signal-delivery stop: the thread is stopped too; the
				// signal goes back to it on detach.
				t.sig = ws.StopSignal()
				return nil
			}
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		// Another thread of this process waiting for the target (its parent,
		// when leakhunt started it) may have consumed the stop notification:
		// the kernel's own view settles it.
		if sleep >= time.Millisecond && threadState(st.pid, t.tid) == 't' {
			t.stopped = true
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("thread %d of process %d did not stop within %s (uninterruptible sleep?)", t.tid, st.pid, stopTimeout)
		}
		time.Sleep(sleep)
		if sleep < time.Millisecond {
			sleep *= 2
		}
	}
}

// detach releases every thread, handing back signals caught while stopping.
// A thread seized but not yet seen stopped (an error or a cancellation came
// in between) is interrupted and waited for first: PTRACE_DETACH needs a
// stopped tracee.
func (st *stopper) detach() {
	for _, t := range st.threads {
		if t.tid == 0 {
			continue
		}
		if !t.stopped {
			var ws unix.WaitStatus
			for i := 0; i < 200; i++ {
				if w, err := unix.Wait4(t.tid, &ws, unix.WALL|unix.WNOHANG, nil); w == t.tid || (err != nil && !errors.Is(err, unix.EINTR)) {
					if ws.Stopped() && int(ws)>>16 != unix.PTRACE_EVENT_STOP {
						t.sig = ws.StopSignal()
					}
					break
				}
				time.Sleep(50 * time.Microsecond)
			}
		}
		if _, _, errno := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_DETACH, uintptr(t.tid), 0, uintptr(t.sig), 0, 0); errno != 0 {
			// The thread died while stopped (the process was killed). As its
			// tracer we must reap it, or its parent could never reap the
			// process.
			reap(t.tid)
		}
	}
	st.threads = nil
}

// lockThread pins the calling goroutine to its OS thread for the duration of
// a stop, as ptrace requires.
func lockThread() func() {
	runtime.LockOSThread()
	return runtime.UnlockOSThread
}

func taskIDs(pid int) ([]int, error) {
	ents, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "task"))
	if err != nil {
		return nil, err
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}

// threadState returns the state letter of a thread ('t' for a tracing stop),
// 0 when unknown.
func threadState(pid, tid int) byte {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid))
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 || i+2 >= len(data) {
		return 0
	}
	return data[i+2]
}

// reap collects the exit of a traced thread that died, waiting briefly.
func reap(tid int) {
	var ws unix.WaitStatus
	for i := 0; i < 100; i++ {
		w, err := unix.Wait4(tid, &ws, unix.WALL|unix.WNOHANG, nil)
		if w == tid && (ws.Exited() || ws.Signaled()) || err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
		time.Sleep(time.Millisecond)
	}
}
