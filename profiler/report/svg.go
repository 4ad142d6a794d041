package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The geometry of an HTML report's charts, in SVG user units (CSS pixels at
// 100% zoom). The plot area is inset by the margins, which hold the axes'
// labels.
const (
	chartWidth   = 720
	chartHeight  = 240
	marginLeft   = 84
	marginRight  = 16
	marginTop    = 14
	marginBottom = 34
)

// point is one value of a chart series: X in seconds since the first
// snapshot, Y in the chart's unit.
type point struct {
	X, Y float64
}

// lineSeries is one line of a chart. A snapshot that lacks the value has no
// point, and the line is broken there when Gaps says so.
type lineSeries struct {
	Name   string
	Points []point
	// Gap[i] is set when Points[i] starts a new stretch of the line.
	Gap []bool
}

// chartUnit says how a chart's values are formatted.
type chartUnit int

const (
	unitBytes chartUnit = iota
	unitCount
)

func (u chartUnit) format(v float64) string {
	if u == unitBytes {
		return Bytes(int64(math.Round(v)))
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// svgChart is a line chart laid out for the template: every coordinate
// worked out in Go, so the page needs no script to draw it. Text is left to
// html/template to escape.
type svgChart struct {
	ID      string
	Title   string
	Caption string
	Width   int
	Height  int
	// Plot is the plot area's rectangle.
	PlotX, PlotY, PlotW, PlotH string
	PlotRight                  string
	XTicks                     []svgTick
	YTicks                     []svgTick
	XLabel                     string
	Lines                      []svgLine
	// Legend is shown when the chart has more than one line.
	Legend bool
}

// svgTick is one axis tick: its position along the axis and its label.
type svgTick struct {
	Pos   string
	Label string
}

// svgLine is one series drawn: its path and its points, each with a tooltip.
type svgLine struct {
	Index  int
	Name   string
	D      string
	Points []svgPoint
}

// svgPoint is one marker on a line.
type svgPoint struct {
	X, Y  string
	Title string
}

// num formats a coordinate with one decimal, the same on every platform.
func num(v float64) string {
	s := strconv.FormatFloat(v, 'f', 1, 64)
	return strings.TrimSuffix(s, ".0")
}

// layoutChart places the series of one chart. xMax is the time span of the
// whole report, so every chart shares one time axis.
func layoutChart(id, title, caption string, unit chartUnit, xMax float64, series []lineSeries) svgChart {
	c := svgChart{ID: id, Title: title, Caption: caption, Width: chartWidth, Height: chartHeight,
		XLabel: "time since the first snapshot", Legend: len(series) > 1}
	pw := float64(chartWidth - marginLeft - marginRight)
	ph := float64(chartHeight - marginTop - marginBottom)
	c.PlotX, c.PlotY, c.PlotW, c.PlotH = num(marginLeft), num(marginTop), num(pw), num(ph)
	c.PlotRight = num(marginLeft + pw)

	yMax := 0.0
	for _, s := range series {
		for _, p := range s.Points {
			yMax = math.Max(yMax, p.Y)
		}
	}
	yTicks, yTop := niceTicks(yMax, unit)
	if xMax <= 0 {
		xMax = 1
	}
	xTicks, xTop := timeTicks(xMax)
	sx := func(x float64) float64 { return marginLeft + pw*x/xTop }
	sy := func(y float64) float64 { return marginTop + ph - ph*y/yTop }
	for _, v := range yTicks {
		c.YTicks = append(c.YTicks, svgTick{Pos: num(sy(v)), Label: unit.format(v)})
	}
	for _, v := range xTicks {
		c.XTicks = append(c.XTicks, svgTick{Pos: num(sx(v)), Label: formatSpan(v)})
	}
	for i, s := range series {
		l := svgLine{Index: i % 6, Name: s.Name}
		var d strings.Builder
		for k, p := range s.Points {
			x, y := num(sx(p.X)), num(sy(p.Y))
			if k == 0 || (k < len(s.Gap) && s.Gap[k]) {
				d.WriteString("M")
			} else {
				d.WriteString("L")
			}
			d.WriteString(x + "," + y)
			l.Points = append(l.Points, svgPoint{X: x, Y: y,
				Title: fmt.Sprintf("%s at +%s: %s", s.Name, formatSpan(p.X), unit.format(p.Y))})
		}
		l.D = d.String()
		c.Lines = append(c.Lines, l)
	}
	return c
}

// niceTicks picks about five round tick values from 0 to at least max, and
// returns them with the top of the axis. Byte axes step in round numbers of
// the binary unit the largest value is shown in (KiB, MiB...).
func niceTicks(max float64, unit chartUnit) ([]float64, float64) {
	scale := 1.0
	if unit == unitBytes {
		for scale*1024 <= max && scale < 1<<60 {
			scale *= 1024
		}
	}
	m := max / scale
	if m <= 0 {
		m = 1
	}
	raw := m / 4
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, f := range []float64{1, 2, 2.5, 5, 10} {
		if f*mag >= raw {
			step = f * mag
			break
		}
	}
	if unit == unitCount && step < 1 {
		step = 1
	}
	top := math.Ceil(m/step) * step
	if top <= 0 {
		top = step
	}
	var ticks []float64
	for v := 0.0; v <= top+step/1e6; v += step {
		ticks = append(ticks, v*scale)
	}
	return ticks, top * scale
}

// timeSteps are the round steps of a time axis, in seconds.
var timeSteps = []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 3 * 3600, 6 * 3600, 12 * 3600, 86400}

// timeTicks picks round time ticks from 0 up to max seconds; the axis ends
// at max itself, so the last snapshot sits at the right edge.
func timeTicks(max float64) ([]float64, float64) {
	step := timeSteps[len(timeSteps)-1]
	for _, s := range timeSteps {
		if max/s <= 6 {
			step = s
			break
		}
	}
	if max < 1 {
		step = max / 4
	}
	var ticks []float64
	for v := 0.0; v <= max+step/1e6; v += step {
		ticks = append(ticks, v)
	}
	return ticks, max
}

// formatSpan writes seconds as a short duration: "0s", "1.5s", "45s",
// "2m30s", "2m", "1h5m".
func formatSpan(sec float64) string {
	if sec < 60 {
		return strconv.FormatFloat(math.Round(sec*10)/10, 'f', -1, 64) + "s"
	}
	t := int64(math.Round(sec))
	h, m, s := t/3600, t/60%60, t%60
	var b strings.Builder
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if s > 0 && h == 0 {
		fmt.Fprintf(&b, "%ds", s)
	}
	return b.String()
}
