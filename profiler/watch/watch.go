// Package watch follows a Go program over time: it takes a snapshot at a
// fixed interval, keeps each one as an ordinary snapshot file in a series
// directory (so top and diff work on any two), and maintains the time series
// of every allocation site, every goroutine group and the program's totals,
// which profiler/verdict reads to name leaks. It works on any kind of target:
// it is given a function that captures, never a source.
package watch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/leakhunt/leakhunt/profiler/procfs"
	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

// CaptureFunc takes one snapshot of the watched target.
type CaptureFunc func(ctx context.Context) (*snapshot.Snapshot, error)

// Options tune a watch. The zero value samples every 5s for 2 minutes and
// keeps the series in memory only.
type Options struct {
	// Interval is the time between samples; zero means 5s.
	Interval time.Duration
	// Duration is how long to watch; zero means 2 minutes. Samples are taken
	// at 0, Interval, 2×Interval ... up to Duration.
	Duration time.Duration
	// Dir is the series directory: each snapshot is saved there, with the
	// index series.json. Empty keeps the series in memory only.
	Dir string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Exited, when set, reports whether the target has exited (for a program
	// the caller started), so a failed capture ends the watch at once.
	Exited func() bool
	// OnSample is called after each sample is saved and added to the series,
	// from Run's goroutine: it may read the series but not keep a reference
	// to it across calls while Run is going on.
	OnSample func(s *Series, smp Sample)
	// OnError is told of a capture that failed without ending the watch.
	OnError func(err error)
	// WarmUp is recorded in the index (Index.WarmUp); Run does not judge
	// the series itself.
	WarmUp time.Duration
}

func (o *Options) setDefaults() {
	if o.Interval <= 0 {
		o.Interval = 5 * time.Second
	}
	if o.Duration <= 0 {
		o.Duration = 2 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Planned is the number of samples a watch of these options takes when
// nothing stops it early.
func (o Options) Planned() int {
	o.setDefaults()
	return int(o.Duration/o.Interval) + 1
}

// Stop says why a watch ended.
type Stop string

// The ways a watch ends.
const (
	// StopDone: every planned sample was taken.
	StopDone Stop = "done"
	// StopInterrupted: the context was cancelled (Ctrl-C).
	StopInterrupted Stop = "interrupted"
	// StopExited: the target went away.
	StopExited Stop = "target exited"
	// StopFailed: captures kept failing.
	StopFailed Stop = "capture failed"
)

// maxFailures is how many captures in a row may fail before the watch gives up.
const maxFailures = 3

// Result is what a watch gathered and how it ended.
type Result struct {
	Series  *Series
	Planned int
	Stop    Stop
	// Err is the capture error that ended the watch early (target exited,
	// repeated failures); nil otherwise.
	Err error
}

// Run watches a target: it calls capture every opts.Interval until
// opts.Duration has passed, the context is cancelled, or the target exits,
// saving each snapshot and updating the series. A sample in flight when the
// context is cancelled is dropped whole: every file in the directory is a
// complete snapshot and series.json lists exactly those. Run returns an
// error only when nothing could be gathered (the first capture failed) or a
// file could not be written; a watch cut short returns its Result with Stop
// saying why.
func Run(ctx context.Context, capture CaptureFunc, opts Options) (*Result, error) {
	opts.setDefaults()
	res := &Result{Series: NewSeries(), Planned: opts.Planned(), Stop: StopDone}
	var idx *Index
	if opts.Dir != "" {
		created, err := prepareDir(opts.Dir)
		if err != nil {
			return nil, err
		}
		if created {
			// A watch that gathered nothing leaves no empty directory behind.
			defer func() {
				if res.Series.Len() == 0 {
					os.Remove(opts.Dir)
				}
			}()
		}
		idx = &Index{Version: IndexVersion, Interval: opts.Interval, Duration: opts.Duration, Planned: res.Planned, WarmUp: opts.WarmUp}
	}
	start := opts.Now()
	failures := 0
	for k := 0; k < res.Planned; k++ {
		due := start.Add(time.Duration(k) * opts.Interval)
		if err := sleepUntil(ctx, opts.Now, due); err != nil {
			res.Stop = StopInterrupted
			break
		}
		if k > 0 && opts.Now().Sub(start) > opts.Duration+opts.Interval/2 {
			break // captures ran late: the time is up
		}
		snap, err := capture(ctx)
		if err != nil {
			switch {
			case ctx.Err() != nil:
				res.Stop = StopInterrupted
			case res.Series.Len() == 0:
				return nil, fmt.Errorf("first sample: %w", err)
			case targetGone(err, res.Series, opts.Exited):
				res.Stop, res.Err = StopExited, err
			default:
				failures++
				if failures < maxFailures {
					if opts.OnError != nil {
						opts.OnError(err)
					}
					continue
				}
				res.Stop, res.Err = StopFailed, err
			}
			break
		}
		failures = 0
		var file string
		if opts.Dir != "" {
			file = sampleName(res.Series.Len()+1, snap)
			if err := snap.Save(filepath.Join(opts.Dir, file), false); err != nil {
				return nil, fmt.Errorf("save sample %d: %w", res.Series.Len()+1, err)
			}
		}
		smp := res.Series.Add(snap)
		smp.File = file
		res.Series.Samples[len(res.Series.Samples)-1].File = file
		if idx != nil {
			idx.Target, idx.Address, idx.Samples = res.Series.Target, res.Series.Address, res.Series.Samples
			if err := idx.write(opts.Dir); err != nil {
				return nil, err
			}
		}
		if opts.OnSample != nil {
			opts.OnSample(res.Series, smp)
		}
	}
	if res.Series.Len() == 0 && res.Stop == StopInterrupted {
		return nil, fmt.Errorf("watch interrupted before the first sample: %w", context.Cause(ctx))
	}
	if idx != nil {
		idx.Stop = res.Stop
		if err := idx.write(opts.Dir); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// sleepUntil waits for t or the context's end.
func sleepUntil(ctx context.Context, now func() time.Time, t time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d := t.Sub(now())
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// targetGone decides whether a failed capture means the target has exited:
// the caller says so, nothing listens any more, or its process is gone.
func targetGone(err error, s *Series, exited func() bool) bool {
	if exited != nil && exited() {
		return true
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ESRCH) || errors.Is(err, os.ErrProcessDone) {
		return true
	}
	msg := err.Error()
	for _, m := range []string{"connection refused", "nothing is listening", "no such process", "connection reset", "EOF"} {
		if strings.Contains(msg, m) {
			return true
		}
	}
	if pid := s.Target.PID; pid > 0 && s.Target.Host == procfs.Hostname() {
		if _, err := os.Stat(filepath.Join(procfs.Root, strconv.Itoa(pid))); errors.Is(err, os.ErrNotExist) {
			return true
		}
	}
	return false
}

// sampleName is the file name of sample n: sortable by number and time, and
// saying which program it is.
func sampleName(n int, snap *snapshot.Snapshot) string {
	prog := snap.Target.Program
	if prog == "" {
		prog = "snapshot"
	}
	prog = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == ' ' || r < ' ' {
			return '_'
		}
		return r
	}, filepath.Base(prog))
	return fmt.Sprintf("%04d-%s-%s.lhsnap", n, prog, snap.Capture.Time.UTC().Format("20060102-150405.000"))
}

// prepareDir creates the series directory (mode 0700) and refuses one that
// already holds a series. It reports whether it created the directory.
func prepareDir(dir string) (created bool, err error) {
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return false, fmt.Errorf("%s is a file: name a directory for the series", dir)
	case err == nil:
		if _, err := os.Stat(filepath.Join(dir, IndexFile)); err == nil {
			return false, fmt.Errorf("%s already holds a series (%s): name another directory with -o", dir, IndexFile)
		}
		return false, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("create series directory: %w", err)
	}
	return true, nil
}
