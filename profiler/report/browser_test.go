package report

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leakhunt/leakhunt/profiler/snapshot"
)

// chromium finds a Chromium to drive: $LEAKHUNT_CHROMIUM, else Debian's
// chromium (apt-get install chromium) or another Chromium on PATH.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("LEAKHUNT_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium is not installed: apt-get install chromium (or set LEAKHUNT_CHROMIUM) to run the browser test")
	return ""
}

// artifactDir is where the browser test leaves its reports and
// screenshots: $LEAKHUNT_TEST_ARTIFACTS when set (kept after the test),
// else a temporary directory.
func artifactDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("LEAKHUNT_TEST_ARTIFACTS"); d != "" {
		d = filepath.Join(d, "report")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// runChromium runs headless Chromium on a local file with no network, no
// profile of its own and console messages logged to stderr.
func runChromium(t *testing.T, exe string, args ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--disable-quic", "--no-first-run", "--no-default-browser-check",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-extensions", "--hide-scrollbars", "--mute-audio",
		"--user-data-dir=" + t.TempDir(),
		"--enable-logging=stderr", "--v=0",
	}
	cmd := exec.CommandContext(ctx, exe, append(base, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", exe, err, errOut.String())
	}
	return out.String(), errOut.String()
}

// consoleLines picks the page's console messages out of Chromium's log
// ("[...:INFO:CONSOLE:12] "message", source: file:///... (12)"). The report
// logs nothing, so every one is a failure: a script error, a blocked fetch
// (a Content-Security-Policy violation), a warning.
func consoleLines(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, ":CONSOLE") || strings.Contains(l, "Uncaught") {
			out = append(out, l)
		}
	}
	return out
}

func TestHTMLInChromium(t *testing.T) {
	exe := chromium(t)
	snaps, labels := loadSeries(t)
	dir := artifactDir(t)
	tests := []struct {
		name  string
		snaps []*snapshot.Snapshot
		opts  HTMLOptions
		lines int // chart lines expected, at least
	}{
		{name: "series", snaps: snaps, opts: HTMLOptions{Labels: labels, Verdicts: fixtureVerdicts, Tool: "leakhunt test"}, lines: 4},
		{name: "one-snapshot", snaps: snaps[len(snaps)-1:], opts: HTMLOptions{Labels: labels[len(labels)-1:], VerdictNote: "one snapshot: no verdicts"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			if err := HTML(&buf, tt.snaps, tt.opts); err != nil {
				t.Fatal(err)
			}
			page := filepath.Join(dir, tt.name+".html")
			if err := os.WriteFile(page, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			url := "file://" + page
			want := strings.Count(buf.String(), `<path class="line`)
			if want < tt.lines {
				t.Fatalf("the report has %d chart lines, want at least %d", want, tt.lines)
			}

			// One run of Chromium: the DOM after load (with the page's own
			// check of its charts and its record of script errors), the
			// console messages, and a screenshot.
			shot := filepath.Join(dir, tt.name+".png")
			dom, log := runChromium(t, exe, "--window-size=1280,3600", "--screenshot="+shot, "--dump-dom", url)
			if !strings.Contains(dom, "</html>") {
				t.Fatalf("chromium gave no DOM:\n%s", log)
			}
			if strings.Contains(dom, "data-errors=") {
				t.Errorf("the page recorded script errors: %s", regexp.MustCompile(`data-errors="[^"]*"`).FindString(dom))
			}
			if c := consoleLines(log); len(c) > 0 {
				t.Errorf("the page logged to the console:\n%s", strings.Join(c, "\n"))
			}
			m := regexp.MustCompile(`data-chart-lines="(\d+) drawn, (\d+) empty"`).FindStringSubmatch(dom)
			if m == nil {
				t.Fatalf("the page's chart check did not run (no data-chart-lines on <body>)")
			}
			drawn, _ := strconv.Atoi(m[1])
			if drawn != want || m[2] != "0" {
				t.Errorf("chromium laid out %s chart lines with a size and %s empty, want %d and 0", m[1], m[2], want)
			}

			// The screenshot: kept for people, and checked for painted chart lines.
			img := readPNG(t, shot)
			blue := countNear(img, 0x1f, 0x5f, 0xbf) // the first series' colour (.s0)
			// Markers and legend swatches alone make about 200 such pixels; the
			// lines make over a thousand more.
			if tt.lines > 0 && blue < 600 {
				t.Errorf("the screenshot has %d pixels of the chart line colour, want drawn lines (600 or more)", blue)
			}
			t.Logf("report %s, screenshot %s (%dx%d, %d chart-line pixels)", page, shot, img.Bounds().Dx(), img.Bounds().Dy(), blue)
		})
	}
}

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("chromium wrote no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	return img
}

// countNear counts the pixels within a small distance of one colour.
func countNear(img image.Image, r, g, b uint8) int {
	n := 0
	bd := img.Bounds()
	near := func(a uint32, v uint8) bool { d := int(a>>8) - int(v); return d > -24 && d < 24 }
	for y := bd.Min.Y; y < bd.Max.Y; y++ {
		for x := bd.Min.X; x < bd.Max.X; x++ {
			pr, pg, pb, _ := img.At(x, y).RGBA()
			if near(pr, r) && near(pg, g) && near(pb, b) {
				n++
			}
		}
	}
	return n
}
