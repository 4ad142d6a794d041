package main

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/leakhunt/leakhunt/profiler/snapshot"
	"github.com/leakhunt/leakhunt/profiler/source"
)

// version is leakhunt's version: set at build time with -ldflags
// "-X main.version=...", else the module version go install recorded.
var version = moduleVersion()

func moduleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// Factory holds what commands depend on: streams, the clock, and how a TARGET
// becomes a snapshot. Tests replace any of them.
type Factory struct {
	IO  *IOStreams
	Now func() time.Time
	// Exe is the executable of core:FILE targets when the core does not name
	// one (the --exe flag every command takes).
	Exe string
	// Capture takes a snapshot of a parsed target.
	Capture func(ctx context.Context, t source.Target, opts source.Options) (*snapshot.Snapshot, error)
}

func newFactory(io *IOStreams) *Factory {
	return &Factory{IO: io, Now: time.Now, Capture: source.Capture}
}

// Snapshot resolves a TARGET argument and takes (or loads) a snapshot of it.
func (f *Factory) Snapshot(ctx context.Context, arg string, opts source.Options) (*snapshot.Snapshot, error) {
	t, err := source.Parse(arg)
	if err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = f.Now
	}
	if opts.Exe == "" {
		opts.Exe = f.Exe
	}
	if opts.Tool == "" {
		opts.Tool = "leakhunt " + version
	}
	s, err := f.Capture(ctx, t, opts)
	if err != nil {
		return nil, err
	}
	for _, n := range s.Capture.Notes {
		fmt.Fprintf(f.IO.ErrOut, "note: %s\n", n)
	}
	return s, nil
}
