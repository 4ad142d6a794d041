package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/leakhunt/leakhunt/profiler/atomicfile"
	"github.com/leakhunt/leakhunt/profiler/report"
	"github.com/leakhunt/leakhunt/profiler/snapshot"
	"github.com/leakhunt/leakhunt/profiler/source"
	"github.com/leakhunt/leakhunt/profiler/srcfile"
	"github.com/leakhunt/leakhunt/profiler/verdict"
	"github.com/leakhunt/leakhunt/profiler/watch"
)

// ReportOptions are the inputs of `leakhunt report`.
type ReportOptions struct {
	IO      *IOStreams
	Factory *Factory

	// Inputs are series directories and snapshot (or profile) files.
	Inputs []string
	Output string
	Force  bool
	TopN   int
	// WarmUp is how long heap growth must last to be called a leak, and
	// WarmUpSet says --warm-up was given: otherwise a series directory's
	// own (the watch's) applies.
	WarmUp    time.Duration
	WarmUpSet bool
}

// NewCmdReport builds `leakhunt report`. Tests pass runF to see the parsed options.
func NewCmdReport(f *Factory, runF func(context.Context, *ReportOptions) error) *cobra.Command {
	opts := &ReportOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		Use:   "report DIR|SNAPSHOT... -o report.html",
		Short: "Write one self-contained HTML report of snapshots over time",
		Long: `Write one HTML file about a program's snapshots: its Go heap, RSS and goroutine
count over time and the allocation sites that grew most, as charts; the leak
verdicts; the top allocation sites of the last snapshot and the diff from the
first to the last; and the last snapshot's goroutines grouped by stack.

Give a series directory (leakhunt watch -o DIR), snapshot files, or both. The
verdicts are reached by leakhunt watch's rule over the snapshots (it needs 8
or more). The page loads nothing from the network: open it anywhere, attach
it to a ticket. It is written with mode 0600, as snapshots are.`,
		Example: `  leakhunt report series/ -o report.html
  leakhunt report before.lhsnap after.lhsnap -o report.html --force`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("report takes a series directory or snapshot files: DIR|SNAPSHOT...")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Inputs = args
			if opts.TopN < 1 {
				return usageErrorf("-n must be 1 or more (got %d)", opts.TopN)
			}
			if err := checkWarmUp(opts.WarmUp); err != nil {
				return err
			}
			opts.WarmUpSet = cmd.Flags().Changed("warm-up")
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return reportRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "report.html", "HTML file to write")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "overwrite the output file, and report on snapshots of different programs")
	cmd.Flags().IntVarP(&opts.TopN, "top", "n", 20, "rows of the top and diff tables")
	addWarmUpFlag(cmd, &opts.WarmUp)
	return cmd
}

// reportInput is one loaded snapshot and the path it came from.
type reportInput struct {
	snap *snapshot.Snapshot
	path string
}

