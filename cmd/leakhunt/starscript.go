package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/leakhunt/leakhunt/profiler/dlvscript"
	"github.com/leakhunt/leakhunt/profiler/snapshot"
	"github.com/leakhunt/leakhunt/profiler/source"
	"github.com/leakhunt/leakhunt/scripts"
)

// ScriptOptions are the inputs of `leakhunt script`.
type ScriptOptions struct {
	IO *IOStreams

	Target  string
	File    string
	Args    []string
	Exe     string
	Verbose bool
}

// NewCmdScript builds `leakhunt script`. Tests pass runF to see the parsed options.
func NewCmdScript(f *Factory, runF func(context.Context, *ScriptOptions) error) *cobra.Command {
	opts := &ScriptOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "script TARGET FILE.star [ARGS...]",
		Short: "Run a delve Starlark script against a process or core file",
		Long: `Run a Starlark script non-interactively against a running Go process (PID) or
a core file (core:FILE), with delve running inside leakhunt: no dlv binary is
needed. Everything the script prints goes to standard output.

The script has delve's documented Starlark builtins (eval, goroutines,
stacktrace, package_vars, find_location, dlv_command, read_file...; see
https://github.com/go-delve/delve/blob/master/Documentation/cli/starlark.md)
and leakhunt's commands as functions: gbt(), gbt_full(), gleaks("30s"),
heaptop(10), gsource(ID), retainers("main.cache"). ARGS are in the list
ARGS, and are passed to main() when it takes that many parameters.

A live target is stopped while the script runs and is left running when it
ends, also on error, Ctrl-C or SIGTERM; nothing is written into it.`,
		Example: `  leakhunt script 12345 report.star
  leakhunt script core:./core.12345 --exe ./server report.star 30s`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usageErrorf("script takes TARGET FILE.star [ARGS...] (got %d argument(s))", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Target, opts.File, opts.Args = args[0], args[1], args[2:]
			opts.Exe = f.Exe // the root's --exe
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return scriptRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Verbose, "verbose", "v", false, "report how long the target was stopped")
	return cmd
}

func scriptRun(ctx context.Context, opts *ScriptOptions) error {
	src, err := os.ReadFile(opts.File)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return usageErrorf("script %s: no such file", opts.File)
		}
		return fmt.Errorf("read script %s: %w", opts.File, err)
	}
	t, err := delveTarget(opts.Target, opts.Exe)
	if err != nil {
		return err
	}
	sess, err := dlvscript.Open(ctx, t)
	if err != nil {
		return err
	}
	defer sess.Close()
	runErr := sess.RunScript(ctx, dlvscript.Script{Name: opts.File, Source: src}, dlvscript.ScriptOptions{
		Preload: []dlvscript.Script{{Name: scripts.LeakhuntStarName, Source: scripts.LeakhuntStar}},
		Args:    opts.Args,
		Out:     opts.IO.Out,
	})
	stopped := sess.Stopped()
	if err := sess.Close(); err != nil && runErr == nil {
		runErr = err
	}
	if opts.Verbose && t.Live() {
		fmt.Fprintf(opts.IO.ErrOut, "target stopped %s\n", stopped.Round(time.Millisecond))
	}
	return runErr
}

// delveTarget resolves a TARGET argument for the delve commands: a PID or
// core:FILE.
func delveTarget(arg, exe string) (dlvscript.Target, error) {
	t, err := source.Parse(arg)
	if err != nil {
		return dlvscript.Target{}, usageErrorf("%v", err)
	}
	switch t.Kind {
	case snapshot.SourcePID:
		if exe != "" {
			return dlvscript.Target{}, usageErrorf("--exe is for core:FILE targets; a process's executable is found from its PID")
		}
		return dlvscript.Target{PID: t.PID}, nil
	case snapshot.SourceCore:
		return dlvscript.Target{Core: t.Path, Exe: exe}, nil
	}
	return dlvscript.Target{}, usageErrorf("%s is not a PID or core:FILE (it names a %s target): this command runs delve, which works on processes and core dumps", arg, t.Kind)
}
