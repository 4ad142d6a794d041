// Package dlvscript runs delve in process against a running Go program or a
// core file, for leakhunt's Starlark scripts: an interactive delve terminal,
// a non-interactive script runner, and Snoop, a function-call tracer in the
// manner of Python's PySnooper.
//
// It is the one place in leakhunt that talks to delve's service layer
// (service/debugger, service/rpccommon, service/rpc2, pkg/terminal): the
// debugger runs in this process behind an in-memory pipe, and delve's own
// JSON-RPC client talks to it, so everything delve's terminal and its
// Starlark builtins can do works without a dlv binary.
//
// Safety: a Session never kills its target. Closing it detaches and leaves
// the process running, on every path; the breakpoints delve plants in
// runtime.throw, runtime.fatal, runtime.fatalpanic and runtime.fatalsignal
// when attaching are removed right after the attach, so that a leakhunt
// killed with SIGKILL (the kernel then detaches) leaves no INT3 behind in
// the runtime's crash path.
package dlvscript

import (
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-delve/delve/service"
	"github.com/go-delve/delve/service/api"
	"github.com/go-delve/delve/service/debugger"
	"github.com/go-delve/delve/service/rpc2"
	"github.com/go-delve/delve/service/rpccommon"
)

// Target names what a Session debugs: a live process (PID) or a core file
// (Core, with Exe the program that wrote it; when Exe is empty it is read
// from the core's file mappings).
type Target struct {
	PID  int
	Core string
	Exe  string
}

// String names the target for messages.
func (t Target) String() string {
	if t.Core != "" {
		return "core " + t.Core
	}
	return fmt.Sprintf("process %d", t.PID)
}

// Live reports whether the target is a running process.
func (t Target) Live() bool { return t.Core == "" }

// Session is an in-process delve debugger attached to a Target, with a
// JSON-RPC client connected to it. A live target is stopped from Open until
// Close (except while Snoop or a terminal `continue` lets it run).
type Session struct {
	target   Target
	server   *rpccommon.ServerImpl
	listener net.Listener
	client   *rpc2.RPCClient

	mu       sync.Mutex
	detached bool
	// attachedAt is when the target was stopped by the attach.
	attachedAt time.Time
	// removed names the crash-path breakpoints cleared after attaching.
	removed []string
}

