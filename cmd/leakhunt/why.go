package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/leakhunt/leakhunt/profiler/atomicfile"
	"github.com/leakhunt/leakhunt/profiler/refs"
	"github.com/leakhunt/leakhunt/profiler/source"
)

// WhyOptions are the inputs of `leakhunt why`.
type WhyOptions struct {
	IO      *IOStreams
	Factory *Factory
	// Graph obtains a target's object graph.
	Graph graphFunc

	Target string
	Addr   uint64
	Type   string
	Dot    string
	Force  bool
	N      int
	JSON   bool
}

// NewCmdWhy builds `leakhunt why`. Tests pass runF to see the parsed options.
func NewCmdWhy(f *Factory, runF func(context.Context, *WhyOptions) error) *cobra.Command {
	opts := &WhyOptions{IO: f.IO, Factory: f, Graph: source.Graph}
	cmd := &cobra.Command{
		Use:   "why TARGET (ADDR | --type T)",
		Short: "Show the chain of references that keeps an object, or the objects of a type, alive",
		Long: `Show the shortest chain of references from a root (a package variable or a
goroutine frame variable) to the object at ADDR, or to every object of type T,
with the field, map and slice steps between them (objgraph's
find_backref_chain). Objects of a type reached by the same steps are grouped;
the most common chains come first. Each chain says who keeps the objects
alive: the root that dominates them, or the roots that share them.

--dot FILE writes the chains as a Graphviz graph of back-references
(objgraph's show_backrefs): dot -Tsvg FILE > refs.svg.

TARGET is a PID or core:FILE: a saved analysis holds no object graph.`,
		Example: `  leakhunt why 12345 --type main.session
  leakhunt why 12345 0xc000123450
  leakhunt why core:./core.12345 --exe ./server --type '[]uint8' --dot refs.dot`,
		Args: func(cmd *cobra.Command, args []string) error {
			if opts.Type != "" {
				if len(args) != 1 {
					return usageErrorf("why --type T takes one argument, TARGET (got %d)", len(args))
				}
				return nil
			}
			if len(args) != 2 {
				return usageErrorf("why takes TARGET and an object address, or TARGET and --type T (got %d arguments)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Target = args[0]
			if len(args) == 2 {
				addr, err := parseAddr(args[1])
				if err != nil {
					return usageErrorf("%v", err)
				}
				opts.Addr = addr
			}
			if opts.N < 0 {
				return usageErrorf("-n must be 0 (all) or more, not %d", opts.N)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return whyRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Type, "type", "", "explain every object of this type instead of one address")
	cmd.Flags().StringVar(&opts.Dot, "dot", "", "write the chains as a Graphviz graph to this file")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "overwrite the --dot file if it exists")
	cmd.Flags().IntVarP(&opts.N, "n", "n", 5, "show the N most common chains (0: all)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON (schema in docs/objects.md)")
	return cmd
}

// parseAddr reads an object address: hexadecimal with 0x, or decimal.
func parseAddr(s string) (uint64, error) {
	t := strings.ToLower(s)
	var v uint64
	var err error
	if strings.HasPrefix(t, "0x") {
		v, err = strconv.ParseUint(t[2:], 16, 64)
	} else {
		v, err = strconv.ParseUint(t, 10, 64)
	}
	if err != nil || v == 0 {
		return 0, fmt.Errorf("%q is not an object address: give one like 0xc000123450", s)
	}
	return v, nil
}

// whyJSON is the --json output of `leakhunt why`.
type whyJSON struct {
	Target  string       `json:"target"`
	Query   string       `json:"query"`
	Objects int          `json:"objects"`
	Chains  []refs.Chain `json:"chains"`
}

func whyRun(ctx context.Context, opts *WhyOptions) error {
	if err := checkOutputs(opts.Force, opts.Dot); err != nil {
		return err
	}
	a, err := loadAnalysis(ctx, opts.IO, opts.Factory, opts.Graph, opts.Target)
	if err != nil {
		return err
	}
	var targets []int
	var what string
	if opts.Type != "" {
		if targets, err = a.ObjectsOfType(opts.Type); err != nil {
			return noGraph(err, opts.Target)
		}
		what = "type " + strings.TrimPrefix(opts.Type, "*")
	} else {
		o, err := a.Find(opts.Addr)
		if err != nil {
			return noGraph(err, opts.Target)
		}
		targets = []int{o}
		what = fmt.Sprintf("object %#x", opts.Addr)
	}
	chains, err := a.Why(targets, opts.N, 0)
	if err != nil {
		return noGraph(err, opts.Target)
	}
	if opts.Dot != "" {
		if err := atomicfile.Write(opts.Dot, opts.Force, func(w io.Writer) error { return a.Dot(w, chains, refs.DotOptions{}) }); err != nil {
			return err
		}
		fmt.Fprintf(opts.IO.ErrOut, "wrote %s (dot -Tsvg %s > refs.svg)\n", opts.Dot, opts.Dot)
	}
	if opts.JSON {
		return writeJSON(opts.IO.Out, whyJSON{Target: opts.Target, Query: what, Objects: len(targets), Chains: chains})
	}
	return refs.WriteChains(opts.IO.Out, what, len(targets), chains, refs.TextOptions{Width: opts.IO.Width})
}

func noGraph(err error, target string) error {
	if errors.Is(err, refs.ErrNoGraph) {
		return fmt.Errorf("%s is a saved analysis, which holds no object graph: why needs a PID or core:FILE", target)
	}
	return err
}
