package main

import (
	"context"
	"os"
	"sync"

	"github.com/leakhunt/leakhunt/leakdemo/internal/demo"
)

var spec = demo.Spec{
	Name:  "pool",
	Kind:  demo.Control,
	Leaks: "16 idle workers blocked on a channel receive between jobs (2 jobs/s at -rate 2): many waiting goroutines, a constant number",
	Fixed: "the same: there is nothing to fix",
	Rate:  2,
	Run:   run,
}

func main() { os.Exit(demo.Main(spec)) }

// poolSize is how many workers the pool runs.
const poolSize = 16

// pool is a fixed set of workers fed through one channel.
type pool struct {
	jobs chan job
	wg   sync.WaitGroup
}

type job struct {
	n    int
	done chan int
}

// newPool starts the workers; Close stops them.
func newPool() *pool {
	p := &pool{jobs: make(chan job)}
	for range poolSize {
		p.wg.Add(1)
		go p.work()
	}
	return p
}

// work runs jobs until the pool is closed; between jobs it waits on the
// channel receive, which is what makes it look leaked in a goroutine dump.
func (p *pool) work() {
	defer p.wg.Done()
	for j := range p.jobs {
		buf := make([]byte, 64<<10)
		for k := range buf {
			buf[k] = byte(j.n + k)
		}
		j.done <- int(buf[len(buf)-1])
	}
}

// Do runs one job on the pool and waits for its result.
func (p *pool) Do(n int) int {
	done := make(chan int, 1)
	p.jobs <- job{n, done}
	return <-done
}

// Close stops the workers and waits for them.
func (p *pool) Close() {
	close(p.jobs)
	p.wg.Wait()
}

func run(ctx context.Context, cfg demo.Config) error {
	p := newPool()
	defer p.Close()
	return demo.Every(ctx, cfg.Rate, func(i int) { p.Do(i) })
}
