package main

import (
	"container/list"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/leakhunt/leakhunt/leakdemo/internal/demo"
)

var spec = demo.Spec{
	Name:  "bounded",
	Kind:  demo.Control,
	Leaks: "an LRU cache of 2048 rendered pages warms up for ~26 s at -rate 80 (to ~2.5 MiB), then stays flat",
	Fixed: "the same: there is nothing to fix",
	Rate:  80,
	Run:   run,
}

func main() { os.Exit(demo.Main(spec)) }

// cacheSize is how many pages the LRU keeps.
const cacheSize = 2048

// server renders pages and keeps the most recently used ones.
type server struct {
	lru   *list.List // most recently used at the front
	elems map[string]*list.Element
}

type entry struct {
	key  string
	page []byte
}

func newServer() *server {
	return &server{lru: list.New(), elems: make(map[string]*list.Element)}
}

func run(ctx context.Context, cfg demo.Config) error {
	s := newServer()
	return demo.Every(ctx, cfg.Rate, func(i int) { s.handle(i) })
}

// handle serves request i; most keys are new, so the cache fills up.
func (s *server) handle(i int) int {
	return len(s.page(fmt.Sprintf("user=%d&session=%08x", i%1000, i)))
}

func (s *server) page(key string) []byte {
	if e, ok := s.elems[key]; ok {
		s.lru.MoveToFront(e)
		return e.Value.(*entry).page
	}
	p := render(key)
	s.elems[key] = s.lru.PushFront(&entry{key, p})
	if s.lru.Len() > cacheSize { // the bound: what makes this a control
		old := s.lru.Remove(s.lru.Back()).(*entry)
		delete(s.elems, old.key)
	}
	return p
}

// render builds a 1 KiB page for key.
func render(key string) []byte {
	var b strings.Builder
	b.Grow(1 << 10)
	b.WriteString("<html><body><h1>")
	b.WriteString(key)
	b.WriteString("</h1>")
	for b.Len() < 1<<10-16 {
		b.WriteString("<p>hello</p>")
	}
	b.WriteString("</body></html>")
	return []byte(b.String())
}
