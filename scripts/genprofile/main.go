// Command genprofile writes a large synthetic Go heap profile for benchmarks.
//
// The profile has the shape runtime/pprof gives /debug/pprof/heap: sample
// types alloc_objects/count, alloc_space/bytes, inuse_objects/count and
// inuse_space/bytes; period type space/bytes with period 524288; one mapping
// for the executable; functions with Go-style names and files; locations with
// inlined frames; stacks 10 to 40 frames deep drawn from a few thousand
// locations; values scaled as runtime/pprof scales them; and on every sample
// the numeric label "bytes" (the allocation's block size) that
// runtime/pprof's writeHeapProto attaches.
//
// Output is deterministic for a given -seed and -samples. With -grow F > 0 the
// same profile is written as it would look later: about 1% of allocation sites
// hold (1+F) times their in-use memory and allocated more, some sites freed
// memory, and new sites appeared. A pair for a diff benchmark:
//
//	go run ./scripts/genprofile -o old.pb.gz
//	go run ./scripts/genprofile -grow 3 -o new.pb.gz
//
// Generated files belong in a temporary directory, never in git.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/leakhunt/leakhunt/scripts/genprofile/heapgen"
)

func main() {
	samples := flag.Int("samples", 760000, "number of samples (allocation buckets)")
	seed := flag.Uint64("seed", 1, "random seed: the same seed gives the same profile")
	grow := flag.Float64("grow", 0, "0: the base profile; F > 0: the later profile, leaking sites grown by the factor 1+F")
	out := flag.String("o", "", "output file (gzipped protobuf, as /debug/pprof/heap serves)")
	flag.Parse()
	if *out == "" || *samples <= 0 || *grow < 0 {
		fmt.Fprintln(os.Stderr, "genprofile: give -o FILE, -samples > 0 and -grow >= 0")
		os.Exit(2)
	}
	p := heapgen.Generate(*samples, *seed, *grow)
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "genprofile:", err)
		os.Exit(1)
	}
	if err := p.Write(f); err != nil {
		fmt.Fprintln(os.Stderr, "genprofile: write profile:", err)
		os.Exit(1)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "genprofile:", err)
		os.Exit(1)
	}
}
