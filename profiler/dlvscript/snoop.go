package dlvscript

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-delve/delve/service/api"
	"github.com/go-delve/delve/service/rpc2"
)

// SnoopOptions configure Snoop.
type SnoopOptions struct {
	// Func is the function to trace, as delve names it: main.handle,
	// github.com/x/y.(*T).Method.
	Func string
	// Duration bounds the run (default 10s).
	Duration time.Duration
	// MaxCalls ends the run after this many completed calls (0: no limit).
	MaxCalls int
	// Watch are expressions evaluated at each call's entry (and, with
	// Lines, at each line).
	Watch []string
	// Lines traces every line executed in Func, with the locals that changed.
	Lines bool
	// Out receives the trace; Log the cost statements.
	Out, Log io.Writer
}

// SnoopStats is what a Snoop run cost the target.
type SnoopStats struct {
	// Calls is the number of calls seen returning; Entered those seen entering.
	Calls, Entered int
	// Hits is the number of breakpoint hits: each stopped the target.
	Hits int
	// Stopped is the total time the target spent stopped by those hits
	// (measured from the hit being reported to the target being resumed,
	// so a lower bound).
	Stopped time.Duration
	// Elapsed is the length of the run.
	Elapsed time.Duration
	// Removed is the number of breakpoints removed at the end.
	Removed int
}

// ErrNoFunction is returned when the function to snoop does not exist.
var ErrNoFunction = errors.New("no such function")

var snoopLoad = api.LoadConfig{FollowPointers: true, MaxVariableRecurse: 1, MaxStringLen: 64, MaxArrayValues: 4, MaxStructFields: -1}

type frameKey struct{ gid int64 }

type call struct {
	n       int
	entered time.Time
	// stoppedAt is SnoopStats.Stopped at entry: the call's own time excludes
	// the time the target was stopped meanwhile.
	stoppedAt time.Duration
	locals    map[string]string
}

