//go:build !(linux && amd64)

package attach

import (
	"context"
	"fmt"
	"runtime"
)

// SetMemProfileRate sets runtime.MemProfileRate of a running process; see
// the Linux version.
func SetMemProfileRate(ctx context.Context, pid int, rate int) (*RateChange, error) {
	if err := checkRate(rate); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("process %d: %w (this is %s/%s)", pid, errPlatform, runtime.GOOS, runtime.GOARCH)
}

// Restore sets the old rate back; see the Linux version.
func (c *RateChange) Restore(ctx context.Context) (*RateChange, error) {
	return nil, fmt.Errorf("process %d: %w (this is %s/%s)", c.PID, errPlatform, runtime.GOOS, runtime.GOARCH)
}
