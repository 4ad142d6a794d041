// Command accuracy measures leakhunt watch's verdicts on every leakdemo: for
// each leaky demo whether it is named correctly (right kind, right
// file:line as the demo's package doc states it) and how many seconds that
// took, and for each -fixed variant and control whether any verdict was
// given at all (a false verdict). scripts/accuracy.sh runs it; the figures
// are recorded in docs/accuracy.md.
//
// Usage (from the repository root):
//
//	go run ./scripts/accuracy [-interval 1s] [-leaky 90s] [-clean 3m] [-parallel 6]
//	                          [-only cache,bounded] [-rate cache=60] [-md FILE]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/leakhunt/leakhunt/profiler/verdict"
	"github.com/leakhunt/leakhunt/profiler/watch"
)

// expectKinds is the kind of verdict each leaky demo must get, from its
// package doc ("What leaks"). body leaks connections: goroutines in
// net/http's read and write loops (its doc names them) and their buffers.
var expectKinds = map[string][]string{
	"body":     {"goroutine", "heap"},
	"cache":    {"heap"},
	"cgo":      {"non-go-memory"},
	"context":  {"heap"},
	"eventlog": {"heap"},
	"ranger":   {"goroutine", "heap"},
	"sender":   {"goroutine", "heap"},
	"subslice": {"heap"},
	"worker":   {"goroutine", "heap"},
}

// stdSites are sites (or go statements) outside the demo's own code that
// its doc names as where the leak shows: body leaks connections, "the
// client's read and write loop goroutines, the server's handler goroutine,
// their buffers".
var stdSites = map[string][]string{
	"body": {"net/http.(*persistConn).readLoop", "net/http.(*persistConn).writeLoop",
		"net/http.(*Transport).dialConn", "net/http.(*Server).Serve"},
}

type demoInfo struct {
	name  string
	kind  string // leaky, control, race
	rate  float64
	lines map[int]bool // main.go lines of the doc's "Where:" paragraph
	bin   string
}

type run struct {
	demo    *demoInfo
	fixed   bool
	rate    float64
	dur     time.Duration
	out     string // series directory
	verdict []seen
	err     error
	elapsed time.Duration
}

type seen struct {
	kind, site, fn string
	file           string
	line           int
	createdFn      string
	createdFile    string
	createdLine    int
	at             time.Duration // since the watch started; -1 for the final list only
}

