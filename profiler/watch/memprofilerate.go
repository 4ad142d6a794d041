package watch

import (
	"strconv"
	"strings"
)

// DefaultMemProfileRate is the heap profile's sampling rate leakhunt gives a
// program it starts itself: one sampled allocation per 64 KiB allocated,
// eight times the runtime's default (runtime.MemProfileRate, 512 KiB). A
// verdict names an allocation site only once the profile holds a sample of
// the leaked objects; at 512 KiB a site leaking 27 KiB/s is sampled about
// once every 19 s, and a short watch may see none. docs/benchmarks.md
// measures what the finer rate costs the program.
const DefaultMemProfileRate = 64 << 10

// RuntimeMemProfileRate is the Go runtime's own default heap sampling rate
// (runtime.MemProfileRate): what a program gets when nothing sets it.
const RuntimeMemProfileRate = 512 << 10

// WithMemProfileRate returns a copy of the environment env (as os.Environ
// gives it) in which a Go program starts with runtime.MemProfileRate set to
// rate: memprofilerate=rate is added to GODEBUG, which the runtime reads
// once at start, or GODEBUG=memprofilerate=rate is added when env has no
// GODEBUG. A rate of 0 or less, or a GODEBUG that already sets
// memprofilerate (the user's choice wins), leaves env as it is. env itself
// is never modified.
//
// Programs that are not Go ignore GODEBUG; a Go program still sets its own
// rate if it assigns runtime.MemProfileRate, and a binary that never
// references runtime/pprof has its memory profiler turned off by the linker
// whatever GODEBUG says.
func WithMemProfileRate(env []string, rate int) []string {
	out := append([]string(nil), env...)
	if rate <= 0 {
		return out
	}
	setting := "memprofilerate=" + strconv.Itoa(rate)
	// exec.Cmd passes the last of duplicated variables on: change that one.
	i := lastGODEBUG(out)
	if i < 0 {
		return append(out, "GODEBUG="+setting)
	}
	val := strings.TrimPrefix(out[i], "GODEBUG=")
	if _, ok := memProfileRateSetting(val); ok {
		return out
	}
	if val != "" && !strings.HasSuffix(val, ",") {
		val += ","
	}
	out[i] = "GODEBUG=" + val + setting
	return out
}

// GODEBUGMemProfileRate returns the memprofilerate value that env's GODEBUG
// sets (the last one: the runtime reads the settings left to right), and
// whether it sets one. The value is returned as written; the runtime ignores
// one that is not a number.
func GODEBUGMemProfileRate(env []string) (string, bool) {
	i := lastGODEBUG(env)
	if i < 0 {
		return "", false
	}
	return memProfileRateSetting(strings.TrimPrefix(env[i], "GODEBUG="))
}

// lastGODEBUG is the index of env's last GODEBUG entry, or -1.
func lastGODEBUG(env []string) int {
	for i := len(env) - 1; i >= 0; i-- {
		if strings.HasPrefix(env[i], "GODEBUG=") {
			return i
		}
	}
	return -1
}

// memProfileRateSetting finds the last memprofilerate=VALUE in a GODEBUG
// value (comma-separated key=value settings).
func memProfileRateSetting(godebug string) (string, bool) {
	val, found := "", false
	for _, field := range strings.Split(godebug, ",") {
		if v, ok := strings.CutPrefix(field, "memprofilerate="); ok {
			val, found = v, true
		}
	}
	return val, found
}
