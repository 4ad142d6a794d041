// Command benchtarget is a small real Go program for the top/diff benchmark
// (scripts/bench.sh): it serves net/http/pprof on -addr and allocates like a
// service — request churn that is freed, and a cache that is never evicted —
// so that /debug/pprof/heap captured from it a few seconds apart gives a
// small real heap profile pair. It prints "listening on ADDR" when ready.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
	"strings"
	"time"
)

type record struct {
	ID    int               `json:"id"`
	Name  string            `json:"name"`
	Tags  []string          `json:"tags"`
	Attrs map[string]string `json:"attrs"`
}

// cache keeps every rendered record: the leak.
var cache = map[int][]byte{}

func render(i int) []byte {
	r := record{ID: i, Name: fmt.Sprintf("user-%d", i), Tags: strings.Fields("a b c d e f"), Attrs: map[string]string{"k": strings.Repeat("v", i%200)}}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(r); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func churn(i int) int {
	parts := make([]string, 0, 8)
	for j := 0; j < 8; j++ {
		parts = append(parts, strings.Repeat("x", 16+(i+j)%512))
	}
	return len(strings.Join(parts, ","))
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to serve net/http/pprof on")
	rate := flag.Int("memprofilerate", 4096, "runtime.MemProfileRate: smaller gives a richer heap profile")
	flag.Parse()
	runtime.MemProfileRate = *rate
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtarget:", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	go func() {
		for i := 0; ; i++ {
			if i%4 == 0 {
				cache[i] = render(i)
			}
			churn(i)
			if i%100 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	if err := http.Serve(ln, nil); err != nil {
		fmt.Fprintln(os.Stderr, "benchtarget:", err)
		os.Exit(1)
	}
}