func main() {
	interval := flag.Duration("interval", time.Second, "watch --interval")
	leakyDur := flag.Duration("leaky", 90*time.Second, "how long to watch each leaky demo")
	cleanDur := flag.Duration("clean", 3*time.Minute, "how long to watch each -fixed variant and control")
	parallel := flag.Int("parallel", 6, "demos watched at once")
	only := flag.String("only", "", "comma-separated demos to run (default all)")
	rates := flag.String("rate", "", "comma-separated NAME=RATE overrides of a demo's -rate")
	also := flag.String("also", "", "comma-separated NAME=RATE: extra runs of a demo at another -rate (its -fixed variant for a leaky demo)")
	md := flag.String("md", "", "also write the table as Markdown to this file")
	save := flag.String("save", "", "save each run's series (numbers only, growing sites and groups) as JSON in this directory")
	replay := flag.String("replay", "", "judge the series saved by -save in this directory again, sample by sample, with the current verdict code (no demo is run)")
	flag.Parse()

	if *replay != "" {
		runs := replayAll(*replay, *only)
		fmt.Print(render(runs, false))
		if *md != "" {
			check(os.WriteFile(*md, []byte(render(runs, true)), 0o644))
		}
		return
	}
	tmp, err := os.MkdirTemp("", "accuracy")
	check(err)
	defer os.RemoveAll(tmp)
	lh := filepath.Join(tmp, "leakhunt")
	build(lh, "./cmd/leakhunt")

	demos := readDemos(*only)
	over := map[string]float64{}
	for _, kv := range strings.Split(*rates, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			f, err := strconv.ParseFloat(v, 64)
			check(err)
			over[k] = f
		}
	}
	var runs []*run
	for _, d := range demos {
		d.bin = filepath.Join(tmp, d.name)
		build(d.bin, "./leakdemo/"+d.name)
		rate := d.rate
		if r, ok := over[d.name]; ok {
			rate = r
		}
		if d.kind == "leaky" {
			runs = append(runs, &run{demo: d, rate: rate, dur: *leakyDur})
			runs = append(runs, &run{demo: d, fixed: true, rate: rate, dur: *cleanDur})
		} else {
			runs = append(runs, &run{demo: d, rate: rate, dur: *cleanDur})
		}
	}
	for _, kv := range strings.Split(*also, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		check(err)
		for _, d := range demos {
			if d.name == k {
				runs = append(runs, &run{demo: d, fixed: d.kind == "leaky", rate: f, dur: *cleanDur})
			}
		}
	}
	fmt.Fprintf(os.Stderr, "%d runs, %d at a time, interval %s\n", len(runs), *parallel, *interval)
	sem := make(chan struct{}, *parallel)
	var wg sync.WaitGroup
	for i, r := range runs {
		r.out = filepath.Join(tmp, fmt.Sprintf("series-%02d", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			start := time.Now()
			r.err = watchDemo(lh, r, *interval)
			r.elapsed = time.Since(start)
			if *save != "" && r.err == nil {
				r.err = saveSeries(r, *save)
			}
			fmt.Fprintf(os.Stderr, "done %s%s in %s\n", r.demo.name, map[bool]string{true: " -fixed"}[r.fixed], r.elapsed.Round(time.Second))
		}()
	}
	wg.Wait()
	table := render(runs, false)
	fmt.Print(table)
	if *md != "" {
		check(os.WriteFile(*md, []byte(render(runs, true)), 0o644))
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "accuracy:", err)
		os.Exit(1)
	}
}

func build(out, pkg string) {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Stderr = os.Stderr
	check(cmd.Run())
}

var (
	kindRE  = regexp.MustCompile(`Kind:\s+demo\.(\w+)`)
	rateRE  = regexp.MustCompile(`Rate:\s+([0-9.]+)`)
	whereRE = regexp.MustCompile(`main\.go:([0-9]+)`)
)

// readDemos reads each demo's kind and rate from its main.go and the lines
// its doc names.
func readDemos(only string) []*demoInfo {
	want := map[string]bool{}
	for _, n := range strings.Split(only, ",") {
		if n != "" {
			want[n] = true
		}
	}
	entries, err := os.ReadDir("leakdemo")
	check(err)
	var out []*demoInfo
	for _, e := range entries {
		if !e.IsDir() || e.Name() == "internal" || (len(want) > 0 && !want[e.Name()]) {
			continue
		}
		src, err := os.ReadFile(filepath.Join("leakdemo", e.Name(), "main.go"))
		if err != nil {
			continue
		}
		d := &demoInfo{name: e.Name(), lines: map[int]bool{}}
		if m := kindRE.FindSubmatch(src); m != nil {
			d.kind = strings.ToLower(string(m[1]))
		}
		if m := rateRE.FindSubmatch(src); m != nil {
			d.rate, _ = strconv.ParseFloat(string(m[1]), 64)
		}
		doc, _ := os.ReadFile(filepath.Join("leakdemo", e.Name(), "doc.go"))
		inWhere := false
		for _, l := range strings.Split(string(doc), "\n") {
			switch {
			case strings.HasPrefix(l, "// Where:"):
				inWhere = true
			case strings.TrimSpace(l) == "//":
				inWhere = false
			}
			if inWhere {
				for _, m := range whereRE.FindAllStringSubmatch(l, -1) {
					n, _ := strconv.Atoi(m[1])
					d.lines[n] = true
				}
			}
		}
		out = append(out, d)
	}
	return out
}

