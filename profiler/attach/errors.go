//go:build linux && amd64

package attach

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/go-delve/delve/pkg/goversion"
)

// checkGoVersion refuses binaries built by Go releases delve cannot read.
func checkGoVersion(what, v string) error {
	ver, ok := goversion.Parse(v)
	if !ok {
		return nil // a devel build: let delve try
	}
	if ver.Major == 1 && (ver.Minor < goversion.MinSupportedVersionOfGoMinor || ver.Minor > goversion.MaxSupportedVersionOfGoMinor) {
		return fmt.Errorf("%s was built by %s; leakhunt reads programs built by %s (rebuild it with a supported Go, or use its net/http/pprof endpoint): %w", what, v, supportedGo(), ErrGoVersion)
	}
	return nil
}

// noDWARFError explains what a binary without DWARF still allows.
func noDWARFError(what string) error {
	return fmt.Errorf("%s has no DWARF debug information (built with -ldflags=-w or stripped): goroutines, heap profile and memory statistics need its types; its identity, build info and RSS still show in `leakhunt ps`, and its net/http/pprof endpoint, if it has one, still works — rebuild without -w to attach: %w", what, ErrNoDWARF)
}

// seizeError explains why PTRACE_SEIZE failed.
func seizeError(pid int, err error) error {
	if errors.Is(err, os.ErrNotExist) || strings.Contains(err.Error(), "no such process") {
		return fmt.Errorf("process %d: %w", pid, ErrExited)
	}
	if tracer := tracerPID(pid); tracer > 0 {
		return tracedError(pid, tracer)
	}
	return permissionError(pid)
}

func tracedError(pid, tracer int) error {
	// TracerPid names the tracing thread: report its process.
	if tgid := threadGroup(tracer); tgid > 0 {
		tracer = tgid
	}
	name := commName(tracer)
	return fmt.Errorf("process %d is already being traced by process %d (%s), probably a debugger: detach it first: %w", pid, tracer, name, ErrTraced)
}

func permissionError(pid int) error {
	scope := "unknown"
	if data, err := os.ReadFile("/proc/sys/kernel/yama/ptrace_scope"); err == nil {
		scope = strings.TrimSpace(string(data))
	}
	return fmt.Errorf("no permission to attach to process %d: run leakhunt as root or with CAP_SYS_PTRACE (and as the process's user), and check /proc/sys/kernel/yama/ptrace_scope (now %s; 0 or 1 allows it); in a container, share the PID namespace and add SYS_PTRACE: %w", pid, scope, ErrPermission)
}

// threadGroup returns the process (thread group) a thread belongs to, 0 if unknown.
func threadGroup(tid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Tgid:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}
