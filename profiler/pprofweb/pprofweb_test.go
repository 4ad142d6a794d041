package pprofweb

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"go.uber.org/goleak"
)

var kept [][]byte

// keepForPprofwebTest is the allocation site the served profile must show.
//
//go:noinline
func keepForPprofwebTest(n int) {
	for i := 0; i < n; i++ {
		kept = append(kept, make([]byte, 32<<10))
	}
}

// heapProfile is this test process's own heap profile, as runtime/pprof
// writes it, after keeping n more buffers.
func heapProfile(n int) *profile.Profile {
	keepForPprofwebTest(n)
	runtime.GC()
	var buf bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&buf, 0); err != nil {
		panic(err)
	}
	p, err := profile.Parse(&buf)
	if err != nil {
		panic(err)
	}
	return p
}

// oldHeap and newHeap are this process's heap profiles before and after
// keeping 48 buffers of 32 KiB, taken before any test runs a server (whose
// allocations would swell them: every allocation is sampled).
var oldHeap, newHeap *profile.Profile

func TestMain(m *testing.M) {
	runtime.MemProfileRate = 1
	oldHeap = heapProfile(16)
	newHeap = heapProfile(48)
	runtime.MemProfileRate = 512 << 10
	os.Exit(m.Run())
}

// serve runs Serve in the background and returns the UI's URL and a
// function that stops it and returns Serve's error.
func serve(t *testing.T, p *profile.Profile, opts Options) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	opts.Ready = func(url string) { ready <- url }
	var log bytes.Buffer
	opts.Log = &log
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, p, opts) }()
	select {
	case url := <-ready:
		return url, func() error {
			cancel()
			select {
			case err := <-done:
				return err
			case <-time.After(30 * time.Second):
				t.Fatal("Serve did not return after its context ended")
				return nil
			}
		}
	case err := <-done:
		cancel()
		t.Fatalf("Serve returned before listening: %v\n%s", err, log.String())
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("Serve did not start listening")
	}
	return "", nil
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, body)
	}
	return string(body)
}

// The driver keeps settings in package state: these tests do not run in parallel.

func TestServeHeap(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	defer http.DefaultClient.CloseIdleConnections()
	p := newHeap

	url, stop := serve(t, p, Options{Addr: "127.0.0.1:0"})
	if !strings.HasPrefix(url, "http://127.0.0.1:") || strings.HasSuffix(url, ":0") {
		t.Errorf("URL %q: want the port the system picked on 127.0.0.1", url)
	}
	// "/" is pprof's redirect to its flame graph.
	if body := get(t, url+"/"); !strings.Contains(body, "keepForPprofwebTest") {
		t.Errorf("the flame graph page does not name the allocation site")
	}
	top := get(t, url+"/top?si=inuse_space")
	if !strings.Contains(top, "keepForPprofwebTest") {
		t.Errorf("/top does not name the allocation site")
	}
	resp, err := http.Get(url + "/nothing-here")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nothing-here: %s, want 404", resp.Status)
	}
	if err := stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := http.Get(url + "/top"); err == nil {
		t.Error("the UI still answers after its context ended")
	}
	if len(p.Sample) == 0 || p.Sample[0].Value[0] < 0 {
		t.Error("Serve changed the profile it was given")
	}
}

func TestServeDiff(t *testing.T) {
	url, stop := serve(t, newHeap, Options{Base: oldHeap, SampleIndex: "inuse_space"})
	defer stop()
	top := get(t, url+"/top")
	// With -diff_base the site's row is the growth: the 48 buffers of 32 KiB
	// kept between the two profiles (and some of the slice holding them),
	// not the 64 buffers of the newer profile.
	m := regexp.MustCompile(`"Name":"[^"]*\.keepForPprofwebTest","InlineLabel":"[^"]*","Flat":(-?\d+)`).FindStringSubmatch(top)
	if m == nil {
		t.Fatalf("/top of the diff does not name the allocation site")
	}
	flat, _ := strconv.Atoi(m[1])
	if lo, hi := 48*32<<10, 49*32<<10; flat < lo || flat >= hi {
		t.Errorf("/top of the diff shows %d bytes at the site, want the growth, %d to %d", flat, lo, hi)
	}
}

func TestServeBadAddr(t *testing.T) {
	p := newHeap
	if err := Serve(context.Background(), p, Options{Addr: "nonsense"}); err == nil || !strings.Contains(err.Error(), "bad address") {
		t.Errorf("Serve with a bad address: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Serve(ctx, p, Options{}); err == nil {
		t.Error("Serve with an ended context did not fail")
	}
}

func TestHandlerLocalOnly(t *testing.T) {
	routes := map[string]http.Handler{"/top": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "top") })}
	tests := []struct {
		local  bool
		remote string
		path   string
		want   int
	}{
		{local: true, remote: "127.0.0.1:5000", path: "/top", want: http.StatusOK},
		{local: true, remote: "[::1]:5000", path: "/top", want: http.StatusOK},
		{local: true, remote: "192.0.2.7:5000", path: "/top", want: http.StatusForbidden},
		{local: false, remote: "192.0.2.7:5000", path: "/top", want: http.StatusOK},
		{local: true, remote: "127.0.0.1:5000", path: "/etc/passwd", want: http.StatusNotFound},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", tt.path, nil)
		r.RemoteAddr = tt.remote
		w := httptest.NewRecorder()
		handler(routes, tt.local).ServeHTTP(w, r)
		if w.Code != tt.want {
			t.Errorf("local=%v from %s GET %s: %d, want %d", tt.local, tt.remote, tt.path, w.Code, tt.want)
		}
	}
	for host, want := range map[string]bool{"127.0.0.1": true, "localhost": true, "::1": true, "[::1]": true, "0.0.0.0": false, "192.0.2.7": false} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v", host, got)
		}
	}
}
