package main

import (
	"time"

	"github.com/spf13/cobra"
)

// defaultWarmUp is how long heap growth must last before watch, hunt and
// report call it a leak (verdict.Options.MinHeapSpan's default).
const defaultWarmUp = 40 * time.Second

// addWarmUpFlag registers --warm-up on cmd.
func addWarmUpFlag(cmd *cobra.Command, d *time.Duration) {
	cmd.Flags().DurationVar(d, "warm-up", defaultWarmUp,
		"how long heap growth must last before it is called a leak: a cache that fills up within about 3/4 of it is never flagged; 0 names heap leaks as soon as the trend is clear")
}

// checkWarmUp is the usage check of --warm-up.
func checkWarmUp(d time.Duration) error {
	if d < 0 {
		return usageErrorf("--warm-up must be 0 (no wait) or more, got %s", d)
	}
	return nil
}

// minHeapSpan turns a --warm-up value into verdict.Options.MinHeapSpan,
// where zero means the default and a negative value no wait.
func minHeapSpan(warmUp time.Duration) time.Duration {
	if warmUp <= 0 {
		return -1
	}
	return warmUp
}
