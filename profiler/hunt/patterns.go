// Package hunt is the guided leak hunt: the steps an expert takes, in order,
// each saying what it does, why, and the one leakhunt command that does the
// same, composed from the snapshot, analysis, watch and report packages.
package hunt

import (
	"regexp"
	"strings"

	"github.com/leakhunt/leakhunt/profiler/verdict"
)

// Pattern is a known way Go programs leak, with the usual fix.
type Pattern struct {
	// Name is short: "unbounded map (the lru_cache trap)".
	Name string `json:"name"`
	// Why says how this pattern leaks.
	Why string `json:"why"`
	// Fix says what usually fixes it.
	Fix string `json:"fix"`
}

// Evidence is what is known of a suspect when matching it to a pattern.
type Evidence struct {
	// Kind is "heap", "goroutine" or "non-go-memory".
	Kind string
	// Source is the text of the suspect's line (the allocation, or the line a
	// goroutine is blocked on), "" when unknown.
	Source string
	// State is a goroutine group's wait reason ("chan send", "select", ...).
	State string
	// Function is the suspect's function.
	Function string
}

var (
	mapStore   = regexp.MustCompile(`\w+\[[^\]]+\]\s*=[^=]`)
	appendCall = regexp.MustCompile(`\bappend\(`)
	subSlice   = regexp.MustCompile(`\[[^\]]*:[^\]]*\]`)
	ctxWith    = regexp.MustCompile(`context\.With(Cancel|Timeout|Deadline|Value)`)
	rangeChan  = regexp.MustCompile(`\bfor\b.*\brange\b`)
)

var pinnedBuffer = Pattern{
	Name: "a small slice pinning a large buffer",
	Why:  "a sub-slice shares its backing array: keeping a few bytes of a large buffer keeps the whole buffer alive",
	Fix:  "copy what you keep: bytes.Clone(buf[i:j]) or strings.Clone, so the large buffer can be collected",
}

// Explain matches a suspect to the most likely leak pattern. It reads the
// source line and the goroutine state the way an expert would at first sight;
// it is a lead to check, not a proof.
func Explain(e Evidence) Pattern {
	src := strings.TrimSpace(e.Source)
	switch e.Kind {
	case "non-go-memory":
		return Pattern{
			Name: "memory outside the Go heap (cgo, mmap, off-heap buffers)",
			Why:  "the process's resident memory grows while the Go heap does not: something allocates where the garbage collector cannot see, such as C.malloc in cgo code, syscall.Mmap, or a C library's own caches",
			Fix:  "pair every C.malloc with C.free (defer it right after the allocation), unmap what you map, and give Go wrappers of C memory an explicit Close (runtime.AddCleanup only as a safety net)",
		}
	case "goroutine":
		return explainGoroutine(e, src)
	}
	if e.Function == verdict.Unplaced {
		return Pattern{
			Name: "heap growth no allocation site explains yet",
			Why:  "the Go heap's exact total grows steadily, but the sampled heap profile holds none of the growing objects: the leak is slow for the sampling rate, or the program's memory profiler is off",
			Fix:  "find what holds the growth: walk the live heap twice (leakhunt objects PID -o a.lhobj, later -o b.lhobj, then leakhunt objects --diff a.lhobj b.lhobj) or watch with --refs; to name the allocating line, watch longer or with a finer --memprofilerate",
		}
	}
	switch {
	case ctxWith.MatchString(src):
		return Pattern{
			Name: "contexts never cancelled",
			Why:  "every context.WithCancel / WithTimeout child registers with its parent until it is cancelled; under a long-lived parent, children that are never cancelled (and their timers) pile up",
			Fix:  "call the cancel function on every path: `ctx, cancel := context.WithTimeout(parent, d); defer cancel()`",
		}
	case mapStore.MatchString(src):
		return Pattern{
			Name: "unbounded map (the lru_cache / memoize trap)",
			Why:  "entries are stored in a map that lives as long as the program, and nothing ever deletes them: a cache without eviction, or a registry of sessions, connections or requests",
			Fix:  "bound it: an LRU or a size cap, a TTL with a sweeper, or delete the entry when its request, session or connection ends",
		}
	case appendCall.MatchString(src) && subSlice.MatchString(strings.SplitN(src, "append(", 2)[1]):
		return pinnedBuffer
	case appendCall.MatchString(src):
		return Pattern{
			Name: "a slice that only grows (event log, history, queue)",
			Why:  "items are appended to a long-lived slice and never removed: an event log, a history, or a queue whose consumer drops behind",
			Fix:  "cap it: a ring buffer of the last N items, periodic flushing to storage, or trimming (and copying, so the old array can go) when it passes a limit",
		}
	case subSlice.MatchString(src):
		return pinnedBuffer
	}
	return Pattern{
		Name: "memory retained from one allocation site",
		Why:  "objects allocated here stay reachable and their number keeps growing: something long-lived (a global, a map, a slice, a goroutine's variables) still refers to them",
		Fix:  "find what keeps them: look at the callers of this line (leakhunt top --by stack --focus FUNCTION) and at where the result is stored; drop the reference when the work is done",
	}
}

