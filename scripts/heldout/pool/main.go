// Command pool is a thumbnail service with a fixed pool of 32 workers
// started at boot; jobs are rare, so the workers are idle most of the
// time. Not a leak: the goroutine count never changes.
package main

import (
	"crypto/sha256"
	"sync/atomic"
	"time"
)

type job struct {
	id    int
	image []byte
	done  chan [32]byte
}

var processed atomic.Int64

func worker(jobs <-chan job) {
	for j := range jobs {
		thumb := make([]byte, len(j.image)/4)
		for i := range thumb {
			thumb[i] = j.image[i*4]
		}
		j.done <- sha256.Sum256(thumb)
		processed.Add(1)
	}
}

func main() {
	servePprof()
	go renderResponses()
	jobs := make(chan job)
	for range 32 {
		go worker(jobs)
	}
	tick := time.NewTicker(700 * time.Millisecond)
	for n := 0; ; n++ {
		<-tick.C
		// a burst of a few jobs now and then
		k := 1 + n%5
		done := make(chan [32]byte, k)
		for i := range k {
			jobs <- job{id: n*8 + i, image: make([]byte, 64<<10), done: done}
		}
		for range k {
			<-done
		}
	}
}