var (
	liveRE  = regexp.MustCompile(`^leak: (\S+) (.*), confidence [0-9.]+ \[at \+([^\]]+)\]$`)
	finalRE = regexp.MustCompile(`^(heap|goroutine|non-go-memory)  (.*)  confidence [0-9.]+$`)
	locRE   = regexp.MustCompile(`^(\S+) \(([^()]*):([0-9]+)\)`)
	credRE  = regexp.MustCompile(`created by (\S+) \(([^()]*):([0-9]+)\)`)
)

// watchDemo runs leakhunt watch -- DEMO and collects its verdicts.
func watchDemo(lh string, r *run, interval time.Duration) error {
	args := []string{"watch", "--interval", interval.String(), "--duration", r.dur.String(), "-n", "0", "-o", r.out,
		"--", r.demo.bin, "-addr", "127.0.0.1:0", "-rate", strconv.FormatFloat(r.rate, 'g', -1, 64)}
	if r.fixed {
		args = append(args, "-fixed")
	}
	cmd := exec.Command(lh, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return err
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		if m := liveRE.FindStringSubmatch(line); m != nil {
			at, _ := time.ParseDuration(m[3])
			r.verdict = append(r.verdict, parseVerdict(m[1], m[2], at))
		} else if m := finalRE.FindStringSubmatch(line); m != nil {
			r.verdict = append(r.verdict, parseVerdict(m[1], m[2], -1))
		}
	}
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 3 {
		err = nil
	}
	return err
}

func parseVerdict(kind, rest string, at time.Duration) seen {
	v := seen{kind: kind, at: at, site: rest}
	if m := locRE.FindStringSubmatch(rest); m != nil {
		v.fn, v.file = m[1], m[2]
		v.line, _ = strconv.Atoi(m[3])
		v.site = fmt.Sprintf("%s (%s:%d)", v.fn, shortPath(v.file), v.line)
	} else {
		v.site = strings.SplitN(rest, " +", 2)[0]
	}
	if m := credRE.FindStringSubmatch(rest); m != nil {
		v.createdFn, v.createdFile = m[1], m[2]
		v.createdLine, _ = strconv.Atoi(m[3])
		v.site += fmt.Sprintf(" created at %s:%d", shortPath(v.createdFile), v.createdLine)
	}
	return v
}

func shortPath(p string) string {
	if i := strings.Index(p, "leakdemo/"); i >= 0 {
		return p[i:]
	}
	return filepath.Base(p)
}

// correct says whether v names r's leak: an expected kind, at a line the
// doc names (the site or the go statement), or a documented library site.
func (r *run) correct(v seen) bool {
	kindOK := false
	for _, k := range expectKinds[r.demo.name] {
		kindOK = kindOK || k == v.kind
	}
	if !kindOK || r.fixed || r.demo.kind != "leaky" {
		return false
	}
	if v.kind == "non-go-memory" {
		return true // no allocation site is known outside the Go heap: the kind is the answer
	}
	own := "leakdemo/" + r.demo.name + "/main.go"
	if strings.HasSuffix(v.file, own) && r.demo.lines[v.line] {
		return true
	}
	if strings.HasSuffix(v.createdFile, own) && r.demo.lines[v.createdLine] {
		return true
	}
	for _, s := range stdSites[r.demo.name] {
		if v.fn == s || v.createdFn == s {
			return true
		}
	}
	return false
}

