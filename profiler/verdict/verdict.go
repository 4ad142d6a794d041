// Package verdict names leaks in a watched series: allocation sites whose
// in-use memory keeps growing, goroutine groups whose count keeps growing,
// and memory that grows outside the Go heap. Each verdict rests on a robust
// trend (Theil–Sen), a trend test (Mann–Kendall), a check that the growth
// continues in the recent half of the window, and growth measured against
// both the noise and an absolute floor, so that a cache warming up to a
// plateau, a sawtooth of temporary buffers, GC timing and an idle pool are
// not called leaks. docs/verdicts.md explains the rule.
package verdict

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/leakhunt/leakhunt/profiler/report"
	"github.com/leakhunt/leakhunt/profiler/snapshot"
	"github.com/leakhunt/leakhunt/profiler/srcfile"
	"github.com/leakhunt/leakhunt/profiler/watch"
)

// Kind is what leaks.
type Kind string

// The kinds of leak.
const (
	// Heap: an allocation site whose in-use bytes keep growing.
	Heap Kind = "heap"
	// Goroutine: a group of goroutines (same creation site, same blocking
	// location and state) whose count keeps growing.
	Goroutine Kind = "goroutine"
	// NonGoMemory: the resident set grows while the Go runtime's memory does
	// not (cgo, mmap, off-heap).
	NonGoMemory Kind = "non-go-memory"
)

// Units of Verdict.Rate.
const (
	BytesPerSecond      = "bytes/s"
	GoroutinesPerMinute = "goroutines/min"
)

// Verdict is one leak named: what kind, where, how fast, how sure and why,
// and what to run next.
type Verdict struct {
	Kind     Kind   `json:"kind"`
	Function string `json:"function"`
	File     string `json:"file,omitempty"`
	Line     int    `json:"line,omitempty"`
	// Source is the text of the site's line when the file is readable.
	Source string `json:"source,omitempty"`
	// Rate is the growth rate in Unit (bytes/s or goroutines/min).
	Rate float64 `json:"rate"`
	Unit string  `json:"unit"`
	// Growth is what the site gained over the window (bytes or goroutines)
	// and Current its value at the last sample.
	Growth  float64 `json:"growth"`
	Current float64 `json:"current"`
	// Confidence is 0..1: see Trend.Confidence.
	Confidence float64 `json:"confidence"`
	// Evidence says in one line why this is a leak.
	Evidence string `json:"evidence"`
	// Next is the command to run to look closer.
	Next string `json:"next,omitempty"`
	// CreatedBy is the go statement of a goroutine group; State its state.
	CreatedBy *watch.Loc `json:"created_by,omitempty"`
	State     string     `json:"state,omitempty"`
	// Alloc is the innermost allocating frame when it differs from the site.
	Alloc *watch.Loc `json:"alloc,omitempty"`
	// Stack is one allocation stack through the site (heap) or one stack of
	// the group (goroutine), innermost first, cut to maxStack frames.
	Stack []snapshot.Frame `json:"stack,omitempty"`
	// Samples is how many samples the verdict rests on.
	Samples int   `json:"samples"`
	Trend   Trend `json:"trend"`
}

// maxStack is the most frames a verdict's stack keeps.
const maxStack = 12

func cutStack(fs []snapshot.Frame) []snapshot.Frame {
	if len(fs) > maxStack {
		fs = fs[:maxStack]
	}
	return append([]snapshot.Frame(nil), fs...)
}

// Key identifies a verdict across evaluations, so a watch prints each once.
func (v Verdict) Key() string {
	k := fmt.Sprintf("%s %s", v.Kind, v.Function)
	if v.File != "" {
		k += fmt.Sprintf(" %s:%d", v.File, v.Line)
	}
	if v.CreatedBy != nil {
		k += fmt.Sprintf(" created by %s:%d", v.CreatedBy.File, v.CreatedBy.Line)
	}
	if v.State != "" {
		k += " [" + v.State + "]"
	}
	return k
}

// Where is the site as "function (file:line)".
func (v Verdict) Where() string {
	if v.File == "" {
		return v.Function
	}
	return fmt.Sprintf("%s (%s:%d)", v.Function, v.File, v.Line)
}

