package verdict

import (
	"fmt"
	"math"
)

// Trend is the statistical evidence about growth in one series of values
// over time: a robust fit, a trend test over the whole window and over its
// recent half, and the noise around the fit.
type Trend struct {
	// N is the number of points; Span the seconds from the first to the last.
	N    int     `json:"n"`
	Span float64 `json:"span_s"`
	// Slope is the Theil–Sen slope, per second; Growth is Slope×Span, what
	// the fit says the series gained over the window.
	Slope  float64 `json:"slope"`
	Growth float64 `json:"growth"`
	// Noise is the spread of the points around the fit (1.4826×MAD of the
	// residuals): a standard deviation that jumps and outliers barely move.
	Noise float64 `json:"noise"`
	// P is the one-sided Mann–Kendall p-value of an upward trend.
	P float64 `json:"p"`
	// RecentSlope and RecentP are the same over the later half of the
	// points: a series that has levelled off has a flat recent half.
	RecentSlope float64 `json:"recent_slope"`
	RecentP     float64 `json:"recent_p"`
	// RecentSpan is the seconds the recent half covers.
	RecentSpan float64 `json:"recent_span_s"`
	// Rho is the lag-1 autocorrelation of the residuals of the whole fit.
	// The recent-half trend test counts correlated points as fewer
	// independent ones (with its own residuals' autocorrelation).
	Rho float64 `json:"rho"`
	// LateRise is how much the median of the last third of the points
	// exceeds the median of the middle third, and LateWant what the overall
	// slope predicts for that gap: a plateau has LateRise near zero.
	LateRise float64 `json:"late_rise"`
	LateWant float64 `json:"late_want"`
	// LateSlope is the Theil–Sen slope of the last third of the points (at
	// least 5): on an exact series, what the growth is doing now. A warm-up
	// that levelled off a few samples ago still has a steep recent half but
	// a flat last third.
	LateSlope float64 `json:"late_slope"`
	// Rises counts the steps from one point to the next that went up, Moves
	// those that changed at all.
	Rises int `json:"rises"`
	Moves int `json:"moves"`
	// First and Last are the first and last values; Level the median.
	First float64 `json:"first"`
	Last  float64 `json:"last"`
	Level float64 `json:"level"`
}

// maxPoints bounds the points a fit works on: the tests are quadratic in
// the number of points, and a long watch has thousands.
const maxPoints = 300

// bin reduces a long series to at most maxPoints by replacing each run of
// consecutive points with its median time and median value.
func bin(t, y []float64) ([]float64, []float64) {
	n := len(y)
	if n <= maxPoints {
		return t, y
	}
	k := (n + maxPoints - 1) / maxPoints
	var bt, by []float64
	for i := 0; i < n; i += k {
		j := min(n, i+k)
		bt = append(bt, median(t[i:j]))
		by = append(by, median(y[i:j]))
	}
	return bt, by
}

// fit computes the trend of y at times t (seconds, increasing). Series
// longer than maxPoints are binned first.
func fit(t, y []float64) Trend {
	t, y = bin(t, y)
	tr := Trend{N: len(y)}
	if len(y) == 0 {
		return tr
	}
	tr.First, tr.Last, tr.Level = y[0], y[len(y)-1], median(y)
	tr.Span = t[len(t)-1] - t[0]
	var a float64
	tr.Slope, a = theilSen(t, y)
	tr.Growth = tr.Slope * tr.Span
	res := make([]float64, len(y))
	for i := range y {
		res[i] = y[i] - (a + tr.Slope*t[i])
	}
	tr.Noise = mad(res)
	tr.Rho = lag1(res)
	_, tr.P = mannKendall(y)
	h := recentStart(len(y))
	var ra float64
	tr.RecentSlope, ra = theilSen(t[h:], y[h:])
	tr.RecentSpan = t[len(t)-1] - t[h]
	rres := make([]float64, 0, len(y)-h)
	for i := h; i < len(y); i++ {
		rres = append(rres, y[i]-(ra+tr.RecentSlope*t[i]))
	}
	_, tr.RecentP = mannKendallAC(y[h:], lag1(rres))
	if n := len(y); n >= 6 {
		a, b := n/3, 2*n/3
		tr.LateRise = median(y[b:]) - median(y[a:b])
		tr.LateWant = tr.Slope * (median(t[b:]) - median(t[a:b]))
	}
	if n := len(y); n >= 5 {
		b := min(2*n/3, n-5)
		tr.LateSlope, _ = theilSen(t[b:], y[b:])
	}
	for i := 1; i < len(y); i++ {
		if y[i] != y[i-1] {
			tr.Moves++
			if y[i] > y[i-1] {
				tr.Rises++
			}
		}
	}
	return tr
}

