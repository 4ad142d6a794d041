package goroutines

import (
	"fmt"

	"github.com/google/pprof/profile"

	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

// IsProfile reports whether p is a goroutine profile (sample type
// goroutine/count) or a goroutine leak profile (goroutineleak/count).
func IsProfile(p *profile.Profile) bool {
	return len(p.SampleType) == 1 && (p.SampleType[0].Type == "goroutine" || p.SampleType[0].Type == "goroutineleak")
}

// FromProfile expands a goroutine profile into goroutines. Such a profile only
// counts identical stacks: the goroutines it yields have no ID, state or
// creator, and a sample of count n becomes n goroutines sharing one stack.
func FromProfile(p *profile.Profile) ([]snapshot.Goroutine, error) {
	if !IsProfile(p) {
		return nil, fmt.Errorf("not a goroutine profile (sample types %v)", sampleTypes(p))
	}
	var gs []snapshot.Goroutine
	for _, s := range p.Sample {
		if len(s.Value) == 0 || s.Value[0] <= 0 {
			continue
		}
		frames := FramesOf(s.Location)
		var labels map[string]string
		if len(s.Label) > 0 {
			labels = make(map[string]string, len(s.Label))
			for k, v := range s.Label {
				if len(v) > 0 {
					labels[k] = v[0]
				}
			}
		}
		leaked := p.SampleType[0].Type == "goroutineleak"
		for i := int64(0); i < s.Value[0]; i++ {
			gs = append(gs, snapshot.Goroutine{Frames: frames, Labels: labels, Leaked: leaked})
		}
	}
	return gs, nil
}

// FramesOf turns a profile stack (innermost location first, inlined calls
// innermost first within a location) into frames.
func FramesOf(locs []*profile.Location) []snapshot.Frame {
	var frames []snapshot.Frame
	for _, loc := range locs {
		for i, ln := range loc.Line {
			f := snapshot.Frame{Line: int(ln.Line), Inlined: i < len(loc.Line)-1}
			if ln.Function != nil {
				f.Function, f.File = ln.Function.Name, ln.Function.Filename
			}
			frames = append(frames, f)
		}
		if len(loc.Line) == 0 {
			frames = append(frames, snapshot.Frame{Function: fmt.Sprintf("%#x", loc.Address)})
		}
	}
	return frames
}

func sampleTypes(p *profile.Profile) []string {
	var ts []string
	for _, st := range p.SampleType {
		ts = append(ts, st.Type+"/"+st.Unit)
	}
	return ts
}

// ToProfile builds a goroutine profile (sample type goroutine/count) from
// goroutines, one sample per distinct stack and state, so that go tool pprof
// can read a snapshot's goroutines. The state is kept as the label "state".
func ToProfile(gs []snapshot.Goroutine) *profile.Profile {
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "goroutine", Unit: "count"}},
		PeriodType: &profile.ValueType{Type: "goroutine", Unit: "count"},
		Period:     1,
		Mapping:    []*profile.Mapping{{ID: 1, HasFunctions: true, HasFilenames: true, HasLineNumbers: true}},
	}
	funcs := make(map[[2]string]*profile.Function)
	locs := make(map[string]*profile.Location)
	samples := make(map[string]*profile.Sample)
	for _, g := range gs {
		key := g.State
		for _, f := range g.Frames {
			key += fmt.Sprintf("\n%s\x00%s\x00%d", f.Function, f.File, f.Line)
		}
		if s, ok := samples[key]; ok {
			s.Value[0]++
			continue
		}
		s := &profile.Sample{Value: []int64{1}}
		if g.State != "" {
			s.Label = map[string][]string{"state": {g.State}}
		}
		for _, f := range g.Frames {
			lk := fmt.Sprintf("%s\x00%s\x00%d", f.Function, f.File, f.Line)
			loc, ok := locs[lk]
			if !ok {
				fk := [2]string{f.Function, f.File}
				fn, ok := funcs[fk]
				if !ok {
					fn = &profile.Function{ID: uint64(len(p.Function) + 1), Name: f.Function, SystemName: f.Function, Filename: f.File}
					funcs[fk] = fn
					p.Function = append(p.Function, fn)
				}
				loc = &profile.Location{ID: uint64(len(p.Location) + 1), Mapping: p.Mapping[0], Line: []profile.Line{{Function: fn, Line: int64(f.Line)}}}
				locs[lk] = loc
				p.Location = append(p.Location, loc)
			}
			s.Location = append(s.Location, loc)
		}
		samples[key] = s
		p.Sample = append(p.Sample, s)
	}
	return p
}
