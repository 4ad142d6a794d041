// Package svc is what the held-out programs of scripts/heldout share: the
// net/http/pprof listener leakhunt finds through its banner, and the
// short-lived garbage of a service's normal work.
package svc

import (
	"encoding/json"
	"fmt"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	_ "net/http/pprof"
	"strconv"
	"time"
)

// ServePprof listens on an ephemeral loopback port for net/http/pprof and
// says where on stdout.
func ServePprof() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("pprof: http://%s/debug/pprof/\n", ln.Addr())
	go func() { log.Println(http.Serve(ln, nil)) }()
}

type item struct {
	ID    int               `json:"id"`
	Name  string            `json:"name"`
	Score float64           `json:"score"`
	Tags  []string          `json:"tags"`
	Attrs map[string]string `json:"attrs"`
}

// RenderResponses builds and throws away JSON responses, the short-lived
// garbage of a service's normal work (about 1 MiB/s).
func RenderResponses() {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	n := 0
	for range t.C {
		items := make([]item, 24)
		for i := range items {
			items[i] = item{ID: n*24 + i, Name: fmt.Sprintf("item-%d-%d", n, i), Score: rand.Float64(),
				Tags: []string{"a", "b", strconv.Itoa(i)}, Attrs: map[string]string{"k": strconv.Itoa(n)}}
		}
		b, _ := json.Marshal(items)
		respSink += len(b)
		n++
	}
}

var respSink int