// Options tune Analyze. The zero value uses the defaults below.
type Options struct {
	// Rule is the statistical bar; zero fields take DefaultRule's values.
	Rule Rule
	// MinHeapGrowth is the least growth of a site's in-use bytes over the
	// window (default 512 KiB, one sampling period of the heap profile at
	// the default MemProfileRate); MinHeapShare the least as a share of the
	// Go heap (default 1%). The larger applies.
	MinHeapGrowth float64
	MinHeapShare  float64
	// MinGoroutineGrowth is the least growth of a group (default 5), and
	// MinGoroutineShare of the group's starting size (default 5%).
	MinGoroutineGrowth float64
	MinGoroutineShare  float64
	// MinRSSGrowth is the least growth of RSS outside the Go runtime
	// (default 2 MiB); MinRSSShare as a share of RSS (default 2%).
	MinRSSGrowth float64
	MinRSSShare  float64
	// MinRSSSpan is the least time a non-go-memory verdict rests on
	// (default 40 s): a program's resident set moves in steps of MiB as the
	// runtime maps, touches and returns pages, and grows by several MiB in
	// a young program's first seconds (a Go 1.27 program that does not leak
	// grew its anonymous RSS by 3 MiB over its first 25 s, into memory the
	// runtime already held, and got a verdict at 28 s with a 20 s minimum).
	MinRSSSpan time.Duration
	// MinHeapSpan is the least time a heap verdict rests on (default 40 s;
	// negative: no wait). A cache warming up grows exactly like a leak until
	// it is full; what tells them apart is the plateau, so a heap verdict
	// waits long enough for a warm-up of up to about 30 s to have levelled
	// off and shown it.
	MinHeapSpan time.Duration
	// Source reads the source line of a site; nil means a new cache.
	Source *srcfile.Cache
	// Target is the TARGET argument, used in the commands of Verdict.Next.
	Target string
	// Dir is the series directory, when the snapshots were saved.
	Dir string
	// Explain, when set, is told of every series that was fitted and why it
	// was or was not called a leak (why is "" for a verdict): for tuning and
	// for users who want to know why a suspect was cleared.
	Explain func(kind Kind, site string, tr Trend, why string)
}

func (o *Options) explain(kind Kind, site string, tr Trend, why string) {
	if o.Explain != nil {
		o.Explain(kind, site, tr, why)
	}
}

func (o *Options) setDefaults() {
	d := DefaultRule
	if o.Rule.MinPoints == 0 {
		o.Rule.MinPoints = d.MinPoints
	}
	if o.Rule.Alpha == 0 {
		o.Rule.Alpha = d.Alpha
	}
	if o.Rule.RecentAlpha == 0 {
		o.Rule.RecentAlpha = d.RecentAlpha
	}
	if o.Rule.Persist == 0 {
		o.Rule.Persist = d.Persist
	}
	if o.Rule.SNR == 0 {
		o.Rule.SNR = d.SNR
	}
	def := func(p *float64, v float64) {
		if *p == 0 {
			*p = v
		}
	}
	def(&o.MinHeapGrowth, 512<<10)
	def(&o.MinHeapShare, 0.01)
	def(&o.MinGoroutineGrowth, 5)
	def(&o.MinGoroutineShare, 0.05)
	def(&o.MinRSSGrowth, 2<<20)
	def(&o.MinRSSShare, 0.02)
	if o.MinRSSSpan == 0 {
		o.MinRSSSpan = 40 * time.Second
	}
	if o.MinHeapSpan == 0 {
		o.MinHeapSpan = 40 * time.Second
	}
	if o.Source == nil {
		o.Source = srcfile.NewCache()
	}
}

// Analyze returns the leak verdicts the series supports, most confident
// first. It can be called after every sample: each call looks at the whole
// series so far.
func Analyze(s *watch.Series, opts Options) []Verdict {
	opts.setDefaults()
	var vs []Verdict
	vs = append(vs, heapVerdicts(s, &opts)...)
	vs = append(vs, goroutineVerdicts(s, &opts)...)
	vs = append(vs, nonGoVerdicts(s, &opts)...)
	if len(vs) == 0 {
		if v, ok := unplaced(s, &opts); ok {
			vs = append(vs, v)
		}
	}
	sort.SliceStable(vs, func(i, j int) bool {
		if vs[i].Confidence != vs[j].Confidence {
			return vs[i].Confidence > vs[j].Confidence
		}
		return vs[i].Key() < vs[j].Key()
	})
	return vs
}

// heapPoints picks the samples a heap-profile series is judged on: those
// with a heap profile, and of those only one per garbage collection, since
// the profile only changes when a collection ends (the repeats carry no new
// information and would inflate the evidence). Times are seconds since the
// first sample.
func heapPoints(s *watch.Series) (idx []int, t []float64) {
	if len(s.Samples) == 0 {
		return nil, nil
	}
	t0 := s.Samples[0].Time
	var lastGC uint32
	for i, smp := range s.Samples {
		if !smp.HasHeap {
			continue
		}
		if smp.HasMemStats && len(idx) > 0 && smp.NumGC == lastGC {
			continue
		}
		lastGC = smp.NumGC
		idx = append(idx, i)
		t = append(t, smp.Time.Sub(t0).Seconds())
	}
	return idx, t
}

func points(s *watch.Series, keep func(watch.Sample) bool) (idx []int, t []float64) {
	if len(s.Samples) == 0 {
		return nil, nil
	}
	t0 := s.Samples[0].Time
	for i, smp := range s.Samples {
		if keep(smp) {
			idx = append(idx, i)
			t = append(t, smp.Time.Sub(t0).Seconds())
		}
	}
	return idx, t
}

