// Package pproftext reads the legacy text forms of Go profiles, as
// /debug/pprof/heap?debug=1 and /debug/pprof/goroutine?debug=1 write them,
// into pprof profiles. Unlike pprof's own legacy parser it symbolizes from the
// "#\t0xPC\tfunc+0xoff\tfile:line" comment lines the runtime prints, so the
// result needs no binary.
package pproftext

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/google/pprof/profile"

	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

// ErrNotText is returned for input that is not a text profile this package reads.
var ErrNotText = errors.New("not a text heap or goroutine profile")

// IsHeap reports whether data starts like a debug=1 heap profile.
func IsHeap(data []byte) bool { return bytes.HasPrefix(data, []byte("heap profile: ")) }

// IsGoroutine reports whether data starts like a debug=1 goroutine profile.
// A goroutine leak profile (Go 1.27's goroutineleak) has the same form.
func IsGoroutine(data []byte) bool {
	return bytes.HasPrefix(data, []byte("goroutine profile: total ")) || bytes.HasPrefix(data, []byte("goroutineleak profile: total "))
}

// builder collects samples and interns locations and functions.
type builder struct {
	p     *profile.Profile
	locs  map[string]*profile.Location
	funcs map[[2]string]*profile.Function
}

func newBuilder(p *profile.Profile) *builder {
	p.Mapping = []*profile.Mapping{{ID: 1, HasFunctions: true, HasFilenames: true, HasLineNumbers: true}}
	return &builder{p: p, locs: make(map[string]*profile.Location), funcs: make(map[[2]string]*profile.Function)}
}

// location interns one "#\t0xPC\tfunc+0xoff\tfile:line" comment line.
func (b *builder) location(comment string) (*profile.Location, bool) {
	fields := strings.Split(strings.TrimPrefix(comment, "#\t"), "\t")
	var nonEmpty []string
	for _, f := range fields {
		if f != "" {
			nonEmpty = append(nonEmpty, f)
		}
	}
	if len(nonEmpty) == 0 {
		return nil, false
	}
	if l, ok := b.locs[comment]; ok {
		return l, true
	}
	addr, _ := strconv.ParseUint(strings.TrimPrefix(nonEmpty[0], "0x"), 16, 64)
	loc := &profile.Location{ID: uint64(len(b.p.Location) + 1), Address: addr, Mapping: b.p.Mapping[0]}
	if len(nonEmpty) >= 3 {
		name := nonEmpty[1]
		if i := strings.LastIndex(name, "+0x"); i > 0 {
			name = name[:i]
		}
		file, line := nonEmpty[2], 0
		if c := strings.LastIndexByte(file, ':'); c > 0 {
			if n, err := strconv.Atoi(file[c+1:]); err == nil {
				file, line = file[:c], n
			}
		}
		fn, ok := b.funcs[[2]string{name, file}]
		if !ok {
			fn = &profile.Function{ID: uint64(len(b.p.Function) + 1), Name: name, SystemName: name, Filename: file}
			b.funcs[[2]string{name, file}] = fn
			b.p.Function = append(b.p.Function, fn)
		}
		loc.Line = []profile.Line{{Function: fn, Line: int64(line)}}
	}
	b.p.Location = append(b.p.Location, loc)
	b.locs[comment] = loc
	return loc, true
}

