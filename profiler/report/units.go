// Package report renders analysis results for people: aligned text tables for
// a terminal. Output is deterministic (sorted, no map order) so it can be
// golden-tested; JSON output is the analysis types themselves.
package report

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Bytes formats n bytes with a binary unit: "512 B", "1.5 KiB", "17.1 MiB".
func Bytes(n int64) string {
	neg := n < 0
	if neg {
		n = -n
	}
	s := bytesAbs(uint64(n))
	if neg {
		return "-" + s
	}
	return s
}

func bytesAbs(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// UBytes is Bytes for unsigned values.
func UBytes(n uint64) string { return bytesAbs(n) }

// SignedBytes formats a change: "+1.5 MiB", "-512 B", "0 B".
func SignedBytes(n int64) string {
	if n > 0 {
		return "+" + Bytes(n)
	}
	return Bytes(n)
}

// Signed formats a count change: "+12", "-3", "0".
func Signed(n int64) string {
	if n > 0 {
		return fmt.Sprintf("+%d", n)
	}
	return fmt.Sprintf("%d", n)
}

// Percent formats a share in [0,1] as "12.3%".
func Percent(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }

// ShortFile keeps the last two elements of a path: "/src/app/server/cache.go"
// becomes "server/cache.go", enough to recognise it in a table.
func ShortFile(path string) string {
	if path == "" {
		return ""
	}
	dir, file := filepath.Split(path)
	parent := filepath.Base(filepath.Clean(dir))
	if parent == "." || parent == "/" || dir == "" {
		return file
	}
	return parent + "/" + file
}

// WriteCut writes text to w with every line cut to width runes (0: no cut),
// so wide tables stay readable on a terminal. Render into a buffer first:
// lines must arrive whole.
func WriteCut(w io.Writer, width int, text string) error {
	if width > 0 {
		lines := strings.Split(text, "\n")
		for i, l := range lines {
			if utf8.RuneCountInString(l) > width {
				r := []rune(l)
				lines[i] = string(r[:width-1]) + "…"
			}
		}
		text = strings.Join(lines, "\n")
	}
	_, err := io.WriteString(w, text)
	return err
}
