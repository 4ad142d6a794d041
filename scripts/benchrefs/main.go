//go:build linux

// Command benchrefs is the patient of scripts/bench-refs.sh: a process with
// a big heap of many small objects, held by package variables, that measures
// from the inside how long it was stopped.
//
// It builds a heap of about -mb megabytes in about -objects objects, of a
// few types linked the way a server's state is:
//
//	sessions  map[uint64]*Session   every session, by ID
//	recent    []*Session            every 8th session
//	lru       *Node                 a doubly linked list with one Node per session
//
// Each Session has a name (a string), a payload ([]byte, sized so that the
// heap comes to -mb) and a slice of 4 *Item; each Item points back to its
// session (a cycle) and to the next item. That is 9 objects per session
// (Session, name, payload, items array, 4 Items, Node) plus the map's groups,
// about 100 bytes per object on average at the defaults (1,100 MB, 11 M
// objects) or with -mb 100 -objects 1000000. Every payload is written, so
// the heap is resident, as a real program's is.
//
// The garbage collector is off while the heap is built and stays off after
// two full collections: the heap then stays the same for every tool run, and
// no collection starts in the middle of one (an idle program would otherwise
// be collected every two minutes). -gc turns it back on.
//
// A stall meter measures stops: a thread outside the Go runtime (created
// with pthread_create, it never runs Go code) at real-time priority
// (SCHED_FIFO, when allowed) wakes every -tick and records the longest gap
// between two wake-ups. A tool that stops the process with ptrace stops that
// thread too, so the longest gap while a tool ran, less one tick, is how long
// the tool kept the process stopped, whatever the tool says. Without cgo a
// goroutine locked to its own thread does the same (and also feels the Go
// scheduler). The figures are served on a loopback address as one line of
// JSON, and written to stderr on SIGUSR2:
//
//	GET /stall          the figures since the last reset
//	GET /stall?reset=1  the same, then starts a new window
//
// When the heap is built it prints one line to stdout, then idles:
//
//	ready PID ADDR HEAP_OBJECTS HEAP_BYTES METER/PRIORITY BUILD_SECONDS
//
// HEAP_OBJECTS and HEAP_BYTES are runtime.MemStats' HeapObjects and
// HeapAlloc after the collections; METER is thread or go; PRIORITY is
// realtime, or normal when SCHED_FIFO was refused (it needs root or
// CAP_SYS_NICE).
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
	"runtime/debug"
	"strconv"
	"syscall"
	"time"
)

// Session is one user session: the unit the heap is made of.
type Session struct {
	ID      uint64
	Name    string
	Items   []*Item
	Payload []byte
	Prev    *Session // the session built before this one
}

// Item is one thing a session holds; it points back to its session.
type Item struct {
	ID    uint64
	Price float64
	Owner *Session
	Next  *Item
	Tag   string
}

// Node is an element of the lru list.
type Node struct {
	Prev, Next *Node
	S          *Session
	Seq        int64
}

// The heap's roots.
var (
	sessions map[uint64]*Session
	recent   []*Session
	lru      *Node
	tags     = []string{"new", "active", "idle", "closing"}
)

// perSession is what one session costs without its payload: the objects'
// size classes (Session 80, name 24, items array 32, Items 4 x 48, Node 32)
// and about 25 bytes of map per entry.
const (
	objectsPerSession = 9
	bytesPerSession   = 80 + 24 + 32 + 4*48 + 32 + 25
)