func render(runs []*run, markdown bool) string {
	sort.SliceStable(runs, func(i, j int) bool {
		a, b := runs[i], runs[j]
		order := map[string]int{"leaky": 0, "control": 1, "race": 2}
		if a.demo.kind != b.demo.kind {
			return order[a.demo.kind] < order[b.demo.kind]
		}
		if a.demo.name != b.demo.name {
			return a.demo.name < b.demo.name
		}
		if a.fixed != b.fixed {
			return !a.fixed
		}
		return a.rate > b.rate
	})
	var sb strings.Builder
	var w io.Writer = &sb
	tw := tabwriter.NewWriter(&sb, 2, 8, 2, ' ', 0)
	sep := "\t"
	if markdown {
		sep = " | "
		fmt.Fprintln(w, "| demo | variant | -rate | watched | verdict | first correct | false verdicts | other verdicts on the leak |")
		fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- |")
	} else {
		w = tw
		fmt.Fprintln(w, "DEMO\tVARIANT\tRATE\tWATCHED\tVERDICT\tFIRST CORRECT\tFALSE VERDICTS\tOTHER VERDICTS ON THE LEAK")
	}
	var leaky, within, named, clean, falseLive, falseEnd int
	for _, r := range runs {
		variant := r.demo.kind
		if r.fixed {
			variant = "fixed"
		}
		verdict, first := "-", "-"
		var falses, also []string
		seenAlso := map[string]bool{}
		var firstAt time.Duration = -2
		seenSite := map[string]string{} // false verdict → when it was first printed
		finalFalse := map[string]bool{} // false verdicts still standing at the end
		for _, v := range r.verdict {
			if r.correct(v) {
				if firstAt == -2 || (v.at >= 0 && (firstAt < 0 || v.at < firstAt)) {
					firstAt = v.at
				}
				continue
			}
			if related(r, v) {
				if !seenAlso[v.kind+v.site] {
					seenAlso[v.kind+v.site] = true
					also = append(also, v.kind+" "+v.site)
				}
				continue
			}
			k := v.kind + " " + v.site
			if _, ok := seenSite[k]; !ok {
				falses = append(falses, k)
			}
			if v.at >= 0 && seenSite[k] == "" {
				seenSite[k] = fmt.Sprintf("live at %.0f s", v.at.Seconds())
			}
			if v.at < 0 {
				finalFalse[k] = true
			}
			if _, ok := seenSite[k]; !ok {
				seenSite[k] = ""
			}
		}
		if r.demo.kind == "leaky" && !r.fixed {
			leaky++
			verdict = "MISSED"
			if firstAt != -2 {
				named++
				verdict = "correct"
				first = "at the end"
				if firstAt >= 0 {
					first = fmt.Sprintf("%.0f s", firstAt.Seconds())
					if firstAt <= time.Minute {
						within++
					}
				}
			}
		} else if len(falses) == 0 {
			clean++
			verdict = "none (right)"
		} else {
			verdict = "FALSE"
			if len(finalFalse) > 0 {
				falseEnd++
			} else {
				falseLive++
			}
		}
		if r.err != nil {
			verdict = "ERROR: " + r.err.Error()
		}
		fv := "0"
		if len(falses) > 0 {
			var parts []string
			for _, f := range falses {
				when := seenSite[f]
				if finalFalse[f] {
					when = strings.TrimPrefix(when+", still at the end", ", ")
				} else {
					when += ", cleared by the end"
				}
				parts = append(parts, f+" ("+when+")")
			}
			fv = fmt.Sprintf("%d: %s", len(falses), strings.Join(parts, "; "))
		}
		av := "-"
		if len(also) > 0 {
			av = strings.Join(also, "; ")
		}
		row := []string{r.demo.name, variant, strconv.FormatFloat(r.rate, 'g', -1, 64), r.dur.String(), verdict, first, fv, av}
		if markdown {
			fmt.Fprintln(w, "| "+strings.Join(row, sep)+" |")
		} else {
			fmt.Fprintln(w, strings.Join(row, sep))
		}
	}
	tw.Flush()
	summary := fmt.Sprintf("leaky demos named correctly: %d of %d, %d of them within 60 s; fixed variants, controls and race: %d without any verdict, %d with a verdict printed live and cleared by the end, %d with a verdict at the end\n",
		named, leaky, within, clean, falseLive, falseEnd)
	if markdown {
		summary = "\n" + summary
	}
	return sb.String() + summary
}

