//go:build !(linux && amd64)

package attach

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

// errPlatform is returned where attaching is not implemented.
var errPlatform = errors.New("attaching to processes and reading cores needs Linux on amd64")

// Capture takes a snapshot of the running Go process pid; see the Linux version.
func Capture(ctx context.Context, pid int, opts Options) (*snapshot.Snapshot, error) {
	return nil, fmt.Errorf("process %d: %w (this is %s/%s)", pid, errPlatform, runtime.GOOS, runtime.GOARCH)
}

// CaptureCore takes a snapshot from a core file; see the Linux version.
func CaptureCore(ctx context.Context, corePath, exePath string, opts Options) (*snapshot.Snapshot, error) {
	return nil, fmt.Errorf("core %s: %w (this is %s/%s)", corePath, errPlatform, runtime.GOOS, runtime.GOARCH)
}

// WriteCore writes a core dump of pid; see the Linux version.
func WriteCore(ctx context.Context, pid int, path string, overwrite bool) (*CoreStats, error) {
	return nil, fmt.Errorf("process %d: %w (this is %s/%s)", pid, errPlatform, runtime.GOOS, runtime.GOARCH)
}
