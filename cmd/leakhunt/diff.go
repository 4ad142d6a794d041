package main

import (
	"context"

	"github.com/spf13/cobra"
)

// NewCmdDiff builds `leakhunt diff` (being written).
func NewCmdDiff(f *Factory, runF func(context.Context, any) error) *cobra.Command {
	return &cobra.Command{Use: "diff OLD NEW", Short: "Compare two snapshots", Hidden: true}
}

// NewCmdStats builds `leakhunt stats` (being written).
func NewCmdStats(f *Factory, runF func(context.Context, any) error) *cobra.Command {
	return &cobra.Command{Use: "stats TARGET", Short: "Memory and goroutine totals", Hidden: true}
}

// NewCmdTop builds `leakhunt top` (being written).
func NewCmdTop(f *Factory, runF func(context.Context, any) error) *cobra.Command {
	return &cobra.Command{Use: "top TARGET", Short: "Heap statistics", Hidden: true}
}
