//go:build linux

// Command benchattach is the patient of scripts/bench-attach.sh: a process
// with many parked goroutines and many memory-profile buckets that measures,
// from the inside, how long it was stopped.
//
// It parks -goroutines goroutines (blocked on a channel receive, a select, a
// mutex and a sleep, at call depths 1 to 8), allocates from -buckets distinct
// call stacks with runtime.MemProfileRate set to -rate (1 records every
// allocation, so every stack is a bucket), and runs two stall meters, each a
// thread at real-time priority (SCHED_FIFO, when allowed) that sleeps -tick
// at a time with clock_nanosleep and records the gaps between its wake-ups:
//
//   - the thread meter (cmeter.go, needs cgo): a pthread that never runs Go
//     code, so only the kernel decides when it runs. A debugger or leakhunt
//     that stops every thread with ptrace stops it too, so its longest gap
//     while a tool ran is the longest time the tool kept the process
//     stopped, whatever the tool itself reports;
//   - the Go meter: a goroutine locked to its own OS thread. Its gaps also
//     include the Go scheduler's delays in giving it a P back after a sleep,
//     which is what the program's goroutines feel but not the stop itself.
//
// The meters are served on a loopback address as one line of JSON (the
// thread meter's figures unprefixed, the Go meter's as go_*):
//
//	GET /stall          the figures since the last reset
//	GET /stall?reset=1  the same, then starts a new window
//
// and printed to stderr on SIGUSR2 (reading does not reset there). When the
// process is ready it prints one line to stdout:
//
//	ready PID ADDR GOROUTINES METER/PRIORITY
//
// METER is thread, or go when built without cgo; PRIORITY is realtime, or
// normal when SCHED_FIFO was refused (root or CAP_SYS_NICE is needed).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// histBounds are the upper bounds of the gap histogram's buckets; a last
// bucket holds gaps longer than the last bound. cmeter.go has the same.
var histBounds = []time.Duration{
	2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond,
	50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2 * time.Second, 5 * time.Second,
}

const nhist = 12 // len(histBounds) + 1

// maxLog bounds the stalls listed in a report.
const maxLog = 32

// window is one measuring window of a meter: the gaps between its ticks.
// Times are nanoseconds on the meter's monotonic clock.
type window struct {
	since, now int64 // the window's start; when it was read
	ticks      int64
	maxGap     int64
	maxAt      int64 // when the longest gap ended
	stalls     int64 // gaps of at least the threshold
	stalled    int64 // the sum over stalls of (gap - tick)
	hist       [nhist]int64
	log        [][2]int64 // the first maxLog stalls: end, gap
}

// report is what the meters serve: the thread meter's figures (the Go
// meter's when there is no thread meter), and the Go meter's as go_*.
type report struct {
	Meter     string  `json:"meter"` // "thread" or "go": which meter the unprefixed figures are from
	WindowMS  float64 `json:"window_ms"`
	TickMS    float64 `json:"tick_ms"`
	Ticks     int64   `json:"ticks"`
	MaxGapMS  float64 `json:"max_gap_ms"`
	MaxAgoMS  float64 `json:"max_gap_ago_ms"` // how long before the read the longest gap ended
	Stalls    int64   `json:"stalls"`
	StalledMS float64 `json:"stalled_ms"`
	// Hist counts gaps by upper bound in ms ("inf" for the rest).
	Hist map[string]int64 `json:"hist"`
	// Log lists the window's first stalls as [ms from the window's start
	// to the stall's start, gap ms].
	Log [][2]float64 `json:"log"`

	GoMaxGapMS  float64      `json:"go_max_gap_ms"`
	GoStalls    int64        `json:"go_stalls"`
	GoStalledMS float64      `json:"go_stalled_ms"`
	GoLog       [][2]float64 `json:"go_log"`
}

func ms(ns int64) float64 { return float64(ns/1000) / 1000 }

// goMeter is the Go meter: a goroutine locked to its own OS thread, at
// real-time priority, sleeping with clock_nanosleep. Its gaps show stops
// and also every delay of the Go scheduler in handing it back a P after
// the sleep (which on a busy machine can reach tens of milliseconds).
type goMeter struct {
	tick, threshold int64
	base            time.Time
	mu              sync.Mutex
	w               window
}

func (m *goMeter) clock() int64 { return int64(time.Since(m.base)) }

// run ticks forever. It reports on realtime whether it got SCHED_FIFO.
func (m *goMeter) run(realtime chan<- error) {
	runtime.LockOSThread()
	realtime <- setFIFO()
	req := syscall.Timespec{Sec: m.tick / 1e9, Nsec: m.tick % 1e9}
	prev := m.clock()
	for {
		// Errors (EINTR from a signal) only end a sleep early: a short gap.
		syscall.Syscall6(syscall.SYS_CLOCK_NANOSLEEP, clockMonotonic, 0, uintptr(unsafe.Pointer(&req)), 0, 0, 0)
		now := m.clock()
		gap := now - prev
		prev = now
		m.mu.Lock()
		w := &m.w
		w.ticks++
		if gap > w.maxGap {
			w.maxGap, w.maxAt = gap, now
		}
		if gap >= m.threshold {
			w.stalls++
			w.stalled += gap - m.tick
			if len(w.log) < maxLog {
				w.log = append(w.log, [2]int64{now, gap})
			}
		}
		i := 0
		for i < len(histBounds) && gap > int64(histBounds[i]) {
			i++
		}
		w.hist[i]++
		m.mu.Unlock()
	}
}

// read returns the window and, if reset, starts a new one.
func (m *goMeter) read(reset bool) window {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := m.w
	w.now = m.clock()
	w.log = append([][2]int64(nil), w.log...)
	if reset {
		m.w = window{since: w.now}
	}
	return w
}

