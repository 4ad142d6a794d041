// Command lru is a page-rendering service with an LRU cache of rendered
// fragments capped at 2000 entries of ~2 KiB. New fragments arrive at
// ~100/s, so the cache fills in ~20 s and then evicts its oldest entry for
// each new one. Not a leak: it levels off at ~4-5 MiB.
package main

import (
	"container/list"
	"fmt"
	"strings"
	"time"
)

type fragment struct {
	key  string
	html string
}

type lru struct {
	cap   int
	ll    *list.List
	items map[string]*list.Element
}

func (c *lru) get(key string) (string, bool) {
	if e, ok := c.items[key]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*fragment).html, true
	}
	return "", false
}

func (c *lru) add(key, html string) {
	if e, ok := c.items[key]; ok {
		c.ll.MoveToFront(e)
		e.Value.(*fragment).html = html
		return
	}
	c.items[key] = c.ll.PushFront(&fragment{key: key, html: html})
	if c.ll.Len() > c.cap {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.items, old.Value.(*fragment).key)
	}
}

func render(key string) string {
	var b strings.Builder
	b.Grow(2048)
	b.WriteString("<div class=\"fragment\" id=\"" + key + "\">")
	for b.Len() < 2000 {
		b.WriteString("<span>lorem ipsum dolor sit amet</span>")
	}
	b.WriteString("</div>")
	return b.String()
}

func main() {
	servePprof()
	go renderResponses()
	c := &lru{cap: 2000, ll: list.New(), items: make(map[string]*list.Element)}
	hits, misses := 0, 0
	tick := time.NewTicker(10 * time.Millisecond)
	for n := 0; ; n++ {
		<-tick.C
		// one new page per tick, and a re-read of a recent one
		key := fmt.Sprintf("/product/%d", n)
		c.add(key, render(key))
		if _, ok := c.get(fmt.Sprintf("/product/%d", n-n%50)); ok {
			hits++
		} else {
			misses++
		}
	}
}
