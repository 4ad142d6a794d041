package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/leakhunt/leakhunt/profiler/refs"
	"github.com/leakhunt/leakhunt/profiler/report"
	"github.com/leakhunt/leakhunt/profiler/source"
)

// watchRefs walks the target's live heap now and then during a watch
// (--refs): objgraph's show_growth by type and by root path, next to the
// allocation sites the heap profile names. Each walk is saved in the series
// directory as objects-NNNN.lhobj, so objects --diff works on any two.
type watchRefs struct {
	pid   int
	child bool // the PID is leakhunt's own child (watch -- COMMAND)
	dir   string
	every time.Duration
	n     int
	io    *IOStreams
	f     *Factory

	first, latest *refs.Analysis
	lastWalk      time.Time
	lastIndex     int // the sample of the last walk
	files         []string
	err           error // the last walk's error
}

// newWatchRefs prepares the walks of a watch on t; the child's PID when
// leakhunt started the program. It fails when t's memory cannot be read.
func newWatchRefs(opts *WatchOptions, t source.Target, childPID int, dir string) (*watchRefs, error) {
	pid := huntPID(t, childPID)
	if pid <= 0 {
		return nil, usageErrorf("--refs walks the live heap, which needs a process on this machine: give a PID, a 127.0.0.1 URL, or -- COMMAND")
	}
	return &watchRefs{pid: pid, child: childPID > 0 && pid == childPID, dir: dir, every: opts.RefsEvery, n: opts.N, io: opts.IO, f: opts.Factory}, nil
}

// due reports whether a walk is due at now.
func (w *watchRefs) due(now time.Time) bool {
	return w.first == nil || now.Sub(w.lastWalk) >= w.every
}

// walk analyses the heap and saves the analysis as the index-th walk.
func (w *watchRefs) walk(ctx context.Context, index int) error {
	w.lastWalk, w.lastIndex = time.Now(), index
	var a *refs.Analysis
	var err error
	if w.child {
		a, err = walkChild(ctx, w.pid)
	} else {
		quiet := *w.io
		quiet.ErrOut = io.Discard // the capture line of every walk would drown the view
		a, err = loadAnalysis(ctx, &quiet, w.f, source.Graph, strconv.Itoa(w.pid))
	}
	if err != nil {
		w.err = err
		return err
	}
	file := filepath.Join(w.dir, fmt.Sprintf("objects-%04d.lhobj", index))
	if err := a.Save(file, true); err != nil {
		w.err = err
		return err
	}
	w.files = append(w.files, filepath.Base(file))
	if w.first == nil {
		w.first = a
	}
	w.latest = a
	w.err = nil
	return nil
}

// change is the growth from the first walk to the latest, nil before two.
func (w *watchRefs) change() *refs.Change {
	if w.first == nil || w.latest == w.first {
		return nil
	}
	return refs.Diff(w.first, w.latest)
}

// lines says in a few lines what grew by root path and by type since the
// first walk.
func (w *watchRefs) lines(indent string) string {
	c := w.change()
	if c == nil {
		if w.latest != nil {
			return fmt.Sprintf("%sheap walk: %s reachable in %d objects (stopped %s)\n", indent,
				report.UBytes(w.latest.Totals.Bytes), w.latest.Totals.Objects, w.latest.Capture.Stopped.Round(time.Millisecond))
		}
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%sheap walk: reachable %s (%s) in %d objects (%+d) since the first walk\n", indent,
		report.UBytes(w.latest.Totals.Bytes), report.Signed(c.Bytes), w.latest.Totals.Objects, c.Objects)
	rows := 0
	for _, g := range c.Paths {
		if rows == min(w.n, 5) || g.RetainedChange <= 0 {
			break
		}
		fmt.Fprintf(&b, "%s  retained %s (%s), %d objects (%+d)  %s\n", indent,
			report.UBytes(g.Retained), report.Signed(g.RetainedChange), g.Objects, g.ObjectsChange, g.Name)
		rows++
	}
	return b.String()
}

// end writes the growth over the whole watch.
func (w *watchRefs) end(out io.Writer, width int) {
	if w.err != nil {
		fmt.Fprintf(out, "heap walk failed: %s\n", strings.TrimPrefix(errorLine(w.err), "leakhunt: "))
	}
	c := w.change()
	if c == nil {
		return
	}
	fmt.Fprintf(out, "\nwhat keeps the heap alive, first walk to last (leakhunt objects --diff %s %s):\n",
		filepath.Join(w.dir, w.files[0]), filepath.Join(w.dir, w.files[len(w.files)-1]))
	refs.WriteDiff(out, c, refs.TextOptions{N: w.n, Width: width})
}

// json is the --json form of the walks.
func (w *watchRefs) json() *watchRefsJSON {
	out := &watchRefsJSON{Walks: w.files}
	if c := w.change(); c != nil {
		c.Types, c.Roots, c.Paths = cut(c.Types, w.n), cut(c.Roots, w.n), cut(c.Paths, w.n)
		out.Growth = c
	}
	if w.err != nil {
		out.Error = errorLine(w.err)
	}
	return out
}

// watchRefsJSON is the "objects" member of watch --json with --refs.
type watchRefsJSON struct {
	// Walks are the saved analyses in the series directory, in order.
	Walks []string `json:"walks"`
	// Growth is refs.Diff of the first and the last walk.
	Growth *refs.Change `json:"growth,omitempty"`
	Error  string       `json:"error,omitempty"`
}
