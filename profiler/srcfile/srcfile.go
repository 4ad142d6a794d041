// Package srcfile reads lines of source files for display next to stack
// frames and allocation sites (py-list), caching each file once.
package srcfile

import (
	"bytes"
	"os"
	"strings"
	"sync"
)

// maxFile is the largest file read; bigger ones are not shown.
const maxFile = 4 << 20

// Cache reads source files once and serves their lines. The zero value is not
// ready; use NewCache. A Cache is safe for concurrent use.
type Cache struct {
	mu    sync.Mutex
	files map[string][]string // nil slice: unreadable
}

// NewCache returns an empty cache.
func NewCache() *Cache { return &Cache{files: make(map[string][]string)} }

func (c *Cache) lines(file string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ls, ok := c.files[file]; ok {
		return ls
	}
	var ls []string
	if fi, err := os.Stat(file); err == nil && fi.Mode().IsRegular() && fi.Size() <= maxFile {
		if data, err := os.ReadFile(file); err == nil && !bytes.ContainsRune(data, 0) {
			ls = strings.Split(string(data), "\n")
		}
	}
	c.files[file] = ls
	return ls
}

// Line returns line n (1-based) of file with surrounding space trimmed, or ""
// when the file or line cannot be read.
func (c *Cache) Line(file string, n int) string {
	ls := c.lines(file)
	if n < 1 || n > len(ls) {
		return ""
	}
	return strings.TrimSpace(ls[n-1])
}

// Numbered is one source line with its number.
type Numbered struct {
	N    int
	Text string
}

// Around returns the lines from n-context to n+context of file, tabs kept,
// or nil when the file cannot be read.
func (c *Cache) Around(file string, n, context int) []Numbered {
	ls := c.lines(file)
	if n < 1 || n > len(ls) {
		return nil
	}
	var out []Numbered
	for i := max(1, n-context); i <= min(len(ls), n+context); i++ {
		out = append(out, Numbered{N: i, Text: strings.TrimRight(ls[i-1], " \t\r")})
	}
	return out
}