// related says whether a verdict on a leaky demo that is not the expected
// one is still about the leak, not a false alarm: a verdict of another kind
// or at another line of the demo's own code (the map key next to the leaked
// value, the tally a leaked goroutine holds), or the leaked connections'
// buffers inside net/http for body ("their buffers", says its doc), or a
// heap verdict that names no site on a demo that leaks on the heap.
func related(r *run, v seen) bool {
	if r.fixed || r.demo.kind != "leaky" {
		return false
	}
	if r.demo.name == "body" && strings.HasPrefix(v.fn, "bufio.") {
		return true
	}
	if v.kind == string(verdict.Heap) && (v.fn == verdict.Unplaced || strings.HasPrefix(v.site, verdict.Unplaced)) {
		// The Go heap grows and no sampled site explains it: the right
		// kind with no line, neither the answer nor a false alarm.
		for _, k := range expectKinds[r.demo.name] {
			if k == v.kind {
				return true
			}
		}
	}
	own := "leakdemo/" + r.demo.name + "/main.go"
	return strings.HasSuffix(v.file, own) || strings.HasSuffix(v.createdFile, own)
}

// saveSeries writes r's series, cut down to the sites and groups that moved,
// as DIR/NAME[-fixed].json: real series for the verdict package's tests.
func saveSeries(r *run, dir string) error {
	s, _, err := watch.LoadDir(r.out)
	if err != nil {
		return err
	}
	s.Keep(func(ss *watch.SiteSeries) bool {
		lo, hi := ss.Bytes[0], ss.Bytes[0]
		for _, b := range ss.Bytes {
			lo, hi = min(lo, b), max(hi, b)
		}
		return hi-lo >= 128<<10
	}, func(g *watch.GroupSeries) bool {
		lo, hi := g.Count[0], g.Count[0]
		for _, c := range g.Count {
			lo, hi = min(lo, c), max(hi, c)
		}
		return hi-lo >= 2
	})
	data, err := s.MarshalJSON()
	if err != nil {
		return err
	}
	name := r.demo.name
	if r.fixed {
		name += "-fixed"
	}
	name += "@" + strconv.FormatFloat(r.rate, 'g', -1, 64)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".json"), data, 0o644)
}

// replayAll judges every series saved in dir as leakhunt watch would have:
// after each sample, printing a verdict once it holds at two samples in a
// row, and listing those that hold at the end.
func replayAll(dir, only string) []*run {
	demos := map[string]*demoInfo{}
	for _, d := range readDemos(only) {
		demos[d.name] = d
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	check(err)
	var runs []*run
	for _, f := range files {
		base := strings.TrimSuffix(filepath.Base(f), ".json")
		name, rate, _ := strings.Cut(base, "@") // files saved before the rate was in the name have none
		fixed := strings.HasSuffix(name, "-fixed")
		d := demos[strings.TrimSuffix(name, "-fixed")]
		if d == nil {
			continue
		}
		data, err := os.ReadFile(f)
		check(err)
		s := watch.NewSeries()
		check(s.UnmarshalJSON(data))
		r := &run{demo: d, fixed: fixed, dur: s.Duration().Round(time.Second)}
		r.rate, _ = strconv.ParseFloat(rate, 64)
		last := map[string]bool{}
		printed := map[string]bool{}
		t0 := s.Samples[0].Time
		for n := 1; n <= s.Len(); n++ {
			now := map[string]bool{}
			for _, v := range verdict.Analyze(s.Prefix(n), verdict.Options{}) {
				k := v.Key()
				now[k] = true
				if last[k] && !printed[k] {
					printed[k] = true
					r.verdict = append(r.verdict, seenOf(v, s.Samples[n-1].Time.Sub(t0)))
				}
			}
			last = now
		}
		for _, v := range verdict.Analyze(s, verdict.Options{}) {
			r.verdict = append(r.verdict, seenOf(v, -1))
		}
		runs = append(runs, r)
	}
	return runs
}

func seenOf(v verdict.Verdict, at time.Duration) seen {
	sn := seen{kind: string(v.Kind), fn: v.Function, file: v.File, line: v.Line, at: at}
	sn.site = fmt.Sprintf("%s (%s:%d)", v.Function, shortPath(v.File), v.Line)
	if v.File == "" {
		sn.site = v.Function
	}
	if c := v.CreatedBy; c != nil {
		sn.createdFn, sn.createdFile, sn.createdLine = c.Function, c.File, c.Line
		sn.site += fmt.Sprintf(" created at %s:%d", shortPath(c.File), c.Line)
	}
	return sn
}
