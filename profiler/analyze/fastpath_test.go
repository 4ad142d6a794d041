package analyze

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/pprof/profile"

	"github.com/leakhunt/leakhunt/profiler/snapshot"
	"github.com/leakhunt/leakhunt/scripts/genprofile/heapgen"
)

// Real heap profiles from scripts/benchtarget (Go 1.26), captured 3 s apart.
const (
	realOld = "testdata/real-heap-old.pprof"
	realNew = "testdata/real-heap-new.pprof"
)

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func generatedData(t testing.TB, n int, grow float64) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := heapgen.Generate(n, 1, grow).Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func eager(t testing.TB, data []byte) *snapshot.Snapshot {
	t.Helper()
	p, err := profile.ParseData(data)
	if err != nil {
		t.Fatal(err)
	}
	return &snapshot.Snapshot{Heap: p}
}

func lazy(data []byte) *snapshot.Snapshot { return &snapshot.Snapshot{HeapData: data} }

// referenceTop is HeapTop done the plain way, one profile.Sample at a time
// (how group worked before samples were merged by stack): the oracle the
// fast path must match exactly.
func referenceTop(p *profile.Profile, opts HeapOptions, n int) *Top {
	if err := opts.setDefaults(); err != nil {
		panic(err)
	}
	kind := strings.SplitN(opts.Sample, "_", 2)[0]
	var si, ci int
	for i, st := range p.SampleType {
		switch st.Type {
		case kind + "_space":
			si = i
		case kind + "_objects":
			ci = i
		}
	}
	frames := func(l *profile.Location) []snapshot.Frame {
		if len(l.Line) == 0 {
			return []snapshot.Frame{{Function: fmt.Sprintf("%#x", l.Address)}}
		}
		var fs []snapshot.Frame
		for i, ln := range l.Line {
			fs = append(fs, snapshot.Frame{Function: ln.Function.Name, File: ln.Function.Filename, Line: int(ln.Line), Inlined: i < len(l.Line)-1})
		}
		return fs
	}
	keyOf := func(l *profile.Location) (string, Site) {
		f := frames(l)[0]
		switch opts.By {
		case ByFunction:
			return f.Function + "\x00" + f.File, Site{Function: f.Function, File: f.File}
		case ByFile:
			return f.File, Site{File: f.File}
		}
		return f.Function + "\x00" + f.File + "\x00" + strconv.Itoa(f.Line), Site{Function: f.Function, File: f.File, Line: f.Line}
	}
	type memoKey struct {
		re *regexp.Regexp
		l  *profile.Location
	}
	memo := map[memoKey]bool{}
	match := func(re *regexp.Regexp, l *profile.Location) bool {
		if m, ok := memo[memoKey{re, l}]; ok {
			return m
		}
		m := false
		for _, f := range frames(l) {
			m = m || re.MatchString(f.Function+" "+f.File+":"+strconv.Itoa(f.Line))
		}
		memo[memoKey{re, l}] = m
		return m
	}
	type row struct {
		key         string
		site        Site
		size, count int64
	}
	rows := map[string]*row{}
	top := &Top{By: opts.By, Sample: opts.Sample}
	for _, s := range p.Sample {
		size, count := s.Value[si], s.Value[ci]
		top.TotalSize += size
		top.TotalCount += count
		if size == 0 && count == 0 {
			continue
		}
		keep, drop := opts.Focus == nil, false
		for _, l := range s.Location {
			keep = keep || (opts.Focus != nil && match(opts.Focus, l))
			drop = drop || (opts.Ignore != nil && match(opts.Ignore, l))
		}
		if !keep || drop {
			continue
		}
		var key string
		var site Site
		switch {
		case len(s.Location) == 0:
			key, site = "?", Site{Function: "(unknown)"}
		case opts.By == ByStack:
			for _, l := range s.Location {
				k, _ := keyOf(l)
				key += k + "\n"
				site.Stack = append(site.Stack, frames(l)...)
			}
		default:
			key, site = keyOf(s.Location[0])
		}
		r, ok := rows[key]
		if !ok {
			r = &row{key: key, site: site}
			rows[key] = r
		}
		r.size += size
		r.count += count
	}
	value := func(r *row) int64 {
		if opts.bySize() {
			return r.size
		}
		return r.count
	}
	var list []*row
	for _, r := range rows {
		list = append(list, r)
	}
	sort.Slice(list, func(i, j int) bool {
		if vi, vj := value(list[i]), value(list[j]); vi != vj {
			return vi > vj
		}
		return list[i].key < list[j].key
	})
	top.Keys = len(list)
	if n > 0 && len(list) > n {
		list = list[:n]
	}
	top.Stats = make([]Stat, len(list))
	denom := top.TotalSize
	if !opts.bySize() {
		denom = top.TotalCount
	}
	for i, r := range list {
		top.Stats[i] = Stat{Site: r.site, Size: r.size, Count: r.count}
		if denom > 0 {
			top.Stats[i].Share = float64(value(r)) / float64(denom)
		}
	}
	return top
}

