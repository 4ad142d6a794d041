package verdict

import (
	"math"
	"sort"
)

// median returns the median of x (x is not modified); NaN for no values.
func median(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// theilSen fits y = a + b·t robustly: b is the median of the slopes between
// every two points, a the median of y - b·t. Up to 29% of the points can be
// arbitrary without moving the fit, and a single jump (a level shift) gives
// a slope near zero, unlike least squares.
func theilSen(t, y []float64) (slope, intercept float64) {
	n := len(t)
	slopes := make([]float64, 0, n*(n-1)/2)
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			if dt := t[j] - t[i]; dt > 0 {
				slopes = append(slopes, (y[j]-y[i])/dt)
			}
		}
	}
	if len(slopes) == 0 {
		return 0, median(y)
	}
	slope = median(slopes)
	res := make([]float64, n)
	for i := range t {
		res[i] = y[i] - slope*t[i]
	}
	return slope, median(res)
}

// mannKendall tests y (in time order) for a monotonic upward trend. It
// returns the statistic S (concordant minus discordant pairs) and the
// one-sided p-value of S under "no trend", by the normal approximation with
// the variance corrected for ties (repeated values are normal in heap
// profiles, which only change when a garbage collection ends).
func mannKendall(y []float64) (s int, p float64) {
	return mannKendallAC(y, 0)
}

// mannKendallAC is mannKendall with the variance of S inflated for
// positive serial correlation rho1 of the detrended series (Yue and Wang's
// effective sample size: n* = n(1-ρ)/(1+ρ)). Correlated noise — an object
// that stays in the profile for several samples — otherwise looks like a
// trend: each sample is not a new draw.
func mannKendallAC(y []float64, rho1 float64) (s int, p float64) {
	n := len(y)
	if n < 3 {
		return 0, 1
	}
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			switch {
			case y[j] > y[i]:
				s++
			case y[j] < y[i]:
				s--
			}
		}
	}
	nf := float64(n)
	v := nf * (nf - 1) * (2*nf + 5)
	sorted := append([]float64(nil), y...)
	sort.Float64s(sorted)
	for i := 0; i < n; {
		j := i
		for j < n && sorted[j] == sorted[i] {
			j++
		}
		if t := float64(j - i); t > 1 {
			v -= t * (t - 1) * (2*t + 5)
		}
		i = j
	}
	v /= 18
	if rho1 > 0 {
		v *= (1 + rho1) / (1 - math.Min(rho1, 0.95))
	}
	if v <= 0 {
		return s, 1 // every value equal
	}
	var z float64
	switch {
	case s > 0:
		z = (float64(s) - 1) / math.Sqrt(v)
	case s < 0:
		z = (float64(s) + 1) / math.Sqrt(v)
	}
	return s, 0.5 * math.Erfc(z/math.Sqrt2)
}

// mad is the median absolute deviation of x scaled to estimate a standard
// deviation (×1.4826): a noise measure that outliers and jumps barely move.
func mad(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	m := median(x)
	d := make([]float64, len(x))
	for i, v := range x {
		d[i] = math.Abs(v - m)
	}
	return 1.4826 * median(d)
}

// lag1 is the lag-1 autocorrelation of x.
func lag1(x []float64) float64 {
	n := len(x)
	if n < 3 {
		return 0
	}
	var m float64
	for _, v := range x {
		m += v
	}
	m /= float64(n)
	var num, den float64
	for i, v := range x {
		den += (v - m) * (v - m)
		if i > 0 {
			num += (v - m) * (x[i-1] - m)
		}
	}
	if den == 0 {
		return 0
	}
	return num / den
}
