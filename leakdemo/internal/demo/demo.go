// Package demo is what every leakdemo program shares: its flags, the start
// banner, the optional net/http/pprof server, the request loop and the
// steady allocation churn a real service makes, so that each demo's leak has
// noise to hide in.
//
// It uses the standard library only and imports nothing from leakhunt's
// profiler: the demos are the patients, not the doctors. leakhunt embeds this
// package's sources with the demos' (see package leakdemo) and builds them.
package demo

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

// Kind says what a demo shows: a leak, a control that does not leak, or a
// data race.
type Kind string

// The kinds of demo.
const (
	Leaky   Kind = "leaky"
	Control Kind = "control"
	Race    Kind = "race"
)

// Config is a demo's parsed command line.
type Config struct {
	// Fixed runs the program with its bug fixed.
	Fixed bool
	// Rate is how many requests (or rounds) the demo serves per second; each
	// demo says how many bytes one request leaks.
	Rate float64
	// Addr is where to serve net/http/pprof; empty means no endpoint.
	Addr string
	// PrintMemProfileRate prints runtime.MemProfileRate and exits: it shows
	// whether the linker left the memory profiler on.
	PrintMemProfileRate bool
	// NoChurn turns off the background allocation noise.
	NoChurn bool
}

// Spec describes one demo program for Main.
type Spec struct {
	Name string
	Kind Kind
	// Leaks says what the leaky variant leaks, and how fast at the default rate.
	Leaks string
	// Fixed says what the -fixed variant does instead.
	Fixed string
	// Rate is the default -rate.
	Rate float64
	// Run is the workload: it serves requests at cfg.Rate until ctx is done.
	Run func(ctx context.Context, cfg Config) error
}

// Parse parses a demo's command line (without the program name).
func Parse(spec Spec, args []string, stderr io.Writer) (Config, error) {
	cfg := Config{Rate: spec.Rate}
	fs := flag.NewFlagSet(spec.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&cfg.Fixed, "fixed", false, "run with the bug fixed")
	fs.Float64Var(&cfg.Rate, "rate", spec.Rate, "requests per second (the leak grows with it)")
	fs.StringVar(&cfg.Addr, "addr", "", "serve net/http/pprof on HOST:PORT (127.0.0.1:0 picks a port); default: no endpoint")
	fs.BoolVar(&cfg.PrintMemProfileRate, "print-memprofilerate", false, "print runtime.MemProfileRate and exit")
	fs.BoolVar(&cfg.NoChurn, "no-churn", false, "do not make background allocation noise")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s [-fixed] [-rate N] [-addr HOST:PORT]\n\n%s demo: leaks %s\n\n", spec.Name, spec.Kind, spec.Leaks)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q (flags only; see -h)", fs.Arg(0))
	}
	if cfg.Rate <= 0 {
		return cfg, fmt.Errorf("-rate must be more than 0, got %v", cfg.Rate)
	}
	return cfg, nil
}

// Main runs a demo as a program: it parses os.Args, prints the banner, serves
// pprof when asked, makes churn, and runs the workload until SIGINT or
// SIGTERM. It returns the exit status.
func Main(spec Spec) int {
	cfg, err := Parse(spec, os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", spec.Name, err)
		return 2
	}
	if cfg.PrintMemProfileRate {
		fmt.Printf("memprofilerate %d\n", runtime.MemProfileRate)
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	url := ""
	if cfg.Addr != "" {
		url, err = ServePprof(ctx, cfg.Addr)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", spec.Name, err)
			return 1
		}
	}
	Banner(os.Stdout, spec, cfg, os.Getpid(), url)
	if !cfg.NoChurn {
		go Churn(ctx)
	}
	if err := spec.Run(ctx, cfg); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(os.Stderr, "%s: %v\n", spec.Name, err)
		return 1
	}
	return 0
}

// Banner prints the start banner, one fact a line, in a stable format that
// leakhunt reads back:
//
//	demo: cache (leaky)
//	pid 1234
//	leaks: ...
//	pprof: http://127.0.0.1:PORT/debug/pprof/   (or "pprof: none ...")
//
// The pprof line is always last.
func Banner(w io.Writer, spec Spec, cfg Config, pid int, url string) {
	variant := string(spec.Kind)
	if cfg.Fixed && spec.Kind != Control {
		variant = "fixed"
	}
	fmt.Fprintf(w, "demo: %s (%s)\n", spec.Name, variant)
	fmt.Fprintf(w, "pid %d\n", pid)
	switch {
	case spec.Kind == Control:
		fmt.Fprintf(w, "leaks: nothing (control: %s)\n", spec.Leaks)
	case cfg.Fixed:
		fmt.Fprintf(w, "leaks: nothing (fixed: %s)\n", spec.Fixed)
	default:
		fmt.Fprintf(w, "leaks: %s\n", spec.Leaks)
	}
	if url == "" {
		fmt.Fprintf(w, "pprof: none (start with -addr 127.0.0.1:0 to serve net/http/pprof; memprofilerate %d)\n", runtime.MemProfileRate)
	} else {
		fmt.Fprintf(w, "pprof: %s\n", url)
	}
}
