package main

import (
	"context"
	"os"
	"time"

	"github.com/leakhunt/leakhunt/leakdemo/internal/demo"
)

var spec = demo.Spec{
	Name:  "sawtooth",
	Kind:  demo.Control,
	Leaks: "a 16 MiB report buffer built every 2 s at -rate 0.5, held while in use, then dropped: the heap saws up and down",
	Fixed: "the same: there is nothing to fix",
	Rate:  0.5,
	Run:   run,
}

func main() { os.Exit(demo.Main(spec)) }

// reportSize is the size of the temporary buffer each report builds.
const reportSize = 16 << 20

func run(ctx context.Context, cfg demo.Config) error {
	return demo.Every(ctx, cfg.Rate, func(i int) { report(i, 200*time.Millisecond) })
}

// report builds report i in a large buffer, keeps it for hold (sending it,
// say), and returns its checksum. The buffer is garbage afterwards.
func report(i int, hold time.Duration) int {
	buf := make([]byte, reportSize)
	for j := 0; j < len(buf); j += 4096 {
		buf[j] = byte(i + j)
	}
	time.Sleep(hold)
	sum := 0
	for j := 0; j < len(buf); j += 4096 {
		sum += int(buf[j])
	}
	return sum
}
