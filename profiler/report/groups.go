package report

import (
	"fmt"

	"github.com/leakhunt/leakhunt/profiler/goroutines"
)

// groupRowOf formats one goroutine group for the HTML report.
func groupRowOf(g *goroutines.Group) groupRow {
	r := groupRow{Count: g.Count, Leaked: g.Leaked, State: g.State}
	if r.State == "" {
		r.State = "unknown state"
	}
	switch {
	case g.MaxWait <= 0:
	case g.MinWait == g.MaxWait:
		r.Wait = formatSpan(g.MaxWait.Seconds())
	default:
		r.Wait = formatSpan(g.MinWait.Seconds()) + "–" + formatSpan(g.MaxWait.Seconds())
	}
	for _, f := range g.Frames {
		r.Frames = append(r.Frames, frameRow{Function: f.Function, Where: fileLine(f.File, f.Line)})
	}
	// The headline is where the goroutines wait, in the program's own code
	// when the stack reaches it.
	if b := g.Blocking; b.Function != "" {
		r.Top = fmt.Sprintf("%s (%s)", b.Function, fileLine(ShortFile(b.File), b.Line))
	}
	if c := g.CreatedBy; c != nil {
		r.CreatedBy = fmt.Sprintf("%s (%s)", c.Function, fileLine(c.File, c.Line))
	}
	return r
}
