package main

import (
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/leakhunt/leakhunt/profiler/analyze"
)

// heapFlags are the flags top and diff share: how to group, rank and filter
// heap samples.
type heapFlags struct {
	By     string
	N      int
	Sample string
	Focus  string
	Ignore string
	Source bool
}

func (h *heapFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&h.By, "by", "line", "group by line, function, file or stack")
	cmd.Flags().IntVarP(&h.N, "n", "n", 10, "show the N largest rows (0: all)")
	cmd.Flags().StringVar(&h.Sample, "sample", "inuse_space", "rank by "+strings.Join(analyze.Samples, ", "))
	cmd.Flags().StringVar(&h.Focus, "focus", "", "keep only allocations with a frame matching this regexp (function or file:line)")
	cmd.Flags().StringVar(&h.Ignore, "ignore", "", "drop allocations with a frame matching this regexp (function or file:line)")
	cmd.Flags().BoolVar(&h.Source, "source", true, "with --by line, show each line's source text when the file is readable")
}

// options checks the flag values and turns them into analysis options.
func (h *heapFlags) options() (analyze.HeapOptions, error) {
	var o analyze.HeapOptions
	by, err := analyze.ParseKey(h.By)
	if err != nil {
		return o, &usageError{err}
	}
	o.By = by
	valid := false
	for _, s := range analyze.Samples {
		valid = valid || s == h.Sample
	}
	if !valid {
		return o, usageErrorf("unknown --sample %q: use %s", h.Sample, strings.Join(analyze.Samples, ", "))
	}
	o.Sample = h.Sample
	if h.N < 0 {
		return o, usageErrorf("-n must be 0 (all) or more, not %d", h.N)
	}
	if o.Focus, err = compile("focus", h.Focus); err != nil {
		return o, err
	}
	if o.Ignore, err = compile("ignore", h.Ignore); err != nil {
		return o, err
	}
	return o, nil
}

func compile(flag, expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, usageErrorf("bad --%s regexp %q: %v", flag, expr, err)
	}
	return re, nil
}