// heapLevel is the Go heap's typical size over the series.
func heapLevel(s *watch.Series) float64 {
	var xs []float64
	for _, smp := range s.Samples {
		switch {
		case smp.HasMemStats:
			xs = append(xs, float64(smp.HeapAlloc))
		case smp.HasHeap:
			xs = append(xs, float64(smp.ProfileInuse))
		}
	}
	if len(xs) == 0 {
		return 0
	}
	return median(xs)
}

// Sites whose every frame is the runtime's (runtime.malg allocating the
// descriptor of a new goroutine, runtime.newBucket a profiling bucket) get
// no heap verdict: there is no line of the program to name, and what they
// hold grows with something else the verdicts name — leaked goroutines have
// their goroutine verdict. Their bytes still count in the Go heap's total.
func heapVerdicts(s *watch.Series, o *Options) []Verdict {
	idx, t := heapPoints(s)
	if len(idx) < o.Rule.MinPoints {
		return nil
	}
	if span := t[len(t)-1] - t[0]; span < o.MinHeapSpan.Seconds() {
		o.explain(Heap, "(Go heap)", Trend{N: len(idx), Span: span},
			fmt.Sprintf("only %.0f s of samples: a heap verdict waits %s, long enough for a warm-up to show its plateau", span, o.MinHeapSpan))
		return nil
	}
	rule := o.Rule
	rule.Floor = math.Max(o.MinHeapGrowth, o.MinHeapShare*heapLevel(s))
	total, haveTotal := heapTotal(s)
	var vs []Verdict
	y := make([]float64, len(idx))
	for _, site := range s.Sites() {
		if watch.InRuntime(site.Site) {
			continue // no frame outside the runtime: no site to name (see above)
		}
		lo, hi := math.Inf(1), math.Inf(-1)
		for k, i := range idx {
			y[k] = float64(site.Bytes[i])
			lo, hi = math.Min(lo, y[k]), math.Max(hi, y[k])
		}
		if hi-lo < rule.Floor {
			continue // cannot clear the floor: skip the fit
		}
		tr := fit(t, y)
		why := tr.Check(rule)
		// A site's series is sampled (one allocation per 512 KiB stands for
		// 512 KiB), so a few short-lived objects sampled in a row look like
		// a staircase. The Go heap's total is exact: real growth at a site
		// shows there too, over the window and in its recent half.
		if why == "" && haveTotal && (total.Growth < 0.5*tr.Growth || total.P > 0.01 ||
			total.RecentSlope*total.RecentSpan < 0.5*tr.RecentSlope*tr.RecentSpan) {
			why = fmt.Sprintf("not seen in the Go heap's total (it grew %s, p=%s; %s in the recent half)",
				bytesText(total.Growth), pval(total.P), bytesText(total.RecentSlope*total.RecentSpan))
		}
		if why == "" && haveTotal {
			why = totalLevelled(total, rule)
		}
		o.explain(Heap, fmt.Sprintf("%s (%s:%d)", site.Site.Function, site.Site.File, site.Site.Line), tr, why)
		if why != "" {
			continue
		}
		v := Verdict{
			Kind: Heap, Function: site.Site.Function, File: site.Site.File, Line: site.Site.Line,
			Rate: tr.Slope, Unit: BytesPerSecond, Growth: tr.Growth, Current: tr.Last,
			Confidence: tr.Confidence(rule), Samples: tr.N, Trend: tr,
		}
		if !site.Alloc.IsZero() {
			a := site.Alloc
			v.Alloc = &a
		}
		v.Stack = cutStack(site.Stack)
		v.Evidence = evidence(tr, bytesText, "/s", 1)
		v.Next = o.heapNext(s, v)
		vs = append(vs, v)
	}
	if v, ok := attributed(s, o, rule, total, haveTotal, idx, t, vs); ok {
		vs = append(vs, v)
	}
	return o.withSource(vs)
}

// heapTotal is the trend of the Go heap's total (HeapAlloc) over the
// samples that have it.
func heapTotal(s *watch.Series) (Trend, bool) {
	tidx, tt := points(s, func(smp watch.Sample) bool { return smp.HasMemStats && smp.HasHeap })
	if len(tidx) < 3 {
		return Trend{}, false
	}
	ty := make([]float64, len(tidx))
	for k, i := range tidx {
		ty[k] = float64(s.Samples[i].HeapAlloc)
	}
	return fit(tt, ty), true
}

func bytesText(x float64) string { return report.Bytes(int64(math.Round(x))) }

