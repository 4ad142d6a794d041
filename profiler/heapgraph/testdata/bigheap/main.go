// Command bigheap is the heapgraph benchmark's target: a heap of about
// $BIGHEAP_OBJECTS objects (default 200000) and $BIGHEAP_MB megabytes
// (default 20), shaped like a server's state: a map of sessions, each with
// a name, a payload, and four items pointing back to it and to each other.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"
)

type Session struct {
	ID         uint64
	Name       string
	Payload    []byte
	Items      []*Item
	Prev, Next *Session
}

type Item struct {
	Sess *Session
	Next *Item
	V    int
}

var (
	sessions = map[uint64]*Session{}
	head     *Session
)

func env(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func main() {
	objects := env("BIGHEAP_OBJECTS", 200000)
	mb := env("BIGHEAP_MB", 20)
	// 8 objects per session, plus the map's share.
	n := objects / 8
	payload := mb<<20/n - 8*32
	if payload < 8 {
		payload = 8
	}
	debug.SetGCPercent(400)
	var prev *Session
	for i := 0; i < n; i++ {
		s := &Session{ID: uint64(i), Name: fmt.Sprint("session-", i), Payload: make([]byte, payload), Prev: prev}
		s.Items = make([]*Item, 4)
		for k := range s.Items {
			s.Items[k] = &Item{Sess: s, V: k}
			if k > 0 {
				s.Items[k-1].Next = s.Items[k]
			}
		}
		if prev != nil {
			prev.Next = s
		} else {
			head = s
		}
		prev = s
		sessions[s.ID] = s
	}
	runtime.GC()
	debug.SetGCPercent(-1)
	fmt.Println("ready")
	os.Stdout.Sync()
	time.Sleep(time.Hour)
}
