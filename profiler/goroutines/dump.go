// Package goroutines reads goroutine stacks from the forms Go programs write
// them in (the panic-style dump of /debug/pprof/goroutine?debug=2, goroutine
// profiles) and folds identical stacks into groups.
package goroutines

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

// ErrNotDump is returned by ParseDump for input that holds no goroutine.
var ErrNotDump = errors.New("not a goroutine dump")

// IsDump reports whether data starts like a panic-style goroutine dump.
func IsDump(data []byte) bool {
	data = bytes.TrimLeft(data, " \t\r\n")
	return bytes.HasPrefix(data, []byte("goroutine ")) && !bytes.HasPrefix(data, []byte("goroutine profile:"))
}

// ParseDump reads a goroutine dump in the format of an unrecovered panic, as
// /debug/pprof/goroutine?debug=2 and runtime.Stack(buf, true) write it.
// Lines it does not understand between goroutines are skipped, so a dump
// pasted from a log with surrounding text still parses.
func ParseDump(r io.Reader) ([]snapshot.Goroutine, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	var (
		gs      []snapshot.Goroutine
		cur     *snapshot.Goroutine
		pending *snapshot.Frame // a function line waiting for its file:line
		created bool            // pending is the "created by" frame
		lineNo  int
	)
	flush := func() {
		if cur != nil {
			gs = append(gs, *cur)
			cur = nil
		}
		pending = nil
	}
	for sc.Scan() {
		lineNo++
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.HasPrefix(line, "goroutine ") && strings.HasSuffix(line, ":") {
			if g, ok := parseHeader(line); ok {
				flush()
				cur = &g
				continue
			}
		}
		if cur == nil {
			continue
		}
		switch {
		case line == "":
			flush()
		case strings.HasPrefix(line, "\t"):
			if pending == nil {
				continue // "goroutine running on other thread; stack unavailable"
			}
			pending.File, pending.Line = parseFileLine(line)
			if created {
				cur.CreatedBy = pending
			} else {
				cur.Frames = append(cur.Frames, *pending)
			}
			pending, created = nil, false
		case strings.HasPrefix(line, "created by "):
			rest := strings.TrimPrefix(line, "created by ")
			if i := strings.LastIndex(rest, " in goroutine "); i >= 0 {
				cur.CreatorID, _ = strconv.ParseInt(rest[i+len(" in goroutine "):], 10, 64)
				rest = rest[:i]
			}
			pending, created = &snapshot.Frame{Function: rest}, true
		case strings.HasPrefix(line, "...") || strings.HasPrefix(line, "[originating from"):
			// "...additional frames elided...", "...N frames elided...".
		default:
			f := parseCall(line)
			pending, created = &f, false
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read goroutine dump at line %d: %w", lineNo, err)
	}
	flush()
	if len(gs) == 0 {
		return nil, ErrNotDump
	}
	return gs, nil
}

// parseHeader reads "goroutine 18 [chan receive, 5 minutes, locked to thread]:",
// also with the "gp=0x... m=nil" words GOTRACEBACK=system adds.
func parseHeader(line string) (snapshot.Goroutine, bool) {
	var g snapshot.Goroutine
	rest := strings.TrimSuffix(strings.TrimPrefix(line, "goroutine "), ":")
	sp := strings.IndexByte(rest, ' ')
	if sp < 0 {
		return g, false
	}
	id, err := strconv.ParseInt(rest[:sp], 10, 64)
	if err != nil {
		return g, false
	}
	g.ID = id
	open, end := strings.IndexByte(rest, '['), strings.LastIndexByte(rest, ']')
	if open < 0 || end < open {
		return g, false
	}
	for i, part := range strings.Split(rest[open+1:end], ", ") {
		if i > 0 {
			// Go 1.27 marks leaked goroutines after the last item too.
			var leaked bool
			if part, leaked = strings.CutSuffix(part, " (leaked)"); leaked {
				g.Leaked = true
			}
		}
		switch {
		case i == 0:
			g.State, g.Leaked = strings.CutSuffix(part, " (leaked)")
		case part == "locked to thread":
			g.LockedToThread = true
		case strings.HasSuffix(part, " minutes") || strings.HasSuffix(part, " minute"):
			n, err := strconv.Atoi(strings.Fields(part)[0])
			if err == nil {
				g.Wait = time.Duration(n) * time.Minute
			}
		}
	}
	return g, true
}

// parseCall reads "main.(*T).m(0x1, {0x2, 0x3})" or "main.f(...)" (inlined).
func parseCall(line string) snapshot.Frame {
	f := snapshot.Frame{Function: line}
	if strings.HasSuffix(line, ")") {
		if i := strings.LastIndexByte(line, '('); i > 0 {
			f.Function, f.Args = line[:i], line[i+1:len(line)-1]
			f.Inlined = f.Args == "..."
			if f.Inlined {
				f.Args = ""
			}
		}
	}
	return f
}

// parseFileLine reads "\t/src/main.go:13 +0x1f" (or with " fp=... sp=... pc=...").
func parseFileLine(line string) (string, int) {
	line = strings.TrimSpace(line)
	if i := strings.Index(line, " "); i >= 0 {
		line = line[:i]
	}
	c := strings.LastIndexByte(line, ':')
	if c < 0 {
		return line, 0
	}
	n, err := strconv.Atoi(line[c+1:])
	if err != nil {
		return line, 0
	}
	return line[:c], n
}
