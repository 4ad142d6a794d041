//go:build linux && amd64

package attach

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkCaptureGraph captures the object graph of scripts/benchrefs, a
// process with a heap of 100 MB in 1 M objects (LEAKHUNT_BENCHREFS=big: 1.1
// GB in 11 M objects), held by package variables. One op is one
// CaptureGraph: stop, copy, detach, build the graph. It reports, as medians:
//
//	stopped-ms        GraphCapture.Stopped, leakhunt's own figure
//	meter-stop-ms     the longest stop the patient's stall meter saw
//	copy-ms           GraphCapture.Copying
//	copied-MB         GraphCapture.CopiedBytes
//	objects           objects in the graph
//
// scripts/bench-refs.sh runs the same patient against goref.
//
//	go test ./profiler/attach -run '^$' -bench CaptureGraph -benchtime 3x
func BenchmarkCaptureGraph(b *testing.B) {
	args := []string{"-mb", "100", "-objects", "1000000"}
	if os.Getenv("LEAKHUNT_BENCHREFS") == "big" {
		args = []string{"-mb", "1100", "-objects", "11000000"}
	}
	p := startBenchRefs(b, args...)
	var stopped, meter, copying []float64
	var copied uint64
	var objects int
	for b.Loop() {
		p.meter(b, true)
		g, c, err := CaptureGraph(context.Background(), p.pid, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		m := p.meter(b, true)
		stopped = append(stopped, float64(c.Stopped.Microseconds())/1000)
		copying = append(copying, float64(c.Copying.Microseconds())/1000)
		meter = append(meter, m.StopMS)
		copied, objects = c.CopiedBytes, len(g.Addr)
		b.StartTimer()
	}
	b.ReportMetric(median(stopped), "stopped-ms")
	b.ReportMetric(median(meter), "meter-stop-ms")
	b.ReportMetric(median(copying), "copy-ms")
	b.ReportMetric(float64(copied)/1e6, "copied-MB")
	b.ReportMetric(float64(objects), "objects")
	if objects < p.objects*9/10 {
		b.Errorf("the graph has %d objects; the patient has %d in its heap", objects, p.objects)
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	sort.Float64s(v)
	return v[len(v)/2]
}

// benchRefsProc is a running scripts/benchrefs.
type benchRefsProc struct {
	pid     int
	addr    string // the stall meter
	objects int    // runtime.MemStats.HeapObjects once the heap was built
}

// stallReport is what the patient's stall meter serves.
type stallReport struct {
	Ticks  int64   `json:"ticks"`
	StopMS float64 `json:"stop_ms"`
}

func (p *benchRefsProc) meter(b *testing.B, reset bool) stallReport {
	b.Helper()
	url := "http://" + p.addr + "/stall"
	if reset {
		url += "?reset=1"
	}
	resp, err := http.Get(url)
	if err != nil {
		b.Fatalf("read the stall meter: %v", err)
	}
	defer resp.Body.Close()
	var r stallReport
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		b.Fatalf("read the stall meter: %v", err)
	}
	return r
}

// startBenchRefs builds and starts scripts/benchrefs and waits for its heap.
// It is killed when the benchmark ends.
func startBenchRefs(b *testing.B, args ...string) *benchRefsProc {
	b.Helper()
	dir := b.TempDir()
	bin := filepath.Join(dir, "benchrefs")
	if out, err := exec.Command("go", "build", "-o", bin, "../../scripts/benchrefs").CombinedOutput(); err != nil {
		b.Fatalf("build scripts/benchrefs: %v: %s", err, out)
	}
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	pid := cmd.Process.Pid
	// No cmd.Wait while capturing (a parent's wait consumes ptrace stops):
	// poll for the zombie instead.
	done := make(chan struct{})
	go func() {
		for {
			if st := threadState(pid, pid); st == 0 || st == 'Z' || st == 'X' {
				cmd.Wait()
				close(done)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	b.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	line, err := readLine(stdout, 5*time.Minute)
	if err != nil {
		b.Fatalf("benchrefs did not start: %v", err)
	}
	go io.Copy(io.Discard, stdout)
	// ready PID ADDR HEAP_OBJECTS HEAP_BYTES METER/PRIORITY BUILD_SECONDS
	f := strings.Fields(line)
	if len(f) != 7 || f[0] != "ready" {
		b.Fatalf("benchrefs printed %q", line)
	}
	objects, err := strconv.Atoi(f[3])
	if err != nil {
		b.Fatalf("benchrefs printed %q", line)
	}
	b.Logf("benchrefs: pid %d, %s heap objects, %s bytes, meter %s", pid, f[3], f[4], f[5])
	return &benchRefsProc{pid: pid, addr: f[2], objects: objects}
}