// Open attaches to a live process (the process stays stopped until Close)
// or opens a core file. The caller must Close the Session, on every path.
func Open(ctx context.Context, t Target) (*Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg := debugger.Config{WorkingDir: ".", Backend: "default"}
	var args []string
	switch {
	case t.Core != "":
		if _, err := os.Stat(t.Core); err != nil {
			return nil, fmt.Errorf("open core %s: %w", t.Core, errors.Unwrap(err))
		}
		if t.Exe == "" {
			t.Exe = coreExecutable(t.Core)
		}
		if t.Exe == "" {
			return nil, fmt.Errorf("core %s does not name its executable: give it with --exe BINARY", t.Core)
		}
		if _, err := os.Stat(t.Exe); err != nil {
			return nil, fmt.Errorf("executable %s of core %s not found: give it with --exe BINARY", t.Exe, t.Core)
		}
		cfg.CoreFile = t.Core
		args = []string{t.Exe}
	case t.PID > 0:
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", t.PID))
		if err != nil {
			return nil, fmt.Errorf("no process %d", t.PID)
		}
		if strings.Contains(string(status), "\nState:\tZ") {
			return nil, fmt.Errorf("process %d has exited (a zombie waiting for its parent)", t.PID)
		}
		cfg.AttachPid = t.PID
	default:
		return nil, errors.New("no target: give a PID or a core file")
	}
	listener, conn := service.ListenerPipe()
	server := rpccommon.NewServer(&service.Config{
		Listener:    listener,
		ProcessArgs: args,
		APIVersion:  2,
		Debugger:    cfg,
	})
	began := time.Now()
	if err := server.Run(); err != nil {
		listener.Close()
		return nil, openError(t, err)
	}
	s := &Session{target: t, server: server, listener: listener, client: rpc2.NewClientFromConn(conn), attachedAt: began}
	if t.Live() {
		// delve marks these logical breakpoints with negative IDs: -1 is
		// unrecovered-panic (runtime.fatalpanic), -2 runtime-fatal-throw
		// (runtime.throw, runtime.fatal, runtime.fatalsignal).
		for _, id := range []int{-1, -2} {
			if bp, err := s.client.ClearBreakpoint(id); err == nil && bp != nil {
				s.removed = append(s.removed, bp.Name)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func openError(t Target, err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "operation not permitted"):
		return fmt.Errorf("attach to %s: no permission: run as root or with CAP_SYS_PTRACE, and check /proc/sys/kernel/yama/ptrace_scope: %w", t, err)
	case strings.Contains(msg, "could not find") || strings.Contains(msg, "decoding dwarf") || strings.Contains(msg, "no debug info"):
		return fmt.Errorf("open %s: the program has no usable DWARF debug information (built with -ldflags=-w?): %w", t, err)
	}
	return fmt.Errorf("open %s: %w", t, err)
}

// Target is what the Session debugs.
func (s *Session) Target() Target { return s.target }

// RemovedBreakpoints names the breakpoints delve planted when attaching and
// Open removed again.
func (s *Session) RemovedBreakpoints() []string { return s.removed }

// Stopped is how long the target has been stopped since the attach (zero for
// a core file). Snoop and the terminal's continue let it run in between, so
// this is an upper bound for them.
func (s *Session) Stopped() time.Duration {
	if !s.target.Live() {
		return 0
	}
	return time.Since(s.attachedAt)
}

// client returns the RPC client; callers in this package only.
func (s *Session) rpc() *rpc2.RPCClient { return s.client }

// markDetached records that the client detached (through the terminal's
// quit, or a script's detach()).
func (s *Session) markDetached() {
	s.mu.Lock()
	s.detached = true
	s.mu.Unlock()
}

// Close detaches from the target and leaves it running (a core file is just
// closed). It halts the target first if it is running, clears every
// breakpoint (delve's detach does), and never kills. Calling it again is a
// no-op.
func (s *Session) Close() error {
	s.mu.Lock()
	done := s.detached
	s.detached = true
	s.mu.Unlock()
	if done {
		s.listener.Close()
		return nil
	}
	if st, err := s.client.GetStateNonBlocking(); err == nil && st.Running {
		_, _ = s.client.Halt()
	}
	s.drainTrap()
	err := s.client.Detach(false)
	if err != nil && !isExited(err) {
		// The connection may be gone: stop the server directly, which
		// detaches without killing an attached process.
		if serr := s.server.Stop(); serr == nil || isExited(serr) {
			err = nil
		}
	}
	s.listener.Close()
	if err != nil && !isExited(err) {
		return fmt.Errorf("detach from %s: %w", s.target, err)
	}
	return nil
}

func isExited(err error) bool {
	if err == nil {
		return false
	}
	return strings.Contains(err.Error(), "has exited") || strings.Contains(err.Error(), "exited with status")
}

// coreExecutable returns the executable named by a core's NT_FILE note: the
// file mapped at file offset 0 with the lowest address, or "".
func coreExecutable(path string) string {
	f, err := elf.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const ntFile = 0x46494c45
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		data := make([]byte, p.Filesz)
		if _, err := p.ReadAt(data, 0); err != nil {
			continue
		}
		for len(data) >= 12 {
			namesz := binary.LittleEndian.Uint32(data)
			descsz := binary.LittleEndian.Uint32(data[4:])
			typ := binary.LittleEndian.Uint32(data[8:])
			off := 12 + align4(namesz)
			end := off + align4(descsz)
			if uint64(end) > uint64(len(data)) {
				break
			}
			if typ == ntFile {
				if exe := ntFileFirst(data[off : off+descsz]); exe != "" {
					return exe
				}
			}
			data = data[end:]
		}
	}
	return ""
}

func align4(n uint32) uint32 { return (n + 3) &^ 3 }

// ntFileFirst decodes an NT_FILE descriptor (count, page size, count
// triples of start, end, offset, then count NUL-terminated names) and
// returns the name of the lowest mapping with offset 0.
func ntFileFirst(d []byte) string {
	if len(d) < 16 {
		return ""
	}
	count := binary.LittleEndian.Uint64(d)
	if count > 1<<20 || uint64(len(d)) < 16+count*24 {
		return ""
	}
	names := strings.Split(string(d[16+count*24:]), "\x00")
	best, bestStart := "", ^uint64(0)
	for i := uint64(0); i < count && int(i) < len(names); i++ {
		e := d[16+i*24:]
		start, offset := binary.LittleEndian.Uint64(e), binary.LittleEndian.Uint64(e[16:])
		if offset == 0 && start < bestStart && strings.HasPrefix(names[i], "/") {
			best, bestStart = names[i], start
		}
	}
	return best
}

// drainTrap makes sure no SIGTRAP is pending in the target before it is
// detached. delve halts a running target by sending the process a SIGTRAP
// (its Halt command, the terminal's Ctrl-C); a halt that arrives while the
// target is already stopped leaves that signal pending, and once detached
// the target would receive it untraced and crash ("SIGTRAP: trace trap").
// A pending trap is consumed by resuming the target under the debugger,
// where the signal is caught and dropped; a resume that does not come back
// within a second is halted, which is safe then because the target runs.
func (s *Session) drainTrap() {
	if !s.target.Live() {
		return
	}
	for i := 0; i < 3 && trapPending(s.target.PID); i++ {
		done := make(chan struct{})
		go func() {
			var out rpc2.CommandOut
			_ = s.client.CallAPI("Command", &api.DebuggerCommand{Name: api.Continue}, &out)
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(time.Second):
			_, _ = s.client.Halt()
			<-done
		}
	}
}

// trapPending reports whether a SIGTRAP is pending for pid or any of its
// threads, from /proc.
func trapPending(pid int) bool {
	const trapBit = 1 << (5 - 1) // SIGTRAP is signal 5
	check := func(path string, field string) bool {
		data, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, field+":"); ok {
				mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
				return err == nil && mask&trapBit != 0
			}
		}
		return false
	}
	if check(fmt.Sprintf("/proc/%d/status", pid), "ShdPnd") {
		return true
	}
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, t := range tasks {
		if check(fmt.Sprintf("/proc/%d/task/%s/status", pid, t.Name()), "SigPnd") {
			return true
		}
	}
	return false
}