// totalLevelled says why the Go heap's exact total shows a plateau now
// ("" when it does not): its last third, at least five points, must still
// climb at the rule's Persist share of the window's slope. The sampled
// series of a site cannot be asked this (over a third of a window it may
// move by one sampled step or none), but the total is exact, and a cache
// that filled up a few samples ago is flat there while its sites' sampled
// series and the total's recent half still look steep.
func totalLevelled(total Trend, rule Rule) string {
	if total.N < 8 || total.LateSlope >= rule.Persist*total.Slope {
		return ""
	}
	return fmt.Sprintf("the Go heap's total has levelled off: its last third grows %s/s, the window %s/s",
		bytesText(total.LateSlope), bytesText(total.Slope))
}

// Unplaced is the Function of a heap verdict that names no allocation site:
// the Go heap's exact total grows, and the sampled heap profile has not
// caught the allocations that grow it.
const Unplaced = "the Go heap (no allocation site named yet)"

// unplaced is the heap verdict of last resort, when nothing else explains
// why the Go heap's exact total (HeapAlloc) passes the whole rule: no site
// verdict, no attributed one and no goroutine group growing (leaked
// goroutines grow the heap with their descriptors, at sites in the
// runtime). The heap profile samples one allocation per period (512 KiB by
// default): a site leaking 20 KiB/s has no sampled object at all after a
// minute with probability e^(-60×20/512) ≈ 10%, or the profiler is off
// (runtime.MemProfileRate 0). The leak is real and exact; only its line is
// missing, and the verdict says how to find what holds it instead.
func unplaced(s *watch.Series, o *Options) (Verdict, bool) {
	// One point per garbage collection, as for the sites: between
	// collections HeapAlloc also counts the garbage made since the last one,
	// which rises steadily until the next; a target that collects before
	// every sample (heap?gc=1) has a collection between every two points.
	idx, t := heapPoints(s)
	var tt, ty []float64
	for k, i := range idx {
		if s.Samples[i].HasMemStats {
			tt, ty = append(tt, t[k]), append(ty, float64(s.Samples[i].HeapAlloc))
		}
	}
	if len(ty) < o.Rule.MinPoints || tt[len(tt)-1]-tt[0] < o.MinHeapSpan.Seconds() {
		return Verdict{}, false
	}
	total := fit(tt, ty)
	rule := o.Rule
	rule.Floor = math.Max(o.MinHeapGrowth, o.MinHeapShare*heapLevel(s))
	why := total.Check(rule)
	if why == "" {
		why = totalLevelled(total, rule)
	}
	var (
		placed, topGain float64
		top             *watch.SiteSeries
	)
	if why == "" {
		// "Not sampled yet" must be what the profile says: when the
		// program's own sites gained half of the growth in the sampled
		// profile, the growth is placed, and their own series decided (a
		// cache that filled up: its sites have levelled off, while the
		// total's window still holds the warm-up).
		for _, site := range s.Sites() {
			if !watch.InRuntime(site.Site) && s.InProgram(site.Site) {
				gain := math.Max(0, float64(site.Bytes[idx[len(idx)-1]]-site.Bytes[idx[0]]))
				placed += gain
				if gain > topGain {
					top, topGain = site, gain
				}
			}
		}
		if placed >= 0.5*total.Growth {
			why = fmt.Sprintf("the program's own sites gained %s of it in the sampled profile, and their own series decide", bytesText(placed))
		}
	}
	o.explain(Heap, Unplaced, total, why)
	if why != "" {
		return Verdict{}, false
	}
	v := Verdict{
		Kind: Heap, Function: Unplaced,
		Rate: total.Slope, Unit: BytesPerSecond, Growth: total.Growth, Current: total.Last,
		Confidence: math.Round(total.Confidence(rule)*0.8*100) / 100,
		Samples:    total.N, Trend: total,
	}
	period := samplePeriod(s)
	last := s.Samples[len(s.Samples)-1]
	if last.HeapPeriod == 0 && last.HasHeap {
		v.Evidence = "the Go heap " + evidence(total, bytesText, "/s", 1) +
			"; the heap profile has no sampling rate: the program's memory profiler is off (runtime.MemProfileRate 0), so no allocation site can be named"
	} else if top == nil {
		v.Evidence = "the Go heap " + evidence(total, bytesText, "/s", 1) +
			fmt.Sprintf("; no allocation site of the program gained in the sampled heap profile (one allocation sampled per %s): the leaked objects were not sampled yet", bytesText(period))
	} else {
		v.Evidence = "the Go heap " + evidence(total, bytesText, "/s", 1) +
			fmt.Sprintf("; the program's own sites gained only %s of it in the sampled heap profile (one allocation sampled per %s), too little to name one yet; the most, %s, at %s (%s:%d)",
				bytesText(placed), bytesText(period), bytesText(topGain), top.Site.Function, top.Site.File, top.Site.Line)
	}
	v.Next = fmt.Sprintf("leakhunt watch %s --refs (what keeps the growth alive, no sampling needed); --memprofilerate 65536 samples allocations 8× as often", quote(o.Target))
	return v, true
}

// defaultPeriod is what one sampled allocation stands for in a heap
// profile at the default runtime.MemProfileRate (512 KiB).
const defaultPeriod = 512 << 10

