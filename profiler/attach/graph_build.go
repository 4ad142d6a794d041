//go:build linux && amd64

package attach

import (
	"context"

	"github.com/leakhunt/leakhunt/profiler/heapgraph"
)

// buildGraph walks the heap of a captured Input.
func buildGraph(ctx context.Context, in *heapgraph.Input) (*heapgraph.Graph, error) {
	return heapgraph.Build(ctx, in)
}
