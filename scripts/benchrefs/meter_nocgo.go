//go:build linux && !cgo

package main

import "time"

// startMeter without cgo runs the Go meter.
func startMeter(tick, threshold time.Duration) (m meter, kind string, prio error) {
	gm, err := startGoMeter(tick, threshold)
	return gm, "go", err
}
