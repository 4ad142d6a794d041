package report

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/leakhunt/leakhunt/profiler/procfs"
)

// Processes renders the Go processes `leakhunt ps` lists, one row each: PID,
// program, Go version, RSS, and where its pprof handlers answer ("-" when
// none was found). Width cuts lines (0: no cut).
func Processes(w io.Writer, procs []procfs.GoProcess, width int) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "PID\tPROGRAM\tGO\tRSS\tPPROF")
	for _, p := range procs {
		rss := "?"
		if p.RSS > 0 {
			rss = UBytes(p.RSS)
		}
		pprof := p.Pprof
		if pprof == "" {
			pprof = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", strconv.Itoa(p.PID), p.Program, p.GoVersion, rss, pprof)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return WriteCut(w, width, buf.String())
}
