// Command ttlcache is a session store: sessions live 10 s, and a sweeper
// deletes expired ones every second. ~100 new sessions/s of ~2 KiB each, so
// the live set levels off at ~1000 sessions (~2 MiB) after 10 s. Not a leak.
package main

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

type session struct {
	user    string
	data    []byte
	expires time.Time
}

type ttlCache struct {
	mu  sync.Mutex
	ttl time.Duration
	m   map[string]*session
}

func (c *ttlCache) put(key string, s *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s.expires = time.Now().Add(c.ttl)
	c.m[key] = s
}

func (c *ttlCache) get(key string) (*session, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.m[key]
	if !ok || time.Now().After(s.expires) {
		return nil, false
	}
	return s, true
}

func (c *ttlCache) sweep() {
	for range time.Tick(time.Second) {
		now := time.Now()
		c.mu.Lock()
		for k, s := range c.m {
			if now.After(s.expires) {
				delete(c.m, k)
			}
		}
		c.mu.Unlock()
	}
}

func newToken() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func main() {
	servePprof()
	go renderResponses()
	c := &ttlCache{ttl: 10 * time.Second, m: make(map[string]*session)}
	go c.sweep()
	var recent []string
	tick := time.NewTicker(10 * time.Millisecond)
	for n := 0; ; n++ {
		<-tick.C
		tok := newToken()
		c.put(tok, &session{user: "user-" + tok[:6], data: make([]byte, 2048)})
		recent = append(recent, tok)
		if len(recent) > 200 {
			recent = recent[1:]
		}
		c.get(recent[n%len(recent)])
	}
}
