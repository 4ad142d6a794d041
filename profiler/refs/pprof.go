package refs

import (
	"github.com/google/pprof/profile"
)

// Profile returns the root paths as a pprof profile, so go tool pprof and
// flame graphs show who keeps the heap alive: each path is a stack with the
// root outermost and the objects' type as the leaf. The sample types are
// inuse_objects and inuse_space (the objects at exactly that path; a
// frame's cumulative value is what is reached through it, and a root
// frame's cumulative value is exactly what the root retains, or what the
// roots of a "shared by" frame share), then retained_objects and
// retained_space (what freeing the objects of that path would free: read
// them flat, as their cumulative values count nested paths again).
// inuse_space is the default.
func (a *Analysis) Profile() *profile.Profile {
	p := &profile.Profile{
		SampleType: []*profile.ValueType{
			{Type: "inuse_objects", Unit: "count"},
			{Type: "inuse_space", Unit: "bytes"},
			{Type: "retained_objects", Unit: "count"},
			{Type: "retained_space", Unit: "bytes"},
		},
		DefaultSampleType: "inuse_space",
		PeriodType:        &profile.ValueType{Type: "space", Unit: "bytes"},
		Period:            1,
		Comments:          []string{"leakhunt objects: the reachable heap by root path"},
	}
	if !a.Time.IsZero() {
		p.TimeNanos = a.Time.UnixNano()
	}
	locs := make(map[string]*profile.Location)
	loc := func(name string) *profile.Location {
		if l, ok := locs[name]; ok {
			return l
		}
		f := &profile.Function{ID: uint64(len(p.Function) + 1), Name: name, SystemName: name}
		p.Function = append(p.Function, f)
		l := &profile.Location{ID: uint64(len(p.Location) + 1), Line: []profile.Line{{Function: f}}}
		p.Location = append(p.Location, l)
		locs[name] = l
		return l
	}
	for _, r := range a.Paths {
		frames := append([]string{r.Root}, r.Path...)
		s := &profile.Sample{Value: []int64{r.Objects, int64(r.Bytes), r.RetainedObjects, int64(r.Retained)}}
		for i := len(frames) - 1; i >= 0; i-- {
			s.Location = append(s.Location, loc(frames[i]))
		}
		p.Sample = append(p.Sample, s)
	}
	return p
}
