// Command intern is a log ingester that interns the label values of each
// log line to save memory on repeated values. The bug: the intern table is
// a global map that is never pruned, and one label (the user agent with a
// build number and a session suffix) is nearly unique per line, so ~80 new
// ~100-byte strings a second stay forever (~8 KiB/s).
package main

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"time"
)

var (
	internMu  sync.Mutex
	internTab = map[string]string{}
)

// intern returns the canonical copy of b.
func intern(b []byte) string {
	internMu.Lock()
	defer internMu.Unlock()
	if s, ok := internTab[string(b)]; ok {
		return s
	}
	s := string(b)
	internTab[s] = s
	return s
}

type entry struct {
	level, service, agent string
	msg                   string
}

var levels = []string{"info", "warn", "error", "debug"}
var services = []string{"auth", "billing", "search", "gateway", "mailer"}

// nextLine makes a log line as the network would deliver it.
func nextLine(n int) []byte {
	agent := fmt.Sprintf("Mozilla/5.0 (X11; Linux x86_64) client-app/%d.%d build-%07d session=%08x", n%7, n%13, n, n*2654435761)
	return fmt.Appendf(nil, "level=%s service=%s agent=%q msg=%q", levels[n%4], services[n%5], agent,
		strings.Repeat("handled request ", 1+n%4))
}

func parse(line []byte) entry {
	var e entry
	for _, f := range bytes.SplitAfter(line, []byte("\" ")) {
		for _, kv := range bytes.Fields(f) {
			k, v, ok := bytes.Cut(kv, []byte("="))
			if !ok {
				continue
			}
			switch string(k) {
			case "level":
				e.level = intern(v)
			case "service":
				e.service = intern(v)
			}
		}
	}
	if i := bytes.Index(line, []byte("agent=\"")); i >= 0 {
		rest := line[i+7:]
		if j := bytes.IndexByte(rest, '"'); j >= 0 {
			e.agent = intern(rest[:j])
		}
	}
	if i := bytes.Index(line, []byte("msg=")); i >= 0 {
		e.msg = string(line[i+4:])
	}
	return e
}

func main() {
	servePprof()
	go renderResponses()
	counts := map[string]int{}
	tick := time.NewTicker(12500 * time.Microsecond) // 80 lines/s
	for n := 0; ; n++ {
		<-tick.C
		e := parse(nextLine(n))
		counts[e.service+"/"+e.level]++
	}
}