// samplePeriod is the heap profile's sampling period in bytes: the
// series' last known period (a program leakhunt starts is sampled more
// often, see docs/verdicts.md), or the runtime's default.
func samplePeriod(s *watch.Series) float64 {
	for i := len(s.Samples) - 1; i >= 0; i-- {
		if p := s.Samples[i].HeapPeriod; p > 0 {
			return float64(p)
		}
	}
	return defaultPeriod
}

// attributed is the second way to a heap verdict, for leaks too slow for
// their site's sampled series to pass the rule alone. The runtime samples
// one allocation per 512 KiB, so a site leaking 20 KiB/s moves in 512 KiB
// steps every 25 s, while the Go heap's total (HeapAlloc, exact, current
// when the target collected garbage just before) moves smoothly. When the
// total passes the whole rule — a real, significant, still-continuing
// growth above the floor — and the verdicts so far explain less than half
// of it, the growth is charged to the site that gained the most, provided
// that site's own series agrees (see attributable).
func attributed(s *watch.Series, o *Options, rule Rule, total Trend, haveTotal bool, idx []int, t []float64, have []Verdict) (Verdict, bool) {
	if !haveTotal || total.N < rule.MinPoints {
		return Verdict{}, false
	}
	why := total.Check(rule)
	if why == "" {
		why = totalLevelled(total, rule)
	}
	o.explain(Heap, "(Go heap total)", total, why)
	if why != "" {
		return Verdict{}, false
	}
	unexplained := total.Growth
	for _, v := range have {
		unexplained -= v.Growth
	}
	if unexplained < 0.5*total.Growth {
		return Verdict{}, false
	}
	var (
		best      *watch.SiteSeries
		bestTr    Trend
		bestGain  float64
		bestKept  float64
		bestSteps string
	)
	period := samplePeriod(s)
	y := make([]float64, len(idx))
	for _, site := range s.Sites() {
		if watch.InRuntime(site.Site) {
			continue
		}
		for k, i := range idx {
			y[k] = float64(site.Bytes[i])
		}
		// The total's growth already cleared the floor; the site needs
		// only to have been sampled growing, and to be able to carry the
		// growth (attributable's Poisson test).
		gain := y[len(y)-1] - y[0]
		if gain < period || gain < bestGain {
			continue
		}
		tr := fit(t, y)
		kept, why := attributable(site, tr, gain, unexplained, idx, s.InProgram(site.Site), period)
		if why != "" {
			o.explain(Heap, fmt.Sprintf("%s (%s:%d) for the Go heap's growth", site.Site.Function, site.Site.File, site.Site.Line), tr, why)
			continue
		}
		if gain == bestGain && kept <= bestKept {
			continue
		}
		best, bestTr, bestGain, bestKept = site, tr, gain, kept
		bestSteps = fmt.Sprintf("rose %s, fell %s, Mann–Kendall p=%s", times(tr.Rises), times(tr.Moves-tr.Rises), pval(tr.P))
		if kept >= 0 {
			bestSteps += fmt.Sprintf(", kept %.0f%% of what it allocated over the window", 100*math.Min(kept, 1))
		}
	}
	if best == nil {
		return Verdict{}, false
	}
	for _, v := range have {
		if v.Function == best.Site.Function && v.File == best.Site.File && v.Line == best.Site.Line {
			return Verdict{}, false
		}
	}
	conf := total.Confidence(rule) * math.Min(1, bestGain/total.Growth) * 0.9
	if bestTr.Rises < 2 {
		conf *= 0.8 // one sampled step: the site is named on a single sampled allocation
	}
	// The rate and growth charged to the site are the Go heap's growth that
	// no other verdict explains: the total is exact, while the site's
	// sampled gain may be a handful of steps. Once the site's own series has
	// risen four times or more, its gain over the window estimates the
	// site's growth itself (a step series' Theil–Sen slope does not: long
	// flat runs between samples pull it down), and where that is lower (the
	// unexplained growth is shared with another site, the map holding the
	// values), it is the site's.
	rate, growth := unexplained/math.Max(total.Span, 1e-9), unexplained
	if bestTr.Rises >= 4 && bestGain < growth {
		rate, growth = bestGain/math.Max(total.Span, 1e-9), bestGain
	}
	v := Verdict{
		Kind: Heap, Function: best.Site.Function, File: best.Site.File, Line: best.Site.Line,
		Rate: rate, Unit: BytesPerSecond, Growth: growth, Current: bestTr.Last,
		Confidence: math.Round(conf*100) / 100,
		Samples:    total.N, Trend: total,
	}
	if !best.Alloc.IsZero() {
		a := best.Alloc
		v.Alloc = &a
	}
	v.Stack = cutStack(best.Stack)
	v.Evidence = "the Go heap " + evidence(total, bytesText, "/s", 1) +
		fmt.Sprintf("; this site gained %s of it in the sampled heap profile (%s)", bytesText(bestGain), bestSteps)
	v.Next = o.heapNext(s, v)
	return v, true
}

