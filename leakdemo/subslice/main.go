package main

import (
	"context"
	"encoding/binary"
	"os"

	"github.com/leakhunt/leakhunt/leakdemo/internal/demo"
)

var spec = demo.Spec{
	Name:  "subslice",
	Kind:  demo.Leaky,
	Leaks: "a 32 KiB packet buffer per request, pinned by the 16-byte header kept in server.recent (~1.9 MiB/min at -rate 1)",
	Fixed: "copies the header into preallocated storage",
	Rate:  1,
	Run:   run,
}

func main() { os.Exit(demo.Main(spec)) }

const (
	packetSize = 32 << 10
	headerSize = 16
	// recentSize is how many headers the dedup ring remembers.
	recentSize = 1 << 14
)

// server deduplicates packets by remembering the headers of recent ones.
type server struct {
	fixed  bool
	recent [][]byte // ring of the last recentSize headers
	store  []byte   // the fixed variant's header storage, recentSize*headerSize
}

func newServer(fixed bool) *server {
	return &server{fixed: fixed, recent: make([][]byte, recentSize), store: make([]byte, recentSize*headerSize)}
}

func run(ctx context.Context, cfg demo.Config) error {
	s := newServer(cfg.Fixed)
	return demo.Every(ctx, cfg.Rate, func(i int) { s.handle(i) })
}

// handle reads packet i and remembers its header.
func (s *server) handle(i int) int {
	buf := readPacket(i)
	slot := i % recentSize
	if s.fixed {
		hdr := s.store[slot*headerSize : (slot+1)*headerSize]
		copy(hdr, buf[:headerSize]) // the fix: copy the 16 bytes out
		s.recent[slot] = hdr
	} else {
		s.recent[slot] = buf[:headerSize] // the leak: the header pins all of buf
	}
	return checksum(buf)
}

// readPacket returns packet i, as a network read into a fresh buffer would.
func readPacket(i int) []byte {
	buf := make([]byte, packetSize)
	binary.BigEndian.PutUint64(buf, uint64(i))
	for j := headerSize; j < len(buf); j += 64 {
		buf[j] = byte(i + j)
	}
	return buf
}

func checksum(b []byte) int {
	sum := 0
	for j := 0; j < len(b); j += 64 {
		sum += int(b[j])
	}
	return sum
}