func reportRun(ctx context.Context, opts *ReportOptions) error {
	var inputs []reportInput
	var notes []string
	for _, arg := range opts.Inputs {
		if err := ctx.Err(); err != nil {
			return err
		}
		in, note, err := loadReportInput(arg)
		if err != nil {
			return err
		}
		inputs = append(inputs, in...)
		if note != "" {
			notes = append(notes, note)
		}
	}
	sort.SliceStable(inputs, func(i, j int) bool { return inputs[i].snap.Capture.Time.Before(inputs[j].snap.Capture.Time) })
	if err := sameProgram(inputs, opts.Force); err != nil {
		return err
	}
	snaps := make([]*snapshot.Snapshot, len(inputs))
	labels := make([]string, len(inputs))
	for i, in := range inputs {
		snaps[i], labels[i] = in.snap, in.path
		for _, n := range in.snap.Capture.Notes {
			notes = append(notes, fmt.Sprintf("%s: %s", in.path, n))
		}
	}
	src := srcfile.NewCache()
	warmUp := minHeapSpan(opts.WarmUp)
	if w := seriesWarmUp(opts.Inputs); w != 0 && !opts.WarmUpSet {
		warmUp = w
	}
	verdicts, note := reportVerdicts(inputs, src, warmUp)
	hopts := report.HTMLOptions{
		Labels: labels, Verdicts: verdicts, VerdictNote: note, Notes: notes,
		Tool: "leakhunt " + version, Generated: opts.Factory.Now(),
		Source: src.Line, TopN: opts.TopN, Force: opts.Force,
	}
	var buf bytes.Buffer
	if err := report.HTML(&buf, snaps, hopts); err != nil {
		return err
	}
	err := atomicfile.Write(opts.Output, opts.Force, func(w io.Writer) error {
		_, err := w.Write(buf.Bytes())
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(opts.IO.Out, opts.Output)
	fmt.Fprintf(opts.IO.ErrOut, "wrote %s: %d snapshot(s) of %s, %d leak verdict(s)\n",
		opts.Output, len(snaps), reportProgramLabel(snaps[len(snaps)-1]), len(verdicts))
	return nil
}

// loadReportInput loads one argument: every snapshot of a directory (those
// its series.json lists, when it has one), or one snapshot or profile file.
func loadReportInput(arg string) ([]reportInput, string, error) {
	fi, err := os.Stat(arg)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("%s: no such file or directory (give a series directory or snapshot files)", arg)
	}
	if err != nil {
		return nil, "", err
	}
	if !fi.IsDir() {
		s, err := source.LoadFile(arg)
		if err != nil {
			return nil, "", err
		}
		return []reportInput{{snap: s, path: arg}}, "", nil
	}
	var files []string
	var note string
	if _, err := os.Stat(filepath.Join(arg, watch.IndexFile)); err == nil {
		idx, err := watch.ReadIndex(arg)
		if err != nil {
			return nil, "", err
		}
		for _, smp := range idx.Samples {
			files = append(files, filepath.Join(arg, smp.File))
		}
		switch idx.Stop {
		case "":
			note = fmt.Sprintf("%s: the watch was still running or was killed: its series ends at sample %d", arg, len(idx.Samples))
		case watch.StopDone:
		default:
			note = fmt.Sprintf("%s: the watch ended early (%s) after %d of %d samples", arg, idx.Stop, len(idx.Samples), idx.Planned)
		}
	} else {
		files, err = filepath.Glob(filepath.Join(arg, "*.lhsnap"))
		if err != nil {
			return nil, "", err
		}
		sort.Strings(files)
	}
	if len(files) == 0 {
		return nil, "", fmt.Errorf("%s holds no snapshots (*.lhsnap): give a series directory written by leakhunt watch -o, or snapshot files", arg)
	}
	out := make([]reportInput, 0, len(files))
	for _, f := range files {
		s, err := snapshot.Load(f)
		if err != nil {
			return nil, "", err
		}
		out = append(out, reportInput{snap: s, path: f})
	}
	return out, note, nil
}

// sameProgram refuses snapshots of different programs unless forced: their
// charts and diff would compare unrelated things.
func sameProgram(inputs []reportInput, force bool) error {
	if force {
		return nil
	}
	var first, firstPath string
	for _, in := range inputs {
		p := in.snap.Target.Path
		if p == "" {
			p = in.snap.Target.Program
		}
		if p == "" {
			continue
		}
		if first == "" {
			first, firstPath = p, in.path
			continue
		}
		if p != first {
			return fmt.Errorf("%s and %s are snapshots of different programs (%s and %s): report on one program's snapshots, or pass --force", firstPath, in.path, first, p)
		}
	}
	return nil
}

// seriesWarmUp is the warm-up the watch that wrote a series directory
// among inputs judged it with (verdict.Options.MinHeapSpan), 0 when none
// says.
func seriesWarmUp(inputs []string) time.Duration {
	for _, in := range inputs {
		if idx, err := watch.ReadIndex(in); err == nil && idx.WarmUp != 0 {
			return idx.WarmUp
		}
	}
	return 0
}

// reportVerdicts runs leakhunt watch's verdict rule over the snapshots, in
// capture order, and says how the verdicts were reached or why there are none.
func reportVerdicts(inputs []reportInput, src *srcfile.Cache, warmUp time.Duration) ([]report.Verdict, string) {
	// warmUp is verdict.Options.MinHeapSpan: negative for no wait.
	series := watch.NewSeries()
	for _, in := range inputs {
		series.Add(in.snap)
		series.Samples[len(series.Samples)-1].File = in.path
	}
	vs := verdict.Analyze(series, verdict.Options{Source: src, MinHeapSpan: warmUp})
	if len(vs) == 0 {
		if n := verdict.DefaultRule.MinPoints; len(inputs) < n {
			return nil, fmt.Sprintf("No verdicts: leakhunt's leak rule needs at least %d snapshots and there are %d; take a series with leakhunt watch -o DIR.", n, len(inputs))
		}
		if span := series.Samples[len(series.Samples)-1].Time.Sub(series.Samples[0].Time); warmUp > 0 && span < warmUp {
			return nil, fmt.Sprintf("No leak verdict: no goroutine group or non-Go memory grew steadily over these %d snapshots, and they span %s, less than the %s heap growth must last to be called a leak (--warm-up; see docs/verdicts.md).", len(inputs), span.Round(time.Second/10), warmUp)
		}
		return nil, fmt.Sprintf("No leak verdict: nothing grew steadily over these %d snapshots by leakhunt watch's rule (see docs/verdicts.md).", len(inputs))
	}
	out := make([]report.Verdict, len(vs))
	for i, v := range vs {
		out[i] = reportVerdict(v)
	}
	return out, fmt.Sprintf("Reached by leakhunt watch's rule over these %d snapshots (see docs/verdicts.md).", len(inputs))
}

// reportVerdict converts a verdict for the HTML report.
func reportVerdict(v verdict.Verdict) report.Verdict {
	ev := v.Evidence
	if v.CreatedBy != nil && !strings.Contains(ev, "created at") {
		ev += fmt.Sprintf("; created at %s:%d", v.CreatedBy.File, v.CreatedBy.Line)
	}
	return report.Verdict{
		Kind: string(v.Kind), Function: v.Function, File: v.File, Line: v.Line, Source: v.Source,
		Rate: v.Rate, Unit: v.Unit, Confidence: v.Confidence, Evidence: ev, Next: v.Next,
	}
}

// reportProgramLabel names a snapshot's program for a status line.
func reportProgramLabel(s *snapshot.Snapshot) string {
	if s.Target.Program != "" {
		return s.Target.Program
	}
	if s.Capture.Address != "" {
		return filepath.Base(s.Capture.Address)
	}
	return "an unknown program"
}
