package report

import (
	"bytes"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/leakhunt/leakhunt/profiler/analyze"
)

// Stats renders a snapshot summary.
func Stats(w io.Writer, st *analyze.Stats, width int) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	row := func(name, format string, args ...any) {
		fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{name}, args...)...)
	}
	prog := st.Program
	if prog == "" {
		prog = "(unknown)"
	}
	row("program", "%s", prog)
	if st.PID != 0 {
		row("pid", "%d", st.PID)
	}
	if st.GoVersion != "" {
		row("go", "%s", st.GoVersion)
	}
	row("source", "%s %s", st.Source, st.Address)
	if !st.Time.IsZero() {
		row("time", "%s", st.Time.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	if h := st.Heap; h != nil {
		row("heap in use", "%s in %d objects (HeapAlloc)", UBytes(h.InUse), h.Objects)
		row("heap spans", "%s (HeapInuse)", UBytes(h.Spans))
		row("heap peak", "%s obtained from the OS (HeapSys; %s released back)", UBytes(h.Peak), UBytes(h.Released))
		row("runtime total", "%s from the OS (Sys)", UBytes(h.Sys))
		row("allocated", "%s since start (TotalAlloc)", UBytes(h.TotalAlloc))
		gc := fmt.Sprintf("%d cycles, next at %s heap, %.2f%% of CPU", h.NumGC, UBytes(h.NextGC), 100*h.GCCPU)
		if !h.LastGC.IsZero() {
			gc += ", last at " + h.LastGC.Format("15:04:05")
		}
		row("gc", "%s", gc)
	}
	if p := st.Profile; p != nil {
		rate := "unknown rate"
		if p.Rate > 0 {
			rate = "1 sample per " + UBytes(uint64(p.Rate))
		}
		row("heap profile", "%s in use in %d objects, %d stacks (%s)", Bytes(p.InUseBytes), p.InUseObjects, p.Samples, rate)
	}
	if st.RSS > 0 {
		row("rss", "%s", UBytes(st.RSS))
	}
	if st.PeakRSS > 0 {
		row("peak rss", "%s", UBytes(st.PeakRSS))
	}
	if g := st.Goroutines; g != nil {
		if g.Leaked > 0 {
			row("goroutines", "%d (%d leaked, as the runtime's leak detector found)", g.Total, g.Leaked)
		} else {
			row("goroutines", "%d", g.Total)
		}
		for _, sc := range g.ByState {
			wait := ""
			if sc.MaxWait > 0 {
				wait = fmt.Sprintf(" (longest wait %s)", sc.MaxWait.Round(time.Second))
			}
			if sc.Leaked > 0 {
				wait += fmt.Sprintf(" [%d leaked]", sc.Leaked)
			}
			row("", "%6d  %s%s", sc.Count, sc.State, wait)
		}
	}
	for _, n := range st.Notes {
		row("note", "%s", n)
	}
	tw.Flush()
	return WriteCut(w, width, buf.String())
}
