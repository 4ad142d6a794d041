package verdict

import (
	"math"
	"math/rand/v2"
	"testing"
)

const kib = 1024.0
const mib = 1024 * kib

// shape builds a series of n points one second apart from f(t, noise).
func shape(n int, seed uint64, f func(t float64, r *rand.Rand) float64) (t, y []float64) {
	r := rand.New(rand.NewPCG(seed, 7))
	for i := range n {
		ti := float64(i)
		t = append(t, ti)
		y = append(y, f(ti, r))
	}
	return t, y
}

func TestTrendRule(t *testing.T) {
	rule := DefaultRule
	rule.Floor = 256 * kib
	tests := []struct {
		name string
		n    int
		f    func(t float64, r *rand.Rand) float64
		leak bool
	}{
		{"linear leak with noise", 60, func(t float64, r *rand.Rand) float64 {
			return 4*mib + 20*kib*t + r.NormFloat64()*30*kib
		}, true},
		{"linear leak, few samples", 12, func(t float64, r *rand.Rand) float64 {
			return 4*mib + 100*kib*t + r.NormFloat64()*30*kib
		}, true},
		{"too few samples", 6, func(t float64, r *rand.Rand) float64 { return 4*mib + 100*kib*t }, false},
		{"sampled staircase leak: 512 KiB every 6s", 60, func(t float64, r *rand.Rand) float64 {
			return 4*mib + 512*kib*math.Floor(t/6)
		}, true},
		{"step then flat", 60, func(t float64, r *rand.Rand) float64 {
			if t < 20 {
				return 4 * mib
			}
			return 7 * mib
		}, false},
		{"two steps then flat", 60, func(t float64, r *rand.Rand) float64 {
			return 4*mib + 2*mib*math.Min(2, math.Floor(t/20))
		}, false},
		{"step late in the window", 60, func(t float64, r *rand.Rand) float64 {
			if t < 50 {
				return 4 * mib
			}
			return 9 * mib
		}, false},
		{"cache warming up to a plateau", 60, func(t float64, r *rand.Rand) float64 {
			return 4*mib + 3*mib*(1-math.Exp(-t/8)) + r.NormFloat64()*20*kib
		}, false},
		{"warm-up that ends mid-window", 60, func(t float64, r *rand.Rand) float64 {
			return 4*mib + 100*kib*math.Min(t, 30) + r.NormFloat64()*20*kib
		}, false},
		{"sawtooth of large temporary buffers", 60, func(t float64, r *rand.Rand) float64 {
			return 4*mib + 8*mib*float64(int(t)%7/4)
		}, false},
		{"ramp sawtooth", 60, func(t float64, r *rand.Rand) float64 {
			return 4*mib + 512*kib*float64(int(t)%10)
		}, false},
		{"flat with jitter", 60, func(t float64, r *rand.Rand) float64 {
			return 4*mib + r.NormFloat64()*200*kib
		}, false},
		{"flat with GC-stale repeats", 60, func(t float64, r *rand.Rand) float64 {
			return 4*mib + 512*kib*float64(int(t/5)%3)
		}, false},
		{"bounded cache at its plateau with churn", 120, func(t float64, r *rand.Rand) float64 {
			return 6*mib + 512*kib*float64(r.IntN(3))
		}, false},
		{"slow leak under large noise, one minute", 60, func(t float64, r *rand.Rand) float64 {
			return 4*mib + 5*kib*t + r.NormFloat64()*200*kib
		}, false},
		{"slow leak under large noise, ten minutes", 600, func(t float64, r *rand.Rand) float64 {
			return 4*mib + 5*kib*t + r.NormFloat64()*200*kib
		}, true},
		{"tiny real leak below the floor", 60, func(t float64, r *rand.Rand) float64 {
			return 4*mib + 1*kib*t
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Several seeds: the rule must hold for the shape, not for one draw.
			for seed := uint64(1); seed <= 5; seed++ {
				ts, ys := shape(tt.n, seed, tt.f)
				tr := fit(ts, ys)
				why := tr.Check(rule)
				if got := why == ""; got != tt.leak {
					t.Errorf("seed %d: leak=%v, want %v (%s); trend %+v", seed, got, tt.leak, why, tr)
				}
			}
		})
	}
}

func TestMannKendall(t *testing.T) {
	tests := []struct {
		name  string
		y     []float64
		s     int
		lessP float64 // p must be below this
		moreP float64 // and above this
	}{
		{"increasing", []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 45, 1e-4, 0},
		{"decreasing", []float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, -45, 1.01, 0.999},
		{"constant", []float64{3, 3, 3, 3, 3, 3}, 0, 1.01, 0.99},
		{"ties", []float64{1, 1, 2, 2, 3, 3, 4, 4}, 24, 1e-2, 1e-3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, p := mannKendall(tt.y)
			if s != tt.s || p >= tt.lessP || p <= tt.moreP {
				t.Errorf("S=%d p=%g, want S=%d and %g < p < %g", s, p, tt.s, tt.moreP, tt.lessP)
			}
		})
	}
}

func TestTheilSen(t *testing.T) {
	ts := []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	ys := []float64{10, 12, 14, 16, 18, 1000, 22, 24, 26, 28} // one wild outlier
	b, a := theilSen(ts, ys)
	if b != 2 || a != 10 {
		t.Errorf("slope %g intercept %g, want 2 and 10", b, a)
	}
}