// Snoop traces each call of a function in a live target as it happens, like
// Python's PySnooper: its arguments on entry, its return values and the time
// it took on return, and with Lines each line executed and the locals that
// changed. It sets breakpoints: every hit stops the whole target for the
// time it takes to read the values (typically 0.1-1 ms), which Snoop states
// at the start and totals at the end.
//
// The run ends after Duration, after MaxCalls calls, when ctx is cancelled,
// when the target exits, or on error. Every breakpoint it set is removed
// on each of those paths and the target is left running (the Session stays
// attached and stopped; Close detaches).
func (s *Session) Snoop(ctx context.Context, opts SnoopOptions) (st SnoopStats, err error) {
	if !s.target.Live() {
		return st, errors.New("snoop needs a running process, not a core file")
	}
	if opts.Duration <= 0 {
		opts.Duration = 10 * time.Second
	}
	out, log := opts.Out, opts.Log
	if out == nil {
		out = io.Discard
	}
	if log == nil {
		log = io.Discard
	}
	c := s.rpc()
	locs, _, err := c.FindLocation(api.EvalScope{GoroutineID: -1}, opts.Func, false, nil)
	if err != nil || len(locs) == 0 || locs[0].Function == nil {
		return st, fnError(c, opts.Func)
	}
	fn := locs[0].Function.Name()
	if fn != opts.Func && !strings.HasSuffix(opts.Func, fn) {
		return st, fnError(c, opts.Func)
	}
	var ids []int
	var start time.Time
	// Remove every breakpoint we set, whatever happens: halt first if the
	// target runs, so that clearing is possible. Then state the cost.
	defer func() {
		if !start.IsZero() {
			defer func() {
				st.Elapsed = time.Since(start)
				fmt.Fprintf(log, "snoop: %d calls (%d entered), %d breakpoint hits; the target was held stopped %s in total over %s (%.2f%%) while leakhunt printed, plus delve's reading of the values at each hit; %d of %d breakpoints removed\n",
					st.Calls, st.Entered, st.Hits, st.Stopped.Round(time.Microsecond), st.Elapsed.Round(time.Millisecond), 100*st.Stopped.Seconds()/max(st.Elapsed.Seconds(), 1e-9), st.Removed, len(ids))
			}()
		}
		for _, id := range ids {
			if _, e := c.ClearBreakpoint(id); e == nil {
				st.Removed++
			} else if err == nil && !isExited(e) {
				err = fmt.Errorf("remove breakpoint %d: %w", id, e)
			}
		}
	}()
	entry, err := c.CreateBreakpoint(&api.Breakpoint{FunctionName: fn, Line: -1, LoadArgs: &snoopLoad, LoadLocals: linesLoad(opts.Lines), Variables: opts.Watch})
	if err != nil {
		return st, fmt.Errorf("set a breakpoint on %s: %w", fn, err)
	}
	ids = append(ids, entry.ID)
	rets, err := c.FunctionReturnLocations(fn)
	if err != nil {
		return st, fmt.Errorf("find the returns of %s: %w", fn, err)
	}
	retIDs := map[int]bool{}
	for _, addr := range rets {
		bp, err := c.CreateBreakpoint(&api.Breakpoint{Addr: addr, TraceReturn: true, Line: -1, LoadArgs: &snoopLoad})
		if err != nil {
			return st, fmt.Errorf("set a breakpoint on a return of %s: %w", fn, err)
		}
		ids = append(ids, bp.ID)
		retIDs[bp.ID] = true
	}
	lineIDs := map[int]bool{}
	if opts.Lines {
		for _, l := range functionLines(c, locs[0]) {
			bp, err := c.CreateBreakpoint(&api.Breakpoint{File: l.file, Line: l.line, LoadLocals: &snoopLoad, Variables: opts.Watch})
			if err != nil {
				continue // the entry breakpoint's line, or a line with no statement
			}
			ids = append(ids, bp.ID)
			lineIDs[bp.ID] = true
		}
	}
	fmt.Fprintf(log, "snoop: %d breakpoints in %s (entry, %d returns", len(ids), fn, len(rets))
	if opts.Lines {
		fmt.Fprintf(log, ", %d lines", len(lineIDs))
	}
	fmt.Fprintf(log, "); each hit stops the whole process while its values are read; running for at most %s", opts.Duration)
	if opts.MaxCalls > 0 {
		fmt.Fprintf(log, " or %d calls", opts.MaxCalls)
	}
	fmt.Fprintln(log)

	start = time.Now()
	runCtx, cancel := context.WithTimeout(ctx, opts.Duration)
	defer cancel()
	// Halting from another goroutine is how a running target is stopped
	// when the time is up or ctx is cancelled.
	// Halt only while a continue is in flight: delve halts by sending the
	// process a SIGTRAP, which must not reach a stopped target (see
	// drainTrap, which Close runs for the remaining race).
	var runMu sync.Mutex
	running := false
	stopWatch := context.AfterFunc(runCtx, func() {
		runMu.Lock()
		defer runMu.Unlock()
		if running {
			_, _ = c.Halt()
		}
	})
	defer stopWatch()

	inflight := map[frameKey][]*call{}
	ncall := 0
	for {
		if runCtx.Err() != nil {
			break
		}
		var cmdOut rpc2.CommandOut
		runMu.Lock()
		if runCtx.Err() != nil {
			runMu.Unlock()
			break
		}
		running = true
		runMu.Unlock()
		err := c.CallAPI("Command", &api.DebuggerCommand{Name: api.Continue, ReturnInfoLoadConfig: &snoopLoad}, &cmdOut)
		hitAt := time.Now()
		runMu.Lock()
		running = false
		runMu.Unlock()
		state := cmdOut.State
		if err != nil {
			if isExited(err) || state.Exited {
				fmt.Fprintf(log, "snoop: the target exited\n")
				return st, nil
			}
			if runCtx.Err() != nil {
				break
			}
			return st, fmt.Errorf("continue: %w", err)
		}
		if state.Exited {
			fmt.Fprintf(log, "snoop: the target exited with status %d\n", state.ExitStatus)
			return st, nil
		}
		hits := 0
		threads := append([]*api.Thread(nil), state.Threads...)
		sort.Slice(threads, func(i, j int) bool { return threads[i].GoroutineID < threads[j].GoroutineID })
		for _, th := range threads {
			bp := th.Breakpoint
			if bp == nil {
				continue
			}
			hits++
			key := frameKey{th.GoroutineID}
			info := th.BreakpointInfo
			switch {
			case bp.ID == entry.ID:
				ncall++
				st.Entered++
				cl := &call{n: ncall, entered: hitAt, stoppedAt: st.Stopped, locals: map[string]string{}}
				inflight[key] = append(inflight[key], cl)
				fmt.Fprintf(out, "%s call #%d %s(%s) goroutine %d\n", stamp(hitAt, start), cl.n, fn, varList(info, true), th.GoroutineID)
				printWatch(out, info, opts.Watch)
				if opts.Lines && info != nil {
					for _, v := range info.Locals {
						cl.locals[v.Name] = v.SinglelineString()
					}
				}
			case retIDs[bp.ID]:
				stack := inflight[key]
				if len(stack) == 0 {
					fmt.Fprintf(out, "%s return from %s (call entered before snoop started) goroutine %d => %s\n", stamp(hitAt, start), fn, th.GoroutineID, retList(th.ReturnValues))
					continue
				}
				cl := stack[len(stack)-1]
				inflight[key] = stack[:len(stack)-1]
				took := hitAt.Sub(cl.entered) - (st.Stopped - cl.stoppedAt)
				st.Calls++
				fmt.Fprintf(out, "%s return #%d %s => %s  (took %s, breakpoint handling included)\n", stamp(hitAt, start), cl.n, fn, retList(th.ReturnValues), took.Round(time.Microsecond))
			case lineIDs[bp.ID]:
				stack := inflight[key]
				src := sourceLine(th.File, th.Line)
				fmt.Fprintf(out, "%s   line %d  %s\n", stamp(hitAt, start), th.Line, src)
				if len(stack) > 0 && info != nil {
					cl := stack[len(stack)-1]
					for _, v := range info.Locals {
						val := v.SinglelineString()
						if old, ok := cl.locals[v.Name]; !ok || old != val {
							verb := "changed"
							if !ok {
								verb = "new"
							}
							fmt.Fprintf(out, "%s       %s var %s = %s\n", stamp(hitAt, start), verb, v.Name, short(val))
							cl.locals[v.Name] = val
						}
					}
				}
				printWatch(out, info, opts.Watch)
			}
		}
		st.Hits += hits
		if hits == 0 {
			// A manual stop (Halt) or a stop of no concern to us.
			if runCtx.Err() != nil {
				break
			}
		}
		if opts.MaxCalls > 0 && st.Calls >= opts.MaxCalls {
			st.Stopped += time.Since(hitAt)
			break
		}
		st.Stopped += time.Since(hitAt)
	}
	for _, stack := range inflight {
		for _, cl := range stack {
			fmt.Fprintf(out, "call #%d still running when snoop ended\n", cl.n)
		}
	}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	return st, nil
}

