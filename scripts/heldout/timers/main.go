// Command timers is a request gateway that arms a timeout per in-flight
// request. The bug: finish stops the timer but never deletes it from the
// map, so every request's timer, its closure and the request metadata it
// captures stay reachable forever (~40 requests/s, ~25-35 KiB/s).
package main

import (
	"fmt"
	"log"
	"sync"
	"time"
)

type pending struct {
	id      string
	client  string
	started time.Time
	headers map[string]string
}

type tracker struct {
	mu      sync.Mutex
	timers  map[string]*time.Timer
	expired int
}

func newPending(id string, n int) *pending {
	p := &pending{id: id, client: fmt.Sprintf("10.1.%d.%d:%d", n%250, n%13, 40000+n%2000), started: time.Now()}
	p.headers = map[string]string{
		"x-request-id": id,
		"user-agent":   "gateway-client/2.1",
		"accept":       "application/json",
		"x-trace":      fmt.Sprintf("%016x", n*7919),
	}
	return p
}

func (t *tracker) begin(p *pending) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.timers[p.id] = time.AfterFunc(10*time.Minute, func() { t.expire(p) })
}

func (t *tracker) expire(p *pending) {
	t.mu.Lock()
	t.expired++
	t.mu.Unlock()
	log.Printf("request %s from %s timed out", p.id, p.client)
}

// finish is called when the backend answered: the timer is stopped, but the
// entry is left in the map (missing delete(t.timers, id)).
func (t *tracker) finish(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tm, ok := t.timers[id]; ok {
		tm.Stop()
	}
}

func main() {
	servePprof()
	go renderResponses()
	tr := &tracker{timers: make(map[string]*time.Timer)}
	tick := time.NewTicker(25 * time.Millisecond)
	for n := 0; ; n++ {
		<-tick.C
		id := fmt.Sprintf("req-%010d", n)
		p := newPending(id, n)
		tr.begin(p)
		tr.finish(id)
	}
}
