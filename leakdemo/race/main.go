package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"github.com/leakhunt/leakhunt/leakdemo/internal/demo"
)

var spec = demo.Spec{
	Name:  "race",
	Kind:  demo.Race,
	Leaks: "no memory: 8 goroutines do n = n + 1 with no synchronisation and lose updates (one round a second at -rate 1; run it built with -race to see the report)",
	Fixed: "the counter is a sync/atomic.Int64",
	Rate:  1,
	Run:   run,
}

func main() { os.Exit(demo.Main(spec)) }

const (
	workers = 8
	perWork = 50000
)

func run(ctx context.Context, cfg demo.Config) error {
	return demo.Every(ctx, cfg.Rate, func(i int) { report(os.Stdout, i+1, count(cfg.Fixed)) })
}

// report prints one round's result: how many increments were lost.
func report(w io.Writer, round int, got int64) {
	want := int64(workers * perWork)
	fmt.Fprintf(w, "round %d: %d increments, counted %d, lost %d\n", round, want, got, want-got)
}

// count has workers goroutines add 1 to a shared counter perWork times each
// and returns the total.
func count(fixed bool) int64 {
	var (
		n  int64        // the racy counter
		an atomic.Int64 // the fixed one
		wg sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perWork {
				if fixed {
					an.Add(1) // the fix: an atomic read-modify-write
				} else {
					n = n + 1 // the race: a load and a store another goroutine can interleave with
				}
			}
		}()
	}
	wg.Wait()
	if fixed {
		return an.Load()
	}
	return n
}