// short cuts a value's text to 100 bytes, as PySnooper does with reprs.
func short(s string) string {
	const n = 100
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func linesLoad(lines bool) *api.LoadConfig {
	if lines {
		return &snoopLoad
	}
	return nil
}

func stamp(t, start time.Time) string {
	d := t.Sub(start)
	return fmt.Sprintf("%8.3fs", d.Seconds())
}

func varList(info *api.BreakpointInfo, args bool) string {
	if info == nil {
		return ""
	}
	var parts []string
	for _, v := range info.Arguments {
		if v.Flags&api.VariableReturnArgument != 0 {
			continue
		}
		parts = append(parts, v.Name+"="+short(v.SinglelineString()))
	}
	return strings.Join(parts, ", ")
}

func retList(vs []api.Variable) string {
	if len(vs) == 0 {
		return "()"
	}
	var parts []string
	for _, v := range vs {
		parts = append(parts, v.Name+"="+short(v.SinglelineString()))
	}
	return strings.Join(parts, ", ")
}

func printWatch(out io.Writer, info *api.BreakpointInfo, watch []string) {
	if info == nil {
		return
	}
	for i, v := range info.Variables {
		name := v.Name
		if i < len(watch) {
			name = watch[i]
		}
		fmt.Fprintf(out, "           watch %s = %s\n", name, short(v.SinglelineString()))
	}
}

func fnError(c *rpc2.RPCClient, name string) error {
	// Suggest functions of the same package whose name is a short edit away.
	pkg, short := "", name
	if i := strings.LastIndex(name, "."); i >= 0 {
		pkg, short = name[:i], name[i+1:]
	}
	fns, _ := c.ListFunctions("^"+quoteMeta(pkg)+`\.`, 0)
	var near []string
	for _, f := range fns {
		if d := editDistance(strings.ToLower(f[len(pkg)+1:]), strings.ToLower(short)); d <= 2 && len(near) < 5 {
			near = append(near, f)
		}
	}
	if len(near) > 0 {
		return fmt.Errorf("no function %s in the target (did you mean %s?): %w", name, strings.Join(near, ", "), ErrNoFunction)
	}
	return fmt.Errorf("no function %s in the target: give it as delve names it, such as main.handle or example.com/pkg.(*T).Method: %w", name, ErrNoFunction)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

func quoteMeta(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

type fileLine struct {
	file string
	line int
}

// functionLines lists the source lines of the function at loc, from its
// disassembly.
func functionLines(c *rpc2.RPCClient, loc api.Location) []fileLine {
	insts, err := c.DisassemblePC(api.EvalScope{GoroutineID: -1}, loc.PC, api.IntelFlavour)
	if err != nil {
		return nil
	}
	seen := map[int]bool{loc.Line: true}
	var ls []fileLine
	for _, in := range insts {
		if in.Loc.File != loc.File || seen[in.Loc.Line] || in.Loc.Line <= 0 {
			continue
		}
		seen[in.Loc.Line] = true
		ls = append(ls, fileLine{in.Loc.File, in.Loc.Line})
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].line < ls[j].line })
	return ls
}

// sourceLine is line n of file, trimmed, or "" when unreadable.
func sourceLine(file string, n int) string {
	data, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	lines := strings.Split(string(data), "\n")
	if n < 1 || n > len(lines) {
		return ""
	}
	return strings.TrimSpace(lines[n-1])
}
