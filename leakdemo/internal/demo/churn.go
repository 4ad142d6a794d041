package demo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// sink keeps the compiler from optimising the churn away.
var sink int

// Churn allocates about 1 MiB a second of short-lived garbage — buffers,
// strings, maps — the way a service parses and renders requests, until ctx is
// done. None of it survives a GC cycle: it is the noise a leak hides in.
func Churn(ctx context.Context) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	r := rand.New(rand.NewPCG(1, 2))
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sink += churnOnce(r)
	}
}

// churnOnce allocates about 10 KiB of garbage and returns a number derived
// from it.
func churnOnce(r *rand.Rand) int {
	buf := make([]byte, 4<<10+r.IntN(12<<10))
	for i := range buf {
		buf[i] = byte(i)
	}
	fields := make(map[string]string, 16)
	var b strings.Builder
	for i := range 16 {
		k := fmt.Sprintf("header-%d", i)
		fields[k] = strings.Repeat("v", 8+r.IntN(64))
		b.WriteString(k)
		b.WriteString(fields[k])
	}
	return len(buf) + b.Len() + len(fields)
}