type filterCase struct {
	name          string
	focus, ignore string
}

var filterCases = []filterCase{
	{"all", "", ""},
	{"focus", `acme|main\.`, ""},
	{"ignore", "", `json|bufio|runtime`},
	{"both", `store|cache|main`, `flate`},
}

func (c filterCase) options(by Key, sample string) HeapOptions {
	o := HeapOptions{By: by, Sample: sample}
	if c.focus != "" {
		o.Focus = regexp.MustCompile(c.focus)
	}
	if c.ignore != "" {
		o.Ignore = regexp.MustCompile(c.ignore)
	}
	return o
}

// TestFastPathIdentical checks that statistics read straight from the
// encoded profile (HeapData), from a parsed profile (Heap), and by the
// one-sample-at-a-time reference are identical, for every grouping, sample
// type and filter, on real and generated profiles.
func TestFastPathIdentical(t *testing.T) {
	t.Parallel()
	inputs := map[string][]byte{
		"real-old":      mustRead(t, realOld),
		"real-new":      mustRead(t, realNew),
		"generated":     generatedData(t, 6000, 0),
		"generated-new": generatedData(t, 6000, 3),
	}
	for name, data := range inputs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			es := eager(t, data)
			rows := 0
			for _, by := range []Key{ByLine, ByFunction, ByFile, ByStack} {
				for _, sample := range Samples {
					for _, fc := range filterCases {
						opts := fc.options(by, sample)
						want := referenceTop(es.Heap, opts, 0)
						got, err := HeapTop(es, opts, 0)
						if err != nil {
							t.Fatal(err)
						}
						if !reflect.DeepEqual(got, want) {
							t.Fatalf("%s/%s/%s: HeapTop on a parsed profile differs from the reference", by, sample, fc.name)
						}
						fast, err := HeapTop(lazy(data), opts, 0)
						if err != nil {
							t.Fatal(err)
						}
						if !reflect.DeepEqual(fast, want) {
							t.Fatalf("%s/%s/%s: HeapTop on the encoded profile differs from the reference", by, sample, fc.name)
						}
						rows += len(want.Stats)
					}
				}
			}
			if rows == 0 {
				t.Fatal("no rows at all: the comparison proves nothing")
			}
		})
	}
}

func TestFastPathDiffIdentical(t *testing.T) {
	t.Parallel()
	pairs := map[string][2][]byte{
		"real":      {mustRead(t, realOld), mustRead(t, realNew)},
		"generated": {generatedData(t, 6000, 0), generatedData(t, 6000, 3)},
	}
	for name, pair := range pairs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			eo, en := eager(t, pair[0]), eager(t, pair[1])
			for _, by := range []Key{ByLine, ByFunction, ByFile, ByStack} {
				for _, sample := range Samples {
					for _, fc := range filterCases {
						opts := DiffOptions{HeapOptions: fc.options(by, sample), N: 50}
						want, err := CompareSnapshots(eo, en, opts)
						if err != nil {
							t.Fatal(err)
						}
						got, err := CompareSnapshots(lazy(pair[0]), lazy(pair[1]), opts)
						if err != nil {
							t.Fatal(err)
						}
						if !reflect.DeepEqual(got, want) {
							t.Fatalf("%s/%s/%s: diff of encoded profiles differs from the parsed ones", by, sample, fc.name)
						}
						if len(want.Stats) == 0 && fc.name == "all" {
							t.Fatalf("%s/%s: no rows", by, sample)
						}
					}
				}
			}
		})
	}
}

// TestFastPathDamaged checks that a damaged encoded profile gives
// profile.Parse's error, not a result.
func TestFastPathDamaged(t *testing.T) {
	t.Parallel()
	data := mustRead(t, realOld)
	for _, bad := range [][]byte{data[:len(data)/2], []byte("\x1f\x8bnot gzip"), []byte("not a profile")} {
		_, perr := profile.ParseData(bad)
		_, err := HeapTop(lazy(bad), HeapOptions{}, 10)
		if perr == nil || err == nil {
			t.Fatalf("damaged profile: HeapTop error %v, profile.Parse error %v", err, perr)
		}
		if !strings.Contains(err.Error(), perr.Error()) {
			t.Errorf("HeapTop error %q does not carry profile.Parse's %q", err, perr)
		}
	}
}
