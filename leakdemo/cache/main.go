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
	Name:  "cache",
	Kind:  demo.Leaky,
	Leaks: "a rendered page per request into server.pages, a map never evicted (~1.4 MiB/min at -rate 20)",
	Fixed: "an LRU of 256 pages",
	Rate:  20,
	Run:   run,
}

func main() { os.Exit(demo.Main(spec)) }

// lruSize is how many pages the fixed variant keeps.
const lruSize = 256

// server renders profile pages and memoizes them.
type server struct {
	fixed bool
	pages map[string][]byte // key -> rendered page

	// The fixed variant's LRU: most recently used at the front.
	lru   *list.List
	elems map[string]*list.Element
}

type lruEntry struct {
	key  string
	page []byte
}

func newServer(fixed bool) *server {
	return &server{fixed: fixed, pages: make(map[string][]byte), lru: list.New(), elems: make(map[string]*list.Element)}
}

func run(ctx context.Context, cfg demo.Config) error {
	s := newServer(cfg.Fixed)
	return demo.Every(ctx, cfg.Rate, func(i int) { s.handle(i) })
}

// handle serves request i: the page of a user in a session. Session ids are
// new on every request, so a cache keyed by them never hits.
func (s *server) handle(i int) int {
	key := fmt.Sprintf("user=%d&session=%08x", i%1000, i)
	return len(s.page(key))
}

// page returns the rendered page for key, memoized.
func (s *server) page(key string) []byte {
	if s.fixed {
		return s.lruPage(key)
	}
	if p, ok := s.pages[key]; ok {
		return p
	}
	p := render(key)
	s.pages[key] = p // the leak: nothing ever deletes from pages
	return p
}

// lruPage is page with an LRU bound: the fix.
func (s *server) lruPage(key string) []byte {
	if e, ok := s.elems[key]; ok {
		s.lru.MoveToFront(e)
		return e.Value.(*lruEntry).page
	}
	p := render(key)
	s.elems[key] = s.lru.PushFront(&lruEntry{key, p})
	if s.lru.Len() > lruSize { // the fix: evict the least recently used page
		old := s.lru.Remove(s.lru.Back()).(*lruEntry)
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