// attributable says why a site cannot take the Go heap's unexplained growth
// ("" when it can), and returns the share of what it allocated over the
// window that it still holds (-1 when the profile did not say):
//
//   - its sampled in-use bytes rose and almost never fell (leaked objects
//     are never freed, so a leaking site's sampled series only steps up:
//     at most one fall per four rises), with Mann–Kendall p ≤ 0.01;
//   - it can plausibly carry half of the unexplained growth: it gained a
//     third of it, or, counted in sampled allocations (one sampling period,
//     512 KiB by default, each), its gain
//     is not too small for half the growth (a Poisson count with that mean
//     is at least this small with probability ≥ 1%; a leak often shows at
//     two sites, the values and the map or slice that holds them);
//   - a single sampled step is enough only at a site in the program's own
//     code, and only when the profile also says that the site keeps what
//     it allocates: over the window its in-use bytes rose by at least half
//     of its allocated bytes (a site that churns frees most of its samples;
//     one sampled object alive at the moment proves nothing). A site in
//     the standard library with no frame of the program's own is server
//     machinery — connection buffers that live as long as a connection,
//     the watcher's own included — and needs two steps, as does any site
//     when the profile has no allocation counts.
func attributable(site *watch.SiteSeries, tr Trend, gain, unexplained float64, idx []int, own bool, period float64) (float64, string) {
	kept := -1.0
	if len(site.AllocBytes) == len(site.Bytes) && len(idx) > 1 {
		first, last := idx[0], idx[len(idx)-1]
		if alloc := float64(site.AllocBytes[last] - site.AllocBytes[first]); alloc > 0 {
			kept = float64(site.Bytes[last]-site.Bytes[first]) / alloc
		}
	}
	falls := tr.Moves - tr.Rises
	switch {
	case tr.Rises < 1 || falls > tr.Rises/4:
		return kept, fmt.Sprintf("not a steady climb (rose %d times, fell %d)", tr.Rises, falls)
	case tr.P > 0.01:
		return kept, fmt.Sprintf("no significant climb (Mann–Kendall p=%.2g)", tr.P)
	case gain < unexplained/3 && poissonCDF(math.Round(gain/period), unexplained/2/period) < 0.01:
		return kept, fmt.Sprintf("gained %s, too little of the heap's unexplained %s", bytesText(gain), bytesText(unexplained))
	case tr.Rises < 2 && !own:
		return kept, "one sampled step, outside the program's own code"
	case tr.Rises < 2 && kept < 0:
		return kept, "one sampled step, and the profile has no allocation counts to tell a kept object from churn"
	case tr.Rises < 2 && kept < 0.5:
		return kept, fmt.Sprintf("one sampled step, and the site kept only %.0f%% of what it allocated", 100*kept)
	}
	return kept, ""
}

// times says how many times: "never", "once", "twice", "3 times".
func times(n int) string {
	switch n {
	case 0:
		return "never"
	case 1:
		return "once"
	case 2:
		return "twice"
	}
	return fmt.Sprintf("%d times", n)
}

// poissonCDF is P(X ≤ k) for X Poisson with mean lambda.
func poissonCDF(k, lambda float64) float64 {
	if lambda <= 0 {
		return 1
	}
	term := math.Exp(-lambda)
	sum := term
	for i := 1.0; i <= k; i++ {
		term *= lambda / i
		sum += term
	}
	return math.Min(1, sum)
}

func goroutineVerdicts(s *watch.Series, o *Options) []Verdict {
	idx, t := points(s, func(smp watch.Sample) bool { return smp.HasGoroutines })
	if len(idx) < o.Rule.MinPoints {
		return nil
	}
	var vs []Verdict
	y := make([]float64, len(idx))
	for _, g := range s.Groups() {
		lo, hi := math.Inf(1), math.Inf(-1)
		for k, i := range idx {
			y[k] = float64(g.Count[i])
			lo, hi = math.Min(lo, y[k]), math.Max(hi, y[k])
		}
		rule := o.Rule
		rule.Floor = math.Max(o.MinGoroutineGrowth, o.MinGoroutineShare*y[0])
		if hi-lo < rule.Floor {
			continue
		}
		tr := fit(t, y)
		why := tr.Check(rule)
		o.explain(Goroutine, fmt.Sprintf("%s (%s:%d) %s", g.Key.Top.Function, g.Key.Top.File, g.Key.Top.Line, g.Key.State), tr, why)
		if why != "" {
			continue
		}
		site := g.Key.User
		if site.IsZero() {
			site = g.Key.Top
		}
		v := Verdict{
			Kind: Goroutine, Function: site.Function, File: site.File, Line: site.Line,
			Rate: tr.Slope * 60, Unit: GoroutinesPerMinute, Growth: tr.Growth, Current: tr.Last,
			Confidence: tr.Confidence(rule), State: g.Key.State, Samples: tr.N, Trend: tr,
		}
		if !g.Key.CreatedBy.IsZero() {
			c := g.Key.CreatedBy
			v.CreatedBy = &c
		}
		v.Stack = cutStack(g.Stack)
		v.Evidence = evidence(tr, countText, "/min", 60)
		if v.State != "" {
			v.Evidence = fmt.Sprintf("%.0f goroutines in state %q; ", tr.Last, v.State) + v.Evidence
		}
		if v.CreatedBy != nil {
			v.Evidence += fmt.Sprintf("; created at %s:%d", v.CreatedBy.File, v.CreatedBy.Line)
		}
		if leaked := g.Leaked[len(g.Leaked)-1]; leaked > 0 {
			v.Evidence += fmt.Sprintf("; the runtime's leak detector marks %d of them leaked", leaked)
		}
		v.Next = o.goroutineNext(s, v)
		vs = append(vs, v)
	}
	return o.withSource(vs)
}

