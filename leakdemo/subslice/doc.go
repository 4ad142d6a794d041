// Command subslice is a packet deduplicator that remembers the 16-byte header
// of each recent packet — as a sub-slice of the 32 KiB buffer the packet was
// read into.
//
// What leaks: a whole 32 KiB packet buffer per request, pinned by the 16
// bytes the ring keeps: about 1.9 MiB a minute at the default -rate 1, until
// the ring of 16384 headers is full (after 4.5 hours: 512 MiB).
//
// Where: readPacket allocates the buffer (main.go:61); handle keeps
// buf[:headerSize] in server.recent (main.go:54). A slice header points into
// its backing array, and the garbage collector keeps the whole array alive
// as long as any slice of it is reachable.
//
// Why it is hard to see: the program stores 16 bytes per request and the
// code looks right; only the heap profile's in-use bytes at main.go:61 —
// 32 KiB for each request still remembered — show it.
//
// The fix (-fixed): copy the header out (main.go:51), here into storage
// allocated once; bytes.Clone(buf[:16]) or strings.Clone do the same.
//
// Python twin: a memoryview or numpy view of a large buffer kept in a
// container pins the whole buffer; bytes(view) copies it out.
package main
