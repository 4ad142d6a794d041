package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

func isLeak(err error) bool { return errors.Is(err, errLeakFound) }

func asUsage(err error, ue **usageError) bool { return errors.As(err, ue) }

func debugPanics() bool { return os.Getenv("LEAKHUNT_DEBUG") != "" }

// commandPath names the subcommand args called, for the usage hint.
func commandPath(root *cobra.Command, args []string) string {
	c, _, err := root.Find(args)
	if err != nil || c == nil {
		return root.Name()
	}
	return c.CommandPath()
}

// exactArgs is cobra.ExactArgs with a usage error that names what is missing.
func exactArgs(n int, names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErrorf("%s takes %d argument(s): %s (got %d)", cmd.Name(), n, strings.Join(names, " "), len(args))
		}
		return nil
	}
}

// writeJSON writes v as indented JSON: the one encoder every --json output goes through.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}
