package procfs

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// GoProcess is a Go program running on this machine, as /proc shows it.
type GoProcess struct {
	PID int `json:"pid"`
	// Program is the executable's base name.
	Program string `json:"program"`
	// Path is where the executable was when the process started.
	Path string `json:"path,omitempty"`
	// GoVersion is the Go release that built it ("go1.26.8").
	GoVersion string `json:"go_version"`
	// Module is the main module's path when the build recorded it.
	Module string `json:"module,omitempty"`
	// RSS is the resident set size in bytes, 0 when unknown.
	RSS uint64 `json:"rss"`
	// Listen are the TCP addresses the process listens on ("127.0.0.1:6060", "[::]:8080").
	Listen []string `json:"listen,omitempty"`
	// Pprof is the base URL of its net/http/pprof handlers
	// ("http://127.0.0.1:6060/debug/pprof/") when one of its loopback-reachable
	// listeners answered like them; empty otherwise.
	Pprof string `json:"pprof,omitempty"`
}

// GoProcessOptions tune GoProcesses. The zero value probes listeners with a
// 500 ms timeout and lists every Go process but the caller.
type GoProcessOptions struct {
	// NoProbe skips the HTTP probe of listeners: Pprof stays empty.
	NoProbe bool
	// Timeout bounds each probe; 0 means 500 ms.
	Timeout time.Duration
	// Client makes the probes; nil means a new client.
	Client *http.Client
	// Self is left out of the list; 0 means the calling process.
	Self int
}

// GoProcesses lists the Go processes this user can see, sorted by PID: a
// process counts as Go when its executable carries Go build information
// (debug/buildinfo reads only the ELF headers and one section, so other
// programs are skipped quickly). Processes whose executable cannot be read
// (another user's, without privilege) are left out. Like gops, it needs
// nothing in the target: the pprof address comes from the process's
// listening sockets (its /proc/PID/fd socket inodes matched against
// /proc/net/tcp and tcp6), each probed with one GET of /debug/pprof/.
func GoProcesses(ctx context.Context, opts GoProcessOptions) ([]GoProcess, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 500 * time.Millisecond
	}
	if opts.Client == nil {
		opts.Client = &http.Client{}
	}
	if opts.Self == 0 {
		opts.Self = os.Getpid()
	}
	entries, err := os.ReadDir(Root)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var procs []GoProcess
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == opts.Self {
			continue
		}
		p, ok := goProcess(pid)
		if ok {
			procs = append(procs, p)
		}
	}
	slices.SortFunc(procs, func(a, b GoProcess) int { return a.PID - b.PID })
	listeners := Listeners()
	for i := range procs {
		for _, ino := range socketInodes(procs[i].PID) {
			if addr, ok := listeners[ino]; ok {
				procs[i].Listen = append(procs[i].Listen, addr.String())
			}
		}
		slices.Sort(procs[i].Listen)
		procs[i].Listen = slices.Compact(procs[i].Listen)
	}
	if !opts.NoProbe {
		probeAll(ctx, procs, opts)
	}
	return procs, nil
}

// goProcess reads what GoProcesses shows of one process; false when it is
// not a Go program or cannot be read.
func goProcess(pid int) (GoProcess, bool) {
	bi, err := BuildInfo(pid)
	if err != nil {
		return GoProcess{}, false
	}
	p := GoProcess{PID: pid, GoVersion: bi.GoVersion, Module: bi.Main.Path}
	if path, err := ExePath(pid); err == nil {
		p.Path = strings.TrimSuffix(path, " (deleted)")
		p.Program = filepath.Base(p.Path)
	}
	if p.Program == "" {
		if comm, err := os.ReadFile(filepath.Join(Root, strconv.Itoa(pid), "comm")); err == nil {
			p.Program = strings.TrimSpace(string(comm))
		}
	}
	if m, err := ReadMemory(pid); err == nil {
		p.RSS = m.RSS
	}
	return p, true
}