// build makes n sessions with payloads of payload bytes.
func build(n, payload int) {
	sessions = make(map[uint64]*Session, n)
	recent = make([]*Session, 0, n/8+1)
	pattern := make([]byte, payload)
	for i := range pattern {
		pattern[i] = byte(i*7 + 1)
	}
	var prev *Session
	var tail *Node
	name := make([]byte, 0, 32)
	for i := 0; i < n; i++ {
		id := uint64(i)*2654435761 + 1
		name = strconv.AppendUint(append(name[:0], "session-"...), id, 10) // 18+ bytes: no tiny allocations
		s := &Session{ID: id, Name: string(name), Items: make([]*Item, 4), Payload: make([]byte, payload), Prev: prev}
		copy(s.Payload, pattern)
		s.Payload[0] = byte(i)
		var next *Item
		for j := 3; j >= 0; j-- {
			it := &Item{ID: id<<2 | uint64(j), Price: float64(i%1000) + float64(j)/4, Owner: s, Next: next, Tag: tags[j]}
			s.Items[j] = it
			next = it
		}
		sessions[id] = s
		if i%8 == 0 {
			recent = append(recent, s)
		}
		nd := &Node{Prev: tail, S: s, Seq: int64(i)}
		if tail == nil {
			lru = nd
		} else {
			tail.Next = nd
		}
		tail = nd
		prev = s
	}
}

// stats is what /stall serves.
type stats struct {
	Meter     string  `json:"meter"`
	WindowMS  float64 `json:"window_ms"`
	TickMS    float64 `json:"tick_ms"`
	Ticks     int64   `json:"ticks"`
	MaxGapMS  float64 `json:"max_gap_ms"`
	StopMS    float64 `json:"stop_ms"` // the longest gap less one tick
	Stalls    int64   `json:"stalls"`
	StalledMS float64 `json:"stalled_ms"`
}

func ms(ns int64) float64 { return float64(ns/1000) / 1000 }

func report(m meter, kind string, reset bool) stats {
	w := m.read(reset)
	st := stats{
		Meter: kind, WindowMS: ms(w.now - w.since), TickMS: ms(w.tick), Ticks: w.ticks,
		MaxGapMS: ms(w.maxGap), Stalls: w.stalls, StalledMS: ms(w.stalled),
	}
	if w.maxGap > w.tick {
		st.StopMS = ms(w.maxGap - w.tick)
	}
	return st
}

func main() {
	mb := flag.Int("mb", 1100, "heap size to build, in megabytes (10^6 bytes)")
	objects := flag.Int("objects", 11_000_000, "objects to build")
	gc := flag.Bool("gc", false, "leave the garbage collector on once the heap is built")
	tick := flag.Duration("tick", time.Millisecond, "the stall meter's tick")
	threshold := flag.Duration("threshold", 2*time.Millisecond, "the shortest gap counted as a stall")
	addr := flag.String("addr", "127.0.0.1:0", "loopback address to serve the stall meter on")
	flag.Parse()
	if *mb <= 0 || *objects < objectsPerSession {
		fmt.Fprintf(os.Stderr, "benchrefs: -mb must be positive and -objects at least %d\n", objectsPerSession)
		os.Exit(2)
	}

	n := *objects / objectsPerSession
	payload := int(int64(*mb)*1_000_000/int64(n)) - bytesPerSession
	if payload < 16 {
		payload = 16
	}
	start := time.Now()
	debug.SetGCPercent(-1)
	build(n, payload)
	runtime.GC()
	runtime.GC()
	if *gc {
		debug.SetGCPercent(100)
	}
	built := time.Since(start)
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)

	m, kind, prioErr := startMeter(*tick, *threshold)
	prio := "realtime"
	if prioErr != nil {
		prio = "normal"
		fmt.Fprintf(os.Stderr, "benchrefs: the stall meter runs at normal priority (SCHED_FIFO: %v); on a busy machine its gaps include waits for a CPU\n", prioErr)
	}
	usr2 := make(chan os.Signal, 1)
	signal.Notify(usr2, syscall.SIGUSR2)
	go func() {
		for range usr2 {
			b, _ := json.Marshal(report(m, kind, false))
			fmt.Fprintf(os.Stderr, "stall %s\n", b)
		}
	}()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchrefs:", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/stall", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(report(m, kind, r.URL.Query().Get("reset") != ""))
	})
	go http.Serve(ln, mux)
	m.read(true)
	fmt.Printf("ready %d %s %d %d %s/%s %.1f\n", os.Getpid(), ln.Addr(), ms0.HeapObjects, ms0.HeapAlloc, kind, prio, built.Seconds())
	select {}
}
