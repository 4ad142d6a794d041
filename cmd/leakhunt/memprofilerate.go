package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/leakhunt/leakhunt/profiler/watch"
)

// memProfileRateUsage is the help of --memprofilerate on the commands that
// start a program (watch -- COMMAND, hunt --demo, demo run).
const memProfileRateUsage = "for a program leakhunt starts: sample its heap once per N bytes allocated " +
	"(GODEBUG=memprofilerate=N; a memprofilerate already in GODEBUG wins); finer sampling names slow leaks sooner " +
	"at a small CPU cost (docs/benchmarks.md); 0 keeps the runtime's 512 KiB. For a running TARGET (PID or 127.0.0.1 URL), " +
	"giving the flag writes runtime.MemProfileRate into the process (asks first on a terminal) and sets the old rate back at the end (docs/sampling.md)"

// addMemProfileRateFlag binds --memprofilerate to rate with default def.
func addMemProfileRateFlag(cmd *cobra.Command, rate *int, def int) {
	cmd.Flags().IntVar(rate, "memprofilerate", def, memProfileRateUsage)
}

// checkMemProfileRate is the usage check of --memprofilerate.
func checkMemProfileRate(rate int) error {
	if rate < 0 {
		return usageErrorf("--memprofilerate must be 0 (the runtime's default) or more bytes, got %d", rate)
	}
	return nil
}

// memProfileRateNote says how a program leakhunt starts with environment
// env and --memprofilerate rate samples its heap, or "" when leakhunt leaves
// the runtime's default alone and env sets nothing either.
func memProfileRateNote(env []string, rate int) string {
	if v, ok := watch.GODEBUGMemProfileRate(env); ok {
		return fmt.Sprintf("heap sampling: GODEBUG=memprofilerate=%s from the environment (it wins over --memprofilerate)", v)
	}
	if rate <= 0 {
		return ""
	}
	return fmt.Sprintf("heap sampling: one per %s (GODEBUG=memprofilerate=%d; --memprofilerate 0 keeps the runtime's 512 KiB)", rateSize(rate), rate)
}

// rateSize writes a sampling rate in bytes the way people say it.
func rateSize(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	case n == 1:
		return "byte (every allocation)"
	}
	return fmt.Sprintf("%d bytes", n)
}