const (
	clockMonotonic = 1 // CLOCK_MONOTONIC
	schedFIFO      = 1 // SCHED_FIFO
	fifoPriority   = 10
)

// setFIFO gives the calling thread real-time priority.
func setFIFO() error {
	param := struct{ priority int32 }{fifoPriority}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_SETSCHEDULER, 0, schedFIFO, uintptr(unsafe.Pointer(&param))); errno != 0 {
		return errno
	}
	return nil
}

// meters are the two meters behind the endpoint.
type meters struct {
	tick   int64
	thread bool // the thread meter runs
	gom    *goMeter
}

func logMS(w window) [][2]float64 {
	out := [][2]float64{}
	for _, l := range w.log {
		out = append(out, [2]float64{ms(l[0] - l[1] - w.since), ms(l[1])})
	}
	return out
}

func (mt *meters) read(reset bool) report {
	g := mt.gom.read(reset)
	w, name := g, "go"
	if mt.thread {
		w, name = readThreadMeter(reset), "thread"
	}
	r := report{
		Meter: name, WindowMS: ms(w.now - w.since), TickMS: ms(mt.tick), Ticks: w.ticks,
		MaxGapMS: ms(w.maxGap), Stalls: w.stalls, StalledMS: ms(w.stalled),
		Hist: map[string]int64{}, Log: logMS(w),
		GoMaxGapMS: ms(g.maxGap), GoStalls: g.stalls, GoStalledMS: ms(g.stalled), GoLog: logMS(g),
	}
	if w.maxAt != 0 {
		r.MaxAgoMS = ms(w.now - w.maxAt)
	}
	for i, n := range w.hist {
		if n == 0 {
			continue
		}
		key := "inf"
		if i < len(histBounds) {
			key = fmt.Sprint(histBounds[i].Milliseconds())
		}
		r.Hist[key] = n
	}
	return r
}

func (mt *meters) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rep := mt.read(r.URL.Query().Get("reset") != "")
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(rep)
}

var (
	retained [][]byte
	mu       sync.Mutex
	sink     = make(chan int)
	never    = make(chan int)
)

// path allocates at the end of a call chain chosen by the bits of i, so each
// i gives a distinct stack and so a distinct memory-profile bucket.
//
//go:noinline
func path(i, depth int) {
	if depth == 0 {
		retained = append(retained, make([]byte, 64))
		return
	}
	if i&1 == 0 {
		left(i>>1, depth-1)
	} else {
		right(i>>1, depth-1)
	}
}

//go:noinline
func left(i, depth int) { path(i, depth) }

//go:noinline
func right(i, depth int) { path(i, depth) }

// park blocks in one of four ways, depth calls down.
//
//go:noinline
func park(kind, depth int) {
	if depth > 0 {
		park(kind, depth-1)
		return
	}
	switch kind {
	case 0:
		<-sink
	case 1:
		select {
		case <-sink:
		case <-never:
		}
	case 2:
		mu.Lock()
	default:
		time.Sleep(24 * time.Hour)
	}
}

func main() {
	goroutines := flag.Int("goroutines", 10000, "goroutines to park")
	buckets := flag.Int("buckets", 5000, "distinct allocation stacks")
	rate := flag.Int("rate", 1, "runtime.MemProfileRate")
	tick := flag.Duration("tick", time.Millisecond, "the stall meter's tick")
	threshold := flag.Duration("threshold", 2*time.Millisecond, "the shortest gap counted as a stall")
	addr := flag.String("addr", "127.0.0.1:0", "loopback address to serve the stall meter on")
	flag.Parse()
	runtime.MemProfileRate = *rate

	depth := 0
	for 1<<depth < *buckets {
		depth++
	}
	for i := 0; i < *buckets; i++ {
		path(i, depth)
	}

	mu.Lock()
	for i := 0; i < *goroutines; i++ {
		go park(i%4, i%8)
	}

	m := &meters{tick: int64(*tick), gom: &goMeter{tick: int64(*tick), threshold: int64(*threshold), base: time.Now()}}
	rt := make(chan error, 1)
	go m.gom.run(rt)
	prio := "realtime"
	if err := <-rt; err != nil {
		prio = "normal"
		fmt.Fprintf(os.Stderr, "benchattach: the Go meter runs at normal priority (SCHED_FIFO: %v); on a busy machine its gaps include waits for a CPU\n", err)
	}
	kind := "thread"
	ok, err := startThreadMeter(*tick, *threshold)
	switch {
	case !ok:
		kind = "go"
		fmt.Fprintf(os.Stderr, "benchattach: no thread meter (%v): the Go meter's figures are served instead\n", err)
	case err != nil:
		prio = "normal"
		fmt.Fprintf(os.Stderr, "benchattach: the thread meter runs at normal priority (SCHED_FIFO: %v); on a busy machine its gaps include waits for a CPU\n", err)
	}
	m.thread = ok
	usr2 := make(chan os.Signal, 1)
	signal.Notify(usr2, syscall.SIGUSR2)
	go func() {
		for range usr2 {
			b, _ := json.Marshal(m.read(false))
			fmt.Fprintf(os.Stderr, "stall %s\n", b)
		}
	}()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchattach:", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.Handle("/stall", m)
	go http.Serve(ln, mux)

	// Publish the memory profile: allocations reach it after a GC cycle.
	runtime.GC()
	runtime.GC()
	m.read(true)
	fmt.Printf("ready %d %s %d %s/%s\n", os.Getpid(), ln.Addr(), runtime.NumGoroutine(), kind, prio)
	select {}
}