func nonGoVerdicts(s *watch.Series, o *Options) []Verdict {
	idx, t := points(s, func(smp watch.Sample) bool { return smp.RSS > 0 && smp.HasMemStats })
	if len(idx) < o.Rule.MinPoints {
		return nil
	}
	// Anonymous RSS when every sample has it: a young process's RSS also grows
	// as pages of its executable are first touched, which is not a leak.
	anon := true
	for _, i := range idx {
		anon = anon && s.Samples[i].AnonRSS > 0
	}
	rss := make([]float64, len(idx))
	gomem := make([]float64, len(idx))
	goinuse := make([]float64, len(idx))
	for k, i := range idx {
		rss[k] = float64(s.Samples[i].RSS)
		if anon {
			rss[k] = float64(s.Samples[i].AnonRSS)
		}
		gomem[k] = float64(s.Samples[i].GoMemory)
		goinuse[k] = float64(s.Samples[i].GoInuse)
	}
	rule := o.Rule
	rule.Floor = math.Max(o.MinRSSGrowth, o.MinRSSShare*median(rss))
	tr := fit(t, rss)
	why := tr.Check(rule)
	if span := t[len(t)-1] - t[0]; span < o.MinRSSSpan.Seconds() {
		o.explain(NonGoMemory, "RSS", tr, fmt.Sprintf("only %s of RSS (need %s)",
			time.Duration(span*float64(time.Second)).Round(time.Second/10), o.MinRSSSpan))
		return nil
	}
	// The Go runtime's own memory explains RSS growth unless it grew by less
	// than a quarter as much. It is measured two ways — what the runtime
	// holds from the OS (Sys − HeapReleased) and what it has certainly
	// touched (HeapInuse + StackInuse) — each by the largest of its
	// Theil–Sen growth and the rise of its median from the first third of
	// the window to the last: the runtime grows its heap in jumps, which
	// Theil–Sen discounts, and RSS follows the jumps only as pages are
	// touched.
	goGrowth := math.Max(growthOf(t, gomem), growthOf(t, goinuse))
	what := "RSS"
	if why == "" && goGrowth > 0.25*tr.Growth {
		why = fmt.Sprintf("the Go runtime's memory grew %s of the RSS's %s", bytesText(goGrowth), bytesText(tr.Growth))
	}
	o.explain(NonGoMemory, "RSS", tr, why)
	if why != "" {
		// The same question asked of the memory outside the Go runtime's
		// own: RSS minus what the runtime holds from the OS. The runtime's
		// pages come and go from RSS as the heap grows and the scavenger
		// returns them, which is most of RSS's noise; the difference keeps
		// what the runtime does not account for.
		d := make([]float64, len(rss))
		for k := range rss {
			d[k] = rss[k] - gomem[k]
		}
		trD := fit(t, d)
		whyD := trD.Check(rule)
		// RSS itself must still pass every test but the noise one: growing
		// significantly, still growing now, by at least the floor.
		noisy := rule
		noisy.SNR = 1
		switch {
		case whyD != "":
		case tr.Check(noisy) != "":
			whyD = "RSS itself: " + tr.Check(noisy)
		case tr.Growth < 0.5*trD.Growth:
			whyD = fmt.Sprintf("RSS itself grew %s, less than half of the %s outside the Go runtime", bytesText(tr.Growth), bytesText(trD.Growth))
		case fallOf(gomem) > 0.25*trD.Growth:
			// The difference rose because the runtime's side fell: it gave
			// back pages, or mapped ones it never touched, which RSS never
			// counted (fresh pages from the OS are already zero, so a large
			// new buffer's pages stay untouched until written).
			whyD = fmt.Sprintf("the Go runtime's memory fell %s: that is not growth outside it", bytesText(fallOf(gomem)))
		case growthOf(t, goinuse) > 0.25*trD.Growth:
			whyD = fmt.Sprintf("the Go runtime's in-use memory grew %s of the %s outside it", bytesText(growthOf(t, goinuse)), bytesText(trD.Growth))
		}
		o.explain(NonGoMemory, "RSS outside the Go runtime", trD, whyD)
		if whyD == "" {
			why, tr, goGrowth = "", trD, growthOf(t, goinuse)
			what = "RSS outside the Go runtime (RSS − (Sys − HeapReleased))"
		}
	}
	if why != "" {
		return nil
	}
	v := Verdict{
		Kind: NonGoMemory, Function: "(outside the Go heap: cgo, mmap or off-heap memory)",
		Rate: tr.Slope, Unit: BytesPerSecond, Growth: tr.Growth, Current: tr.Last,
		Confidence: tr.Confidence(rule), Samples: tr.N, Trend: tr,
	}
	v.Evidence = what + " " + evidence(tr, bytesText, "/s", 1) +
		fmt.Sprintf("; the Go runtime's memory grew %s over the same time", bytesText(goGrowth))
	v.Next = "look for C.malloc without C.free, syscall.Mmap without Munmap, and cgo libraries' handles never released; " +
		"leakhunt stats " + o.lastSnapshot(s) + " shows RSS against the Go heap"
	return []Verdict{v}
}