// recentStart is the index where the recent half of n points begins; the
// recent part has at least 5 points when there are that many.
func recentStart(n int) int {
	h := n / 2
	if n-h < 5 {
		h = max(0, n-5)
	}
	return h
}

// Rule is the bar a trend must clear to be called a leak. Every condition
// must hold; see docs/verdicts.md for why each one is there.
type Rule struct {
	// MinPoints is the fewest distinct points a verdict rests on.
	MinPoints int
	// Floor is the least growth over the window that matters, in the
	// series' unit: below it a trend is real but too small to act on.
	Floor float64
	// Alpha bounds the Mann–Kendall p-value over the whole window.
	Alpha float64
	// RecentAlpha bounds it over the recent half: still growing now.
	RecentAlpha float64
	// Persist is the least ratio of the recent half's slope to the whole
	// window's: a series levelling off (a cache warming up) falls below it.
	Persist float64
	// SNR is the least ratio of the growth to the noise around the fit.
	SNR float64
}

// DefaultRule is the rule leakhunt uses, with the floor left to the caller.
var DefaultRule = Rule{MinPoints: 8, Alpha: 1e-3, RecentAlpha: 0.05, Persist: 0.5, SNR: 4}

// Check says why tr is not a leak under r, or "" when it is.
func (tr Trend) Check(r Rule) string {
	switch {
	case tr.N < r.MinPoints:
		return fmt.Sprintf("only %d distinct points (need %d)", tr.N, r.MinPoints)
	case tr.Slope <= 0:
		return "no upward trend (Theil–Sen slope ≤ 0)"
	case tr.Growth < r.Floor:
		return fmt.Sprintf("growth %.4g below the floor %.4g", tr.Growth, r.Floor)
	case tr.P > r.Alpha:
		return fmt.Sprintf("trend not significant (Mann–Kendall p=%.2g > %.2g)", tr.P, r.Alpha)
	case tr.Noise > 0 && tr.Growth < r.SNR*tr.Noise:
		return fmt.Sprintf("growth %.4g within %g× the noise %.4g", tr.Growth, r.SNR, tr.Noise)
	case tr.RecentSlope < r.Persist*tr.Slope:
		return fmt.Sprintf("levelling off: recent slope %.4g < %g× the overall %.4g", tr.RecentSlope, r.Persist, tr.Slope)
	case tr.RecentSlope*tr.RecentSpan < r.Floor/2:
		return fmt.Sprintf("the recent half grew %.4g, less than half the floor %.4g", tr.RecentSlope*tr.RecentSpan, r.Floor)
	case tr.LateRise < r.Persist*tr.LateWant:
		return fmt.Sprintf("plateau: the last third is %.4g above the middle third, the trend predicts %.4g", tr.LateRise, tr.LateWant)
	case tr.RecentP > r.RecentAlpha:
		return fmt.Sprintf("no longer growing significantly (recent Mann–Kendall p=%.2g)", tr.RecentP)
	}
	return ""
}

// Confidence grades a trend that passed r, from 0 to 1: the geometric mean
// of how significant the trend is (p=1e-8 or less scores 1), how steadily it
// continues (recent slope over overall slope, capped at 1) and how far the
// growth stands above the noise (twice the rule's bar scores 1).
func (tr Trend) Confidence(r Rule) float64 {
	sig := math.Min(1, -math.Log10(math.Max(tr.P, 1e-300))/8)
	persist := 1.0
	if tr.Slope > 0 {
		persist = math.Min(1, math.Max(0, tr.RecentSlope/tr.Slope))
	}
	snr := 1.0
	if tr.Noise > 0 && r.SNR > 0 {
		snr = math.Min(1, tr.Growth/tr.Noise/(2*r.SNR))
	}
	c := math.Cbrt(math.Max(0, sig*persist*snr))
	return math.Round(c*100) / 100
}