// Listeners maps socket inodes to the addresses of the TCP sockets in LISTEN
// state that /proc/net/tcp and /proc/net/tcp6 show (this network namespace).
func Listeners() map[uint64]netip.AddrPort {
	out := make(map[uint64]netip.AddrPort)
	for _, name := range []string{"net/tcp", "net/tcp6"} {
		data, err := os.ReadFile(filepath.Join(Root, name))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" { // 0A: TCP_LISTEN
				continue
			}
			addr, err := parseProcAddr(f[1])
			if err != nil {
				continue
			}
			ino, err := strconv.ParseUint(f[9], 10, 64)
			if err != nil || ino == 0 {
				continue
			}
			out[ino] = addr
		}
	}
	return out
}

// parseProcAddr reads /proc/net/tcp's "0100007F:1F90": the address as 32-bit
// words in the kernel's byte order, then the port in hex.
func parseProcAddr(s string) (netip.AddrPort, error) {
	hexIP, hexPort, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("bad socket address %q", s)
	}
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad port in %q: %w", s, err)
	}
	raw, err := hex.DecodeString(hexIP)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("bad address in %q", s)
	}
	ip := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(ip[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	addr, _ := netip.AddrFromSlice(ip)
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), nil
}

// socketInodes returns the inodes of the sockets the process has open.
func socketInodes(pid int) []uint64 {
	dir := filepath.Join(Root, strconv.Itoa(pid), "fd")
	fds, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []uint64
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(dir, fd.Name()))
		if err != nil {
			continue
		}
		if rest, ok := strings.CutPrefix(link, "socket:["); ok {
			if ino, err := strconv.ParseUint(strings.TrimSuffix(rest, "]"), 10, 64); err == nil {
				out = append(out, ino)
			}
		}
	}
	return out
}

// probeURLs returns the /debug/pprof/ URLs through which this machine reaches
// a listener: loopback and wildcard addresses only.
func probeURLs(listen string) []string {
	ap, err := netip.ParseAddrPort(listen)
	if err != nil {
		return nil
	}
	port := strconv.Itoa(int(ap.Port()))
	a := ap.Addr()
	switch {
	case a.IsLoopback():
		return []string{"http://" + net.JoinHostPort(a.String(), port) + "/debug/pprof/"}
	case a == netip.IPv4Unspecified():
		return []string{"http://127.0.0.1:" + port + "/debug/pprof/"}
	case a == netip.IPv6Unspecified():
		return []string{"http://127.0.0.1:" + port + "/debug/pprof/", "http://[::1]:" + port + "/debug/pprof/"}
	}
	return nil
}

// probeAll probes every process's loopback-reachable listeners, a few at a
// time, and keeps the first (lowest) address that answers like net/http/pprof.
func probeAll(ctx context.Context, procs []GoProcess, opts GoProcessOptions) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range procs {
		p := &procs[i]
		var urls []string
		for _, l := range p.Listen {
			urls = append(urls, probeURLs(l)...)
		}
		if len(urls) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, u := range urls {
				sem <- struct{}{}
				ok := IsPprof(ctx, opts.Client, u, opts.Timeout)
				<-sem
				if ok {
					p.Pprof = u
					return
				}
			}
		}()
	}
	wg.Wait()
}

// errNotPprof says a page is not net/http/pprof's index.
var errNotPprof = errors.New("not a pprof index")

// IsPprof reports whether GET url answers, within timeout, with the index
// page of net/http/pprof: status 200 and links to its profiles.
func IsPprof(ctx context.Context, client *http.Client, url string, timeout time.Duration) bool {
	return probe(ctx, client, url, timeout) == nil
}

func probe(ctx context.Context, client *http.Client, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return err
	}
	if !bytes.Contains(body, []byte("Types of profiles available")) || !bytes.Contains(body, []byte("goroutine?debug=")) {
		return errNotPprof
	}
	return nil
}
