//go:build !(linux && amd64)

package attach

import (
	"context"
	"fmt"
	"runtime"

	"github.com/leakhunt/leakhunt/profiler/heapgraph"
)

// CaptureGraph builds the heap's object graph of a running process; see the
// Linux version.
func CaptureGraph(ctx context.Context, pid int, opts Options) (*heapgraph.Graph, *GraphCapture, error) {
	return nil, nil, fmt.Errorf("process %d: %w (this is %s/%s)", pid, errPlatform, runtime.GOOS, runtime.GOARCH)
}

// CaptureGraphCore builds the heap's object graph from a core file; see the
// Linux version.
func CaptureGraphCore(ctx context.Context, corePath, exePath string, opts Options) (*heapgraph.Graph, *GraphCapture, error) {
	return nil, nil, fmt.Errorf("core %s: %w (this is %s/%s)", corePath, errPlatform, runtime.GOOS, runtime.GOARCH)
}