// fallOf is how much the median of y fell from the first third of the
// points to the last (0 when it rose).
func fallOf(y []float64) float64 {
	n := len(y)
	if n < 3 {
		return 0
	}
	return math.Max(0, median(y[:n/3])-median(y[2*n/3:]))
}

// growthOf is the larger of the Theil–Sen growth of y and the rise of its
// median from the first third of the points to the last.
func growthOf(t, y []float64) float64 {
	tr := fit(t, y)
	g := tr.Growth
	if n := len(y); n >= 3 {
		g = math.Max(g, median(y[2*n/3:])-median(y[:n/3]))
	}
	return g
}

// evidence renders a passed trend as one line, with values formatted by
// unit and the rate per second multiplied by scale for display.
func evidence(tr Trend, unit func(float64) string, per string, scale float64) string {
	return fmt.Sprintf("rose in %d of %d changes over %d samples (%s); Theil–Sen slope %s%s, +%s over %s; Mann–Kendall p=%s; still growing in the recent half (slope %s%s, p=%s); noise ±%s",
		tr.Rises, tr.Moves, tr.N, span(tr.Span),
		unit(tr.Slope*scale), per, unit(tr.Growth), span(tr.Span), pval(tr.P),
		unit(tr.RecentSlope*scale), per, pval(tr.RecentP), unit(tr.Noise))
}

func span(sec float64) string {
	return (time.Duration(sec * float64(time.Second))).Round(time.Second / 10).String()
}

func pval(p float64) string {
	if p < 1e-12 {
		return "<1e-12"
	}
	return fmt.Sprintf("%.1g", p)
}

func (o *Options) withSource(vs []Verdict) []Verdict {
	for i := range vs {
		if vs[i].File != "" && vs[i].Line > 0 {
			vs[i].Source = o.Source.Line(vs[i].File, vs[i].Line)
		}
	}
	return vs
}

// snapshotRef names a sample for a command line: its file in the series
// directory when saved, else the target.
func (o *Options) snapshotRef(s *watch.Series, i int) string {
	if i >= 0 && i < len(s.Samples) && s.Samples[i].File != "" {
		f := s.Samples[i].File
		if o.Dir != "" {
			f = strings.TrimSuffix(o.Dir, "/") + "/" + f
		}
		return quote(f)
	}
	if o.Target != "" {
		return quote(o.Target)
	}
	return "TARGET"
}

func (o *Options) lastSnapshot(s *watch.Series) string { return o.snapshotRef(s, len(s.Samples)-1) }

func (o *Options) heapNext(s *watch.Series, v Verdict) string {
	focus := quote(regexp.QuoteMeta(v.Function))
	return fmt.Sprintf("leakhunt diff %s %s --focus %s; leakhunt top %s --by stack --focus %s",
		o.snapshotRef(s, 0), o.lastSnapshot(s), focus, o.lastSnapshot(s), focus)
}

func (o *Options) goroutineNext(s *watch.Series, v Verdict) string {
	return fmt.Sprintf("leakhunt diff %s %s; leakhunt stacks %s --filter %s",
		o.snapshotRef(s, 0), o.lastSnapshot(s), o.lastSnapshot(s), quote(regexp.QuoteMeta(v.Function)))
}

// quote shell-quotes s when it needs it.
func quote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`*?[]{}()<>|&;#~!") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// countText writes a number of goroutines (a count, a slope or a spread) to
// three significant digits and at most one decimal: a spread of 0.0004
// goroutines is none.
func countText(x float64) string {
	return fmt.Sprintf("%.3g", math.Round(x*10)/10)
}