func explainGoroutine(e Evidence, src string) Pattern {
	state := strings.TrimSuffix(e.State, " (leaked)")
	switch {
	case strings.HasPrefix(state, "chan send"):
		return Pattern{
			Name: "forgotten sender",
			Why:  "a goroutine sends its result on an unbuffered channel, but the receiver has gone (it gave up after a timeout or a cancelled context), so the send blocks forever",
			Fix:  "give the channel a buffer of one (`make(chan T, 1)`) so the send cannot block, or select on the send and `<-ctx.Done()`",
		}
	case strings.HasPrefix(state, "chan receive") && rangeChan.MatchString(src), strings.HasPrefix(state, "chan receive (nil chan)"):
		return Pattern{
			Name: "receiver on a channel nobody closes",
			Why:  "the goroutine ranges over (or receives from) a channel that no one will ever close or send on again, so it waits forever",
			Fix:  "close the channel when the last value is sent (the sender owns the close), or select on `<-ctx.Done()` as well",
		}
	case strings.HasPrefix(state, "chan receive"):
		return Pattern{
			Name: "receiver waiting for a value that never comes",
			Why:  "the goroutine waits on a channel whose sender returned early (an error path) or was never started",
			Fix:  "make every path of the sender send or close, or select on `<-ctx.Done()` so the receiver can give up",
		}
	case strings.HasPrefix(state, "select"):
		return Pattern{
			Name: "worker with no way to stop (the dangling task)",
			Why:  "a goroutine started per request or per object loops in a select that has no case telling it to stop, so it outlives the work it was started for (Go's version of a dangling awaitable)",
			Fix:  "pass a context and add `case <-ctx.Done(): return`, or give the type a Stop/Close that closes a quit channel, and call it",
		}
	case strings.HasPrefix(state, "sync.Mutex.Lock"), strings.HasPrefix(state, "sync.RWMutex"):
		return Pattern{
			Name: "lock never released",
			Why:  "goroutines queue on a mutex that some path locked and never unlocked (an early return or a panic between Lock and Unlock)",
			Fix:  "`mu.Lock(); defer mu.Unlock()` right after locking, and keep the critical section small",
		}
	case strings.HasPrefix(state, "sync.WaitGroup.Wait"):
		return Pattern{
			Name: "WaitGroup that never reaches zero",
			Why:  "Wait blocks because some Add has no matching Done (a worker returned early or was never started)",
			Fix:  "call `defer wg.Done()` first thing in each worker and Add before starting it (or use wg.Go)",
		}
	case strings.HasPrefix(state, "IO wait"):
		return Pattern{
			Name: "connections never closed",
			Why:  "goroutines wait on network connections that are kept open: an http.Response.Body that is never closed keeps its connection and its reader goroutines alive",
			Fix:  "`defer resp.Body.Close()` after every successful request (and drain it to reuse the connection); set timeouts on servers and clients",
		}
	case strings.HasPrefix(state, "sleep"):
		return Pattern{
			Name: "polling loop with no stop",
			Why:  "a goroutine wakes up periodically forever; started per object or request, their number grows",
			Fix:  "use a time.Ticker in a select with `<-ctx.Done()` and stop the ticker; start one loop per program, not per request",
		}
	}
	return Pattern{
		Name: "goroutines that pile up",
		Why:  "goroutines started here do not finish, so their number keeps growing with the work",
		Fix:  "make sure every goroutine has a way to end: a context, a closed channel, or a Stop method that is called",
	}
}