// ParseHeap reads a debug=1 heap profile and the runtime.MemStats block that
// follows it. Values are scaled for sampling as runtime/pprof scales them in
// its protobuf output, so the result matches /debug/pprof/heap.
func ParseHeap(data []byte) (*profile.Profile, *snapshot.MemStats, error) {
	if !IsHeap(data) {
		return nil, nil, ErrNotText
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	sc.Scan()
	header := sc.Text()
	rate := int64(0)
	if i := strings.LastIndex(header, "@ heap/"); i >= 0 {
		r, err := strconv.ParseInt(header[i+len("@ heap/"):], 10, 64)
		if err != nil {
			return nil, nil, fmt.Errorf("heap profile header %q: bad sampling rate", header)
		}
		rate = r / 2 // the header carries 2*MemProfileRate
	}
	p := &profile.Profile{
		SampleType: []*profile.ValueType{
			{Type: "alloc_objects", Unit: "count"}, {Type: "alloc_space", Unit: "bytes"},
			{Type: "inuse_objects", Unit: "count"}, {Type: "inuse_space", Unit: "bytes"},
		},
		DefaultSampleType: "inuse_space",
		PeriodType:        &profile.ValueType{Type: "space", Unit: "bytes"},
		Period:            rate,
	}
	b := newBuilder(p)
	var cur *profile.Sample
	var statsLines []string
	inStats := false
	lineNo := 1
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		switch {
		case inStats:
			statsLines = append(statsLines, line)
		case line == "# runtime.MemStats":
			inStats = true
		case strings.HasPrefix(line, "#\t"):
			if cur == nil {
				continue
			}
			if loc, ok := b.location(line); ok {
				cur.Location = append(cur.Location, loc)
			}
		case strings.HasPrefix(line, "# labels:"), line == "":
		default:
			s, err := heapRecord(line, rate)
			if err != nil {
				return nil, nil, fmt.Errorf("heap profile line %d: %w", lineNo, err)
			}
			p.Sample = append(p.Sample, s)
			cur = s
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	var ms *snapshot.MemStats
	if inStats {
		ms = ParseMemStats(statsLines)
	}
	return p, ms, nil
}

// heapRecord reads "1: 512 [5: 2048] @ 0x4a 0x4b".
func heapRecord(line string, rate int64) (*profile.Sample, error) {
	var inObj, inBytes, allocObj, allocBytes int64
	at := strings.Index(line, " @")
	if at < 0 {
		return nil, fmt.Errorf("unexpected %q", truncate(line))
	}
	if _, err := fmt.Sscanf(line[:at], "%d: %d [%d: %d]", &inObj, &inBytes, &allocObj, &allocBytes); err != nil {
		return nil, fmt.Errorf("unexpected %q", truncate(line))
	}
	ao, ab := ScaleHeapSample(allocObj, allocBytes, rate)
	io, ib := ScaleHeapSample(inObj, inBytes, rate)
	return &profile.Sample{Value: []int64{ao, ab, io, ib}}, nil
}

// ScaleHeapSample adjusts a sampled count and size for the sampling rate the
// way runtime/pprof does: an allocation of size s is sampled with probability
// 1-exp(-s/rate).
func ScaleHeapSample(count, size, rate int64) (int64, int64) {
	if count == 0 || size == 0 {
		return 0, 0
	}
	if rate <= 1 {
		return count, size
	}
	avg := float64(size) / float64(count)
	scale := 1 / (1 - math.Exp(-avg/float64(rate)))
	return int64(float64(count) * scale), int64(float64(size) * scale)
}

// ParseGoroutine reads a debug=1 goroutine profile ("goroutine profile: total N").
func ParseGoroutine(data []byte) (*profile.Profile, error) {
	if !IsGoroutine(data) {
		return nil, ErrNotText
	}
	kind := "goroutine"
	if bytes.HasPrefix(data, []byte("goroutineleak")) {
		kind = "goroutineleak"
	}
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: kind, Unit: "count"}},
		PeriodType: &profile.ValueType{Type: kind, Unit: "count"},
		Period:     1,
	}
	b := newBuilder(p)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	sc.Scan()
	var cur *profile.Sample
	lineNo := 1
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#\t"):
			if cur == nil {
				continue
			}
			if loc, ok := b.location(line); ok {
				cur.Location = append(cur.Location, loc)
			}
		case strings.HasPrefix(line, "# labels: "):
			if cur != nil {
				cur.Label = parseLabels(strings.TrimPrefix(line, "# labels: "))
			}
		case line == "":
		default:
			at := strings.Index(line, " @")
			n, err := strconv.ParseInt(strings.TrimSpace(line[:max(at, 0)]), 10, 64)
			if at < 0 || err != nil {
				return nil, fmt.Errorf("goroutine profile line %d: unexpected %q", lineNo, truncate(line))
			}
			cur = &profile.Sample{Value: []int64{n}}
			p.Sample = append(p.Sample, cur)
		}
	}
	return p, sc.Err()
}

// parseLabels reads {"k":"v", "k2":"v2"}.
func parseLabels(s string) map[string][]string {
	s = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(s), "{"), "}")
	labels := make(map[string][]string)
	for _, kv := range strings.Split(s, ", ") {
		k, v, ok := strings.Cut(kv, ":")
		if !ok {
			continue
		}
		ku, err1 := strconv.Unquote(k)
		vu, err2 := strconv.Unquote(v)
		if err1 == nil && err2 == nil {
			labels[ku] = append(labels[ku], vu)
		}
	}
	return labels
}

// ParseMemStats reads the "# Name = value" lines runtime/pprof prints after a
// debug=1 heap profile. Unknown names are ignored, so newer runtimes parse.
func ParseMemStats(lines []string) *snapshot.MemStats {
	ms := new(snapshot.MemStats)
	u := map[string]*uint64{
		"Alloc": &ms.Alloc, "TotalAlloc": &ms.TotalAlloc, "Sys": &ms.Sys, "Mallocs": &ms.Mallocs,
		"Frees": &ms.Frees, "HeapAlloc": &ms.HeapAlloc, "HeapSys": &ms.HeapSys, "HeapIdle": &ms.HeapIdle,
		"HeapInuse": &ms.HeapInuse, "HeapReleased": &ms.HeapReleased, "HeapObjects": &ms.HeapObjects,
		"BuckHashSys": &ms.BuckHashSys, "GCSys": &ms.GCSys, "OtherSys": &ms.OtherSys, "NextGC": &ms.NextGC,
		"LastGC": &ms.LastGC, "MaxRSS": &ms.MaxRSS,
	}
	pairs := map[string][2]*uint64{
		"Stack": {&ms.StackInuse, &ms.StackSys}, "MSpan": {&ms.MSpanInuse, &ms.MSpanSys},
		"MCache": {&ms.MCacheInuse, &ms.MCacheSys},
	}
	for _, line := range lines {
		name, val, ok := strings.Cut(strings.TrimPrefix(line, "# "), " = ")
		if !ok {
			continue
		}
		switch {
		case u[name] != nil:
			*u[name], _ = strconv.ParseUint(val, 10, 64)
		case pairs[name][0] != nil:
			a, b, _ := strings.Cut(val, " / ")
			*pairs[name][0], _ = strconv.ParseUint(a, 10, 64)
			*pairs[name][1], _ = strconv.ParseUint(b, 10, 64)
		case name == "NumGC":
			n, _ := strconv.ParseUint(val, 10, 32)
			ms.NumGC = uint32(n)
		case name == "NumForcedGC":
			n, _ := strconv.ParseUint(val, 10, 32)
			ms.NumForcedGC = uint32(n)
		case name == "GCCPUFraction":
			ms.GCCPUFraction, _ = strconv.ParseFloat(val, 64)
		case name == "PauseNs":
			for _, f := range strings.Fields(strings.Trim(val, "[]")) {
				n, _ := strconv.ParseUint(f, 10, 64)
				ms.PauseTotalNs += n // the last 256 pauses: a lower bound of the total
			}
		}
	}
	return ms
}

func truncate(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}
