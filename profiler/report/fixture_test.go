package report

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/leakhunt/leakhunt/profiler/snapshot"
	"github.com/leakhunt/leakhunt/profiler/source"
)

var makeSeries = flag.Bool("make-series", false, "capture testdata/series again from testdata/patient")

// seriesDir holds a real series: five snapshots of testdata/patient taken
// over HTTP 1.5 s apart (go test -run TestMakeSeries -make-series rewrites it).
const seriesDir = "testdata/series"

// TestMakeSeries captures the fixture series from a freshly built patient.
// It only runs with -make-series: the golden files depend on the series, so
// it changes only on purpose.
func TestMakeSeries(t *testing.T) {
	if !*makeSeries {
		t.Skip("run with -make-series to capture testdata/series again")
	}
	dir := t.TempDir()
	exe := filepath.Join(dir, "patient")
	build := exec.Command("go", "build", "-o", exe, "./testdata/patient")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build patient: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("read patient's address: %v", err)
	}
	addr := strings.TrimSpace(strings.TrimPrefix(line, "addr "))
	target, err := source.Parse("http://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(seriesDir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(seriesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		time.Sleep(1500 * time.Millisecond)
		s, err := source.Capture(ctx, target, source.Options{GC: true, Tool: "leakhunt test"})
		if err != nil {
			t.Fatal(err)
		}
		// Keep the machine out of the fixture.
		s.Target.Host, s.Target.Path, s.Target.Args = "", "/opt/patient/patient", nil
		s.Target.PID = 4242
		if err := s.Save(filepath.Join(seriesDir, fmt.Sprintf("%04d-patient.lhsnap", i)), false); err != nil {
			t.Fatal(err)
		}
	}
}

// loadSeries loads the fixture series in file order.
func loadSeries(t *testing.T) ([]*snapshot.Snapshot, []string) {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(seriesDir, "*.lhsnap"))
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatalf("no snapshots in %s (go test -run TestMakeSeries -make-series captures them)", seriesDir)
	}
	sort.Strings(names)
	var snaps []*snapshot.Snapshot
	var labels []string
	for _, n := range names {
		s, err := snapshot.Load(n)
		if err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, s)
		labels = append(labels, filepath.Base(n))
	}
	return snaps, labels
}
