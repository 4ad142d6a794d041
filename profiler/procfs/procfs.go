// Package procfs reads what Linux's /proc says about a process: its memory,
// its executable and build information, and which process listens on a
// loopback port. Everything here is best effort: on other systems, or without
// permission, the functions return errors and callers carry on without.
package procfs

import (
	"bufio"
	"debug/buildinfo"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Root is where the proc filesystem is mounted.
const Root = "/proc"

// Memory is a process's memory as the kernel sees it.
type Memory struct {
	RSS     uint64 // VmRSS, bytes
	PeakRSS uint64 // VmHWM, bytes
	// AnonRSS is the anonymous part of RSS (RssAnon): the memory a process
	// allocated, without the pages of its executable and libraries that
	// count in RSS as they are first touched.
	AnonRSS uint64
	Threads int
}

// ReadMemory reads /proc/PID/status.
func ReadMemory(pid int) (Memory, error) {
	var m Memory
	f, err := os.Open(filepath.Join(Root, strconv.Itoa(pid), "status"))
	if err != nil {
		return m, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(val)
		if len(fields) == 0 {
			continue
		}
		n, _ := strconv.ParseUint(fields[0], 10, 64)
		switch name {
		case "VmRSS":
			m.RSS = n * 1024
		case "VmHWM":
			m.PeakRSS = n * 1024
		case "RssAnon":
			m.AnonRSS = n * 1024
		case "Threads":
			m.Threads = int(n)
		}
	}
	return m, sc.Err()
}

// Exe returns the path of the process's executable, readable through
// /proc/PID/exe even when the file was replaced or deleted since.
func Exe(pid int) string { return filepath.Join(Root, strconv.Itoa(pid), "exe") }

// ExePath returns where the executable was when the process started.
func ExePath(pid int) (string, error) {
	return os.Readlink(Exe(pid))
}

// Cmdline returns the process's arguments.
func Cmdline(pid int) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(Root, strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return nil, err
	}
	data = []byte(strings.TrimRight(string(data), "\x00"))
	if len(data) == 0 {
		return nil, nil
	}
	return strings.Split(string(data), "\x00"), nil
}

// BuildInfo returns the Go version and build information of the process's
// executable. It fails for programs not written in Go.
func BuildInfo(pid int) (*buildinfo.BuildInfo, error) {
	return buildinfo.ReadFile(Exe(pid))
}

// ListenerPID finds the process listening on the given TCP port of a loopback
// or wildcard address, by matching the socket's inode in /proc/net/tcp{,6}
// against every process's open files. It returns 0 when none can be found.
func ListenerPID(port int) (int, error) {
	inodes := make(map[string]bool)
	for ino, addr := range Listeners() {
		if int(addr.Port()) == port {
			inodes["socket:["+strconv.FormatUint(ino, 10)+"]"] = true
		}
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("no listener on port %d", port)
	}
	procs, err := os.ReadDir(Root)
	if err != nil {
		return 0, err
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fds, err := os.ReadDir(filepath.Join(Root, p.Name(), "fd"))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(Root, p.Name(), "fd", fd.Name()))
			if err == nil && inodes[link] {
				return pid, nil
			}
		}
	}
	return 0, errors.New("listener's process not visible")
}

// Hostname returns the machine's host name, or "" when unknown.
func Hostname() string {
	h, _ := os.Hostname()
	return h
}
