// Command window is a latency monitor: a goroutine reads request events and
// keeps a rolling window of samples to report percentiles. The bug: the
// window's samples slice is appended to but never trimmed to its horizon,
// so every sample (and its encoded tags, allocated two calls deep) stays
// reachable from the goroutine's local window (~100 events/s, ~30 KiB/s).
package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

type event struct {
	route   string
	status  int
	latency time.Duration
	region  string
}

type sample struct {
	at      time.Time
	route   string
	latency time.Duration
	tags    []byte
}

type window struct {
	name    string
	horizon time.Duration
	samples []sample
}

// record adds one event to the window (it should drop samples older than
// the horizon, and does not).
func (w *window) record(ev event) {
	w.samples = append(w.samples, w.newSample(ev))
}

func (w *window) newSample(ev event) sample {
	tags := make([]byte, 0, 192)
	tags = fmt.Appendf(tags, "route=%s status=%d region=%s", ev.route, ev.status, ev.region)
	return sample{at: time.Now(), route: ev.route, latency: ev.latency, tags: tags}
}

func (w *window) p99() time.Duration {
	n := min(len(w.samples), 500)
	lat := make([]time.Duration, 0, n)
	for _, s := range w.samples[len(w.samples)-n:] {
		lat = append(lat, s.latency)
	}
	slices.Sort(lat)
	return lat[n*99/100]
}

func runMonitor(events <-chan event, reports chan<- time.Duration) {
	w := &window{name: "latency", horizon: time.Minute}
	last := time.Now()
	for ev := range events {
		w.record(ev)
		if time.Since(last) > 5*time.Second {
			reports <- w.p99()
			last = time.Now()
		}
	}
}

func main() {
	servePprof()
	go renderResponses()
	events := make(chan event, 64)
	reports := make(chan time.Duration, 4)
	go runMonitor(events, reports)
	go func() {
		for p := range reports {
			_ = p
		}
	}()
	routes := []string{"/api/v1/orders", "/api/v1/users", "/healthz", "/api/v1/search"}
	regions := []string{"eu-west-1", "us-east-2", "ap-south-1"}
	tick := time.NewTicker(10 * time.Millisecond)
	for n := 0; ; n++ {
		<-tick.C
		events <- event{route: routes[n%4], status: 200, latency: time.Duration(rand.IntN(50_000)) * time.Microsecond, region: regions[n%3]}
	}
}
